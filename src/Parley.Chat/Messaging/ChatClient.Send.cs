using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Parley.Chat.Crypto;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Chat.Mailbox;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Messaging;

public sealed partial class ChatClient
{
    /// <summary>
    /// Sends <paramref name="text"/> to a contact, or to someone found in the directory by handle ("bob#tag") or by a
    /// name only one user holds. The message is encrypted and queued in one transaction before this returns; delivery
    /// goes on in the background (or in <see cref="FlushOutboxAsync"/>), and state changes are raised as events.
    /// The first message to someone new is a contact request.
    /// </summary>
    /// <exception cref="ChatException">The text is empty or too long, the recipient cannot be found or has no keys published, or is blocked.</exception>
    public async Task<MessageRecord> SendAsync(string recipient, string text, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ChatException("an empty message is not sent");
        }
        if (Utf8Length(text) > _options.MaxTextBytes)
        {
            throw new ChatException($"the message is {Utf8Length(text)} bytes; at most {_options.MaxTextBytes} fit");
        }
        // One read for the usual case: a known contact with a session.
        var (known, hasSession) = await _store.ReadAsync(r =>
        {
            var found = FindContact(r, recipient);
            return (found, found is not null && r.HasSession(found.Account));
        }, cancellationToken);
        var contact = known ?? await DiscoverAsync(recipient, cancellationToken);
        switch (contact.State)
        {
            case ContactState.Blocked:
                throw new ChatException($"you blocked {contact.Handle}; they cannot be written to");
            case ContactState.Pending:
                // Answering a request accepts it, as in other messengers.
                contact = await AcceptAsync(contact, cancellationToken);
                break;
            case ContactState.GroupPeer:
                // Someone known from a room: writing to them 1:1 asks them first, as with anyone new.
                contact = contact with { State = ContactState.Requested };
                await _store.TransactAsync(tx =>
                {
                    tx.PutContact(contact);
                    return true;
                }, cancellationToken);
                break;
        }
        var setup = hasSession ? null : await PrepareSessionAsync(contact, cancellationToken);
        var sent = await _store.TransactAsync(tx =>
        {
            var conversation = ConversationIds.Direct(Account.Id, contact.Account);
            var (lamport, heads) = tx.GetConversationClock(conversation);
            var now = _time.GetUtcNow();
            var content = new Content
            {
                MessageId = ByteString.CopyFrom(RandomBytes(MessageIdLength)),
                ConversationId = ByteString.CopyFrom(conversation),
                Lamport = lamport + 1,
                SentUnixMs = now.ToUnixTimeMilliseconds(),
            };
            content.Parents.AddRange(heads.Select(ByteString.CopyFrom));
            // Only a contact we are asking may still need its request: only then is its current state read again.
            var current = contact.State == ContactState.Requested ? tx.GetContact(contact.Account) ?? contact : contact;
            var isRequest = current.State == ContactState.Requested && tx.GetSetting(RequestSentSetting(current.Account)) is null;
            if (isRequest)
            {
                content.ContactRequest = new ContactRequest { SenderName = _name, Text = text, MailboxToken = ByteString.CopyFrom(current.OurMailboxToken) };
                tx.PutSetting(RequestSentSetting(current.Account), [1]);
            }
            else
            {
                content.Text = new Text { Body = text };
            }
            var message = new MessageRecord(
                content.MessageId.ToByteArray(), conversation, Account.Id, MessageDirection.Outgoing, content.Lamport, heads, text,
                DeliveryState.Queued, 0, now, now, isRequest, Unread: false);
            tx.InsertMessage(message);
            tx.AdvanceConversation(conversation, current.Account, content.Lamport, message.Id);
            Queue(tx, current, content, message.Id, setup);
            return message;
        }, cancellationToken);
        WakeOutbox();
        return sent;
    }

    /// <summary>Makes one attempt at every envelope due in the outbox; returns how many left it (delivered or given up).</summary>
    public async Task<int> FlushOutboxAsync(CancellationToken cancellationToken)
    {
        await _outboxPass.WaitAsync(cancellationToken);
        try
        {
            await SyncScheduledRoomsAsync(cancellationToken);
            return await DeliverDueAsync(cancellationToken);
        }
        finally
        {
            _outboxPass.Release();
        }
    }

    /// <summary>Envelopes still in the outbox (undelivered messages and receipts); with <paramref name="unsentOnly"/>, only those no node holds yet.</summary>
    public Task<int> CountOutboxAsync(CancellationToken cancellationToken, bool unsentOnly = false) =>
        _store.ReadAsync(r => r.CountOutbox(unsentOnly ? OutboxStage.Sending : null), cancellationToken);

    private static string RequestSentSetting(PeerId contact) => $"request-sent/{contact}";

    private async Task<ContactRecord> AcceptAsync(ContactRecord contact, CancellationToken cancellationToken)
    {
        var accepted = await _store.TransactAsync(tx =>
        {
            var current = tx.GetContact(contact.Account) ?? contact;
            var updated = current with { State = ContactState.Accepted, OurMailboxToken = current.OurMailboxToken ?? RandomBytes(MailboxTokenLength) };
            tx.PutContact(updated);
            return updated;
        }, cancellationToken);
        // The mailbox nodes learn the new token before the contact can use it.
        await PublishMailboxPolicyAsync(cancellationToken);
        var setup = await PrepareSessionAsync(accepted, cancellationToken);
        await _store.TransactAsync(tx =>
        {
            Queue(tx, accepted, new Content { ContactAccept = new ContactAccept { MailboxToken = ByteString.CopyFrom(accepted.OurMailboxToken) } }, null, setup);
            return true;
        }, cancellationToken);
        RaiseContactChanged(accepted);
        WakeOutbox();
        return accepted;
    }

    /// <summary>Finds a user in the directory and adds them as a contact we are asking to talk to.</summary>
    private async Task<ContactRecord> DiscoverAsync(string recipient, CancellationToken cancellationToken)
    {
        var matches = await FindAsync(recipient, cancellationToken);
        var match = matches.Count switch
        {
            0 => throw new ChatException($"nobody called {recipient} was found in the directory"),
            1 => matches[0],
            _ => throw new ChatException($"several users are called {recipient}: {string.Join(", ", matches.Select(m => m.Handle))}; say which"),
        };
        if (match.Account.Equals(Account.PublicKey))
        {
            throw new ChatException("that is you");
        }
        var bundle = await _directory.GetPrekeysAsync(match.Account.ToPeerId(), cancellationToken)
            ?? throw new ChatException($"{match.Handle} has no keys in the directory; they may not have been online for a week");
        var contact = new ContactRecord(
            match.Account.ToPeerId(), match.Account, bundle.Identity.DhKey, match.Handle.Name, ContactState.Requested,
            TheirMailboxToken: null, OurMailboxToken: RandomBytes(MailboxTokenLength), _time.GetUtcNow());
        contact = await _store.TransactAsync(tx =>
        {
            if (tx.GetContact(contact.Account) is { } existing)
            {
                return existing;
            }
            tx.PutContact(contact);
            return contact;
        }, cancellationToken);
        // Their replies may come to our mailbox with the token our request carries.
        await PublishMailboxPolicyAsync(cancellationToken);
        RaiseContactChanged(contact);
        return contact;
    }

    /// <summary>
    /// For a contact with no session yet, does the network part of X3DH (their prekey bundle and a one-time prekey)
    /// before the transaction that encrypts; null when a session exists.
    /// </summary>
    private async Task<SessionSetup?> PrepareSessionAsync(ContactRecord contact, CancellationToken cancellationToken)
    {
        if (await _store.ReadAsync(r => r.HasSession(contact.Account), cancellationToken))
        {
            return null;
        }
        var bundle = await _directory.GetPrekeysAsync(contact.Account, cancellationToken)
            ?? throw new ChatException($"{contact.Handle} has no keys in the directory; they may not have been online for a week");
        if (!bundle.Identity.DhKey.AsSpan().SequenceEqual(contact.IdentityDhKey))
        {
            throw new ChatException($"{contact.Handle}'s identity key in the directory differs from the one you know; not sending");
        }
        SignedOneTimePrekey? oneTime = null;
        try
        {
            oneTime = await _mailbox.ClaimOneTimePrekeyAsync(contact.AccountKey, cancellationToken);
        }
        catch (IOException e)
        {
            _logger.LogInformation("no one-time prekey for {Contact}: {Reason}", contact.Handle, e.Message);
        }
        var initiation = X3dh.Initiate(
            _crypto, Account.PublicKey.ToProtobuf(), IdentityKeyPair, contact.AccountKey.ToProtobuf(), contact.IdentityDhKey, bundle.SignedPrekey, oneTime?.PublicKey ?? []);
        var session = RatchetSession.InitializeAsInitiator(_crypto, initiation.SharedSecret, initiation.AssociatedData, bundle.SignedPrekey);
        return new SessionSetup(
            SessionIdOf(initiation.EphemeralPublicKey),
            session,
            new PendingPrekey(initiation.EphemeralPublicKey, bundle.SignedPrekeyId, oneTime?.Id));
    }

    /// <summary>Encrypts a control message (receipt, accept) to a contact on an existing session and queues it.</summary>
    private void QueueControl(IChatTransaction tx, ContactRecord contact, Content content)
    {
        if (!tx.HasSession(contact.Account))
        {
            _logger.LogDebug("no session with {Contact}; control message not sent", contact.Handle);
            return;
        }
        Queue(tx, contact, content, null, null);
    }

    /// <summary>Encrypts <paramref name="content"/> on the contact's current session (or the one <paramref name="setup"/> starts) and puts the envelope in the outbox.</summary>
    private void Queue(IChatTransaction tx, ContactRecord contact, Content content, byte[]? messageId, SessionSetup? setup)
    {
        var now = _time.GetUtcNow();
        var sessions = tx.GetSessions(contact.Account);
        SessionRecord record;
        RatchetSession session;
        if (sessions.Count > 0)
        {
            record = sessions[0];
            session = RatchetSession.Deserialize(_crypto, record.State);
        }
        else if (setup is not null)
        {
            record = new SessionRecord(contact.Account, setup.SessionId, [], setup.Prekey, DateTimeOffset.UnixEpoch, now);
            session = setup.Session;
        }
        else
        {
            throw new InvalidOperationException("no session to encrypt on");
        }
        var ratchet = session.Encrypt(content.ToByteArray());
        tx.PutSession(record with { State = session.Serialize() });
        var envelope = new Envelope
        {
            EnvelopeId = ByteString.CopyFrom(RandomBytes(EnvelopeIdLength)),
            SenderIdentity = ByteString.CopyFrom(_senderIdentity),
            SessionId = ByteString.CopyFrom(record.SessionId),
            Ratchet = ByteString.CopyFrom(ratchet.ToBytes()),
        };
        if (record.Prekey is { } prekey)
        {
            envelope.Prekey = new PrekeyHeader
            {
                EphemeralKey = ByteString.CopyFrom(prekey.EphemeralKey),
                SignedPrekeyId = prekey.SignedPrekeyId,
                HasOneTimePrekey = prekey.OneTimePrekeyId is not null,
                OneTimePrekeyId = prekey.OneTimePrekeyId ?? 0,
            };
        }
        tx.PutOutbox(new OutboxItem(envelope.EnvelopeId.ToByteArray(), contact.Account, messageId, envelope.ToByteArray(), OutboxStage.Sending, 0, now, now));
    }

    private sealed record SessionSetup(byte[] SessionId, RatchetSession Session, PendingPrekey Prekey);
}
