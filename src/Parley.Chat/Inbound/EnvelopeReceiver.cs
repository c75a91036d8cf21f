using System.Collections.Concurrent;
using Parley.Chat.Actions;
using Parley.Chat.Contacts;
using Parley.Chat.Delivery;
using Parley.Chat.Groups;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Rooms;
using Parley.Chat.Rooms.Controls;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Inbound;

/// <summary>
/// Every inbound envelope, whether it came directly or from the mailbox: dropped when seen before, decrypted on its
/// session, checked and stored in one transaction, then its events raised. A refused envelope changes nothing (not
/// even the seen-list, so a forged copy cannot shadow the real one). Only a room control takes the rooms' lock.
/// </summary>
internal sealed class EnvelopeReceiver(
    ChatContext context,
    PairwiseSessions sessions,
    DirectContentHandler direct,
    DirectActions actions,
    LiveStatus live,
    RoomControls roomControls,
    RoomMessages roomMessages,
    RoomCache rooms,
    RoomEngine roomEngine,
    Outbox outbox,
    SessionRepair repair,
    Files.FileInbox files,
    Devices.DeviceFanout fanout,
    Devices.SentCopies copies,
    Devices.DeviceSyncNotes syncNotes)
{
    /// <summary>Senders whose last envelope was a room control (see <see cref="ReceivePairwiseAsync"/>); at most one entry per contact.</summary>
    private readonly ConcurrentDictionary<PeerId, byte> _roomPeers = new();

    public async Task<ReceiveOutcome> ReceiveAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        var puts = outbox.Puts;
        var outcome = envelope.GroupMessage.Length > 0 ? await roomMessages.ReceiveAsync(envelope, cancellationToken)
            : envelope.FileChunk is not null ? await files.ReceiveChunkAsync(envelope, cancellationToken)
            : await ReceivePairwiseAsync(envelope, cancellationToken);
        if (outcome.Status == ReceiveStatus.Refused)
        {
            ChatLog.EnvelopeRefused(context.Logger, Convert.ToHexStringLower(envelope.EnvelopeId.Span), outcome.Reason ?? "");
        }
        else if (outcome.Status == ReceiveStatus.Accepted)
        {
            // Receiving may have queued something: an answer to a room control, a fetch, a sender key. A plain message
            // queues nothing, and then costs no outbox pass (two reads and a thread hop on every message received).
            outbox.WakeIfPutSince(puts);
        }
        return outcome;
    }

    /// <summary>Forgets seen-envelope ids old enough that no mailbox still holds their envelopes.</summary>
    public Task ForgetOldEnvelopesAsync(CancellationToken cancellationToken) =>
        context.Store.TransactAsync(tx =>
        {
            tx.ForgetSeenEnvelopes(context.Now - context.Options.OutboxLifetime - TimeSpan.FromDays(1));
            return true;
        }, cancellationToken);

    private async Task<ReceiveOutcome> ReceivePairwiseAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        IdentityDhCertificate sender;
        try
        {
            CheckShape(envelope);
            sender = IdentityDhCertificate.Parse(envelope.SenderIdentity.Span);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or System.Security.Cryptography.CryptographicException)
        {
            return new ReceiveOutcome(ReceiveStatus.Refused, $"bad sender identity or envelope: {e.Message}");
        }
        DeviceCertificate? device;
        try
        {
            // A sync copy from another device of ours names it; any other envelope claiming to be ours is refused.
            device = await fanout.CheckSenderAsync(sender, envelope, cancellationToken);
        }
        catch (EnvelopeRefusedException e)
        {
            return new ReceiveOutcome(ReceiveStatus.Refused, e.Message);
        }
        var now = context.Now;
        var events = new List<Action>();
        var followUps = new HashSet<Id256>();
        ReceiveOutcome? outcome = null;
        var senderId = sender.Account.ToPeerId();
        try
        {
            // A room control changes rooms held in memory, so it is received under the rooms' lock; plain 1:1 messages
            // never wait for rooms. What a sender sent last predicts what comes next: after a room control, the next
            // envelope from that sender is received under the lock at once, instead of being decrypted, found to be a
            // room control, rolled back (the ratchet included) and received again.
            if (!_roomPeers.ContainsKey(senderId))
            {
                try
                {
                    outcome = await context.Store.TransactAsync(tx => Apply(tx, envelope, sender, device, now, events, followUps, roomsLocked: false), cancellationToken);
                }
                catch (RoomLockNeededException)
                {
                    events.Clear();
                }
            }
            if (outcome is null)
            {
                var roomControl = false;
                outcome = await rooms.LockedAsync(
                    () => context.Store.TransactAsync(tx => Apply(tx, envelope, sender, device, now, events, followUps, roomsLocked: true, wasRoomControl: () => roomControl = true), cancellationToken),
                    cancellationToken);
                if (roomControl)
                {
                    _roomPeers[senderId] = 0;
                }
                else
                {
                    _roomPeers.TryRemove(senderId, out _);
                }
            }
        }
        catch (EnvelopeRefusedException e)
        {
            if (e.SessionUnreadable && device?.Account.Equals(context.Account.PublicKey) != true)
            {
                await repair.AskAsync(sender, envelope, cancellationToken);
            }
            return new ReceiveOutcome(ReceiveStatus.Refused, e.Message);
        }
        foreach (var raise in events)
        {
            raise();
        }
        if (followUps.Count > 0)
        {
            roomEngine.ScheduleSync(followUps);
        }
        return outcome;
    }

    private ReceiveOutcome Apply(
        IChatTransaction tx, Envelope envelope, IdentityDhCertificate sender, DeviceCertificate? device, DateTimeOffset now, List<Action> events, HashSet<Id256> followUps, bool roomsLocked, Action? wasRoomControl = null)
    {
        // Recorded first; a refusal rolls it back with everything else.
        if (!tx.MarkEnvelopeSeen(envelope.EnvelopeId.ToByteArray(), now))
        {
            return new ReceiveOutcome(ReceiveStatus.Duplicate);
        }
        var senderId = sender.Account.ToPeerId();
        var contact = tx.GetContact(senderId);
        if (contact is { State: ContactState.Blocked })
        {
            return new ReceiveOutcome(ReceiveStatus.Dropped);
        }
        if (contact is not null && !contact.IdentityDhKey.AsSpan().SequenceEqual(sender.DhKey))
        {
            throw new EnvelopeRefusedException("the sender's identity key differs from the one known for them");
        }
        if (envelope.SessionReset is not null)
        {
            repair.Apply(tx, envelope, sender, contact, events);
            return new ReceiveOutcome(ReceiveStatus.Accepted);
        }
        var content = sessions.Decrypt(tx, envelope, sender, now, device);
        var fromOwnDevice = senderId == context.Account.Id;
        var syncOnly = content.BodyCase is Content.BodyOneofCase.SentCopy or Content.BodyOneofCase.DeviceSync;
        if (fromOwnDevice ? !syncOnly && content.BodyCase != Content.BodyOneofCase.Group : syncOnly)
        {
            throw new EnvelopeRefusedException("a sync copy or note comes only from another device of ours, and nothing else does but a room control");
        }
        switch (content.BodyCase)
        {
            case Content.BodyOneofCase.SentCopy:
                return copies.Apply(tx, content.SentCopy, now, events);
            case Content.BodyOneofCase.DeviceSync:
                return syncNotes.Apply(tx, content.DeviceSync, events);
            case Content.BodyOneofCase.Group:
                if (!roomsLocked)
                {
                    throw new RoomLockNeededException();
                }
                wasRoomControl?.Invoke();
                if (fromOwnDevice)
                {
                    // Our other device keeps this one's rooms in step (docs/devices.md, "Rooms").
                    contact = fanout.Self();
                }
                else if (contact is null)
                {
                    contact = new ContactRecord(senderId, sender.Account, sender.DhKey, ContactBook.UnknownName, ContactState.GroupPeer, null, context.RandomBytes(ChatContext.MailboxTokenLength), now);
                    tx.PutContact(contact);
                }
                roomControls.Apply(tx, content.Group, contact, now, events, followUps);
                return new ReceiveOutcome(ReceiveStatus.Accepted);
            case Content.BodyOneofCase.Text or Content.BodyOneofCase.ContactRequest:
                return direct.ApplyText(tx, content, sender, contact, now, events);
            case Content.BodyOneofCase.ContactAccept:
                return direct.ApplyAccept(tx, content.ContactAccept, contact, events);
            case Content.BodyOneofCase.Receipt:
                return direct.ApplyReceipt(tx, content.Receipt, senderId, contact, events, device?.DeviceId);
            case Content.BodyOneofCase.File:
                return files.ApplyManifest(tx, content, sender, contact, now, events);
            case Content.BodyOneofCase.FileReceived:
                return files.ApplyReceived(tx, content.FileReceived, senderId, events);
            case Content.BodyOneofCase.Edit or Content.BodyOneofCase.Deletion or Content.BodyOneofCase.Reaction:
                return actions.Apply(tx, content, senderId, contact, now, events);
            case Content.BodyOneofCase.Typing or Content.BodyOneofCase.Presence:
                return live.Apply(tx, content, contact, now, events);
            default:
                throw new EnvelopeRefusedException($"content of unknown kind {content.BodyCase}");
        }
    }

    private static void CheckShape(Envelope envelope)
    {
        if (envelope.EnvelopeId.Length != ChatContext.EnvelopeIdLength)
        {
            throw new InvalidDataException("envelope id is not 16 bytes");
        }
        if (envelope.SessionReset is null && envelope.SessionId.Length != ChatContext.SessionIdLength)
        {
            throw new InvalidDataException("session id is not 8 bytes");
        }
        if (envelope.Prekey is { } prekey && prekey.EphemeralKey.Length != 32)
        {
            throw new InvalidDataException("ephemeral key is not 32 bytes");
        }
    }

    /// <summary>Rolls a receive transaction back so that it runs again under the rooms' lock.</summary>
    private sealed class RoomLockNeededException : Exception;
}
