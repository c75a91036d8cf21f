using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Delivery;
using Parley.Chat.Devices;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Inbound;

/// <summary>
/// Empties our mailbox: every envelope in it is opened and received like a direct one, what arrived is acknowledged
/// to its senders (delivered receipts, batched per sender), and everything handled is deleted from the mailbox.
/// </summary>
internal sealed class MailboxFetcher(ChatContext context, IMailboxes mailboxes, EnvelopeReceiver receiver, PairwiseSessions sessions, Outbox outbox, AccountDevices devices)
{
    /// <summary>The most recent fetch, for status displays; null before the first.</summary>
    public MailboxPass? LastPass { get; private set; }

    /// <summary>Empties every mailbox this device reads: the account's on its first device, a linked device's own (docs/devices.md).</summary>
    public async Task<MailboxPass> FetchAsync(CancellationToken cancellationToken)
    {
        var pass = new MailboxPass(0, 0, 0);
        foreach (var owner in await devices.MailboxesToReadAsync(cancellationToken))
        {
            var one = await FetchAsync(owner, cancellationToken);
            pass = new MailboxPass(pass.Processed + one.Processed, pass.NodesAnswered + one.NodesAnswered, pass.NodesAsked + one.NodesAsked);
        }
        LastPass = pass;
        return pass;
    }

    private async Task<MailboxPass> FetchAsync(IdentityKey owner, CancellationToken cancellationToken)
    {
        MailboxFetchResult fetched;
        try
        {
            fetched = await mailboxes.FetchAsync(owner, cancellationToken);
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            ChatLog.MailboxFetchFailed(context.Logger, e.Message);
            return new MailboxPass(0, 0, 0);
        }
        var processed = 0;
        var acknowledgements = new Dictionary<PeerId, List<byte[]>>();
        var opened = new List<Envelope>();
        foreach (var item in fetched.Envelopes)
        {
            Envelope envelope;
            try
            {
                envelope = Envelope.Parser.ParseFrom(SealedBox.Open(context.Crypto, context.IdentityKeyPair, item.Envelope));
            }
            catch (Exception e) when (e is SealedBoxException or FormatException or InvalidProtocolBufferException)
            {
                ChatLog.MailboxEnvelopeNotOurs(context.Logger, e.Message);
                continue;
            }
            if (!envelope.EnvelopeId.Span.SequenceEqual(item.EnvelopeId))
            {
                ChatLog.MailboxEnvelopeIdMismatch(context.Logger);
                continue;
            }
            opened.Add(envelope);
        }
        // File chunks last: a chunk is taken only once its manifest (a message) is in (docs/files.md).
        foreach (var envelope in opened.Where(e => e.FileChunk is null).Concat(opened.Where(e => e.FileChunk is not null)))
        {
            var outcome = await receiver.ReceiveAsync(envelope, cancellationToken);
            if (outcome.Status == ReceiveStatus.Accepted)
            {
                processed++;
            }
            if (outcome.Acknowledge is { } acknowledge)
            {
                (acknowledgements.TryGetValue(acknowledge.Sender, out var ids) ? ids : acknowledgements[acknowledge.Sender] = []).Add(acknowledge.MessageId);
            }
        }
        if (acknowledgements.Count > 0)
        {
            await context.Store.TransactAsync(tx =>
            {
                foreach (var (sender, ids) in acknowledgements)
                {
                    if (tx.GetContact(sender) is { State: not ContactState.Blocked } contact)
                    {
                        sessions.QueueControl(tx, contact, Receipts.Make(Protos.Receipt.Types.Kind.Delivered, ids));
                    }
                }
                return true;
            }, cancellationToken);
            outbox.Wake();
        }
        if (fetched.Envelopes.Count > 0)
        {
            // Everything fetched was handled (stored, a duplicate, or refused for good): the mailbox need not keep it.
            try
            {
                await mailboxes.DeleteAsync(owner, fetched.Envelopes.Select(e => e.EnvelopeId).ToList(), cancellationToken);
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                ChatLog.MailboxDeleteFailed(context.Logger, e.Message);
            }
        }
        return new MailboxPass(processed, fetched.NodesAnswered, fetched.NodesAsked);
    }
}
