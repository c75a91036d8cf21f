using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Delivery;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Sessions;

/// <summary>
/// The 1:1 Double Ratchet sessions with contacts (docs/messaging.md): starting one with X3DH from the contact's
/// published keys, encrypting content on it into an outbox envelope, and opening an inbound envelope (answering an
/// X3DH header with a new session). One session per account pair today; linked devices make it one per device pair,
/// which stays inside this class and the store's session records.
/// </summary>
internal sealed class PairwiseSessions(ChatContext context, IUserDirectory directory, IMailboxes mailboxes, Outbox outbox)
{
    /// <summary>
    /// For a contact with no session yet, does the network part of X3DH (their prekey bundle and a one-time prekey)
    /// before the transaction that encrypts; null when a session exists.
    /// </summary>
    /// <exception cref="ChatException">They have no keys in the directory, or their identity key changed.</exception>
    public async Task<SessionSetup?> PrepareAsync(ContactRecord contact, CancellationToken cancellationToken)
    {
        if (await context.Store.ReadAsync(r => r.HasSession(contact.Account), cancellationToken))
        {
            return null;
        }
        var bundle = await directory.GetPrekeysAsync(contact.Account, cancellationToken)
            ?? throw new ChatException($"{contact.Handle} has no keys in the directory; they may not have been online for a week");
        if (!bundle.Identity.DhKey.AsSpan().SequenceEqual(contact.IdentityDhKey))
        {
            throw new ChatException($"{contact.Handle}'s identity key in the directory differs from the one you know; not sending");
        }
        SignedOneTimePrekey? oneTime = null;
        try
        {
            oneTime = await mailboxes.ClaimOneTimePrekeyAsync(contact.AccountKey, cancellationToken);
        }
        catch (IOException e)
        {
            ChatLog.NoOneTimePrekey(context.Logger, e.Message);
        }
        return Start(contact, bundle.SignedPrekeyId, bundle.SignedPrekey, oneTime?.Id, oneTime?.PublicKey);
    }

    /// <summary>X3DH as the initiator, from the contact's signed prekey and, if one was claimed, a one-time prekey.</summary>
    /// <exception cref="RatchetException">A prekey of the wrong length or of low order.</exception>
    public SessionSetup Start(ContactRecord contact, uint signedPrekeyId, byte[] signedPrekey, uint? oneTimePrekeyId, byte[]? oneTimePrekey)
    {
        var initiation = X3dh.Initiate(
            context.Crypto, context.Account.PublicKey.ToProtobuf(), context.IdentityKeyPair, contact.AccountKey.ToProtobuf(), contact.IdentityDhKey, signedPrekey, oneTimePrekey ?? []);
        var session = RatchetSession.InitializeAsInitiator(context.Crypto, initiation.SharedSecret, initiation.AssociatedData, signedPrekey);
        return new SessionSetup(
            ChatContext.SessionIdOf(initiation.EphemeralPublicKey),
            session,
            new PendingPrekey(initiation.EphemeralPublicKey, signedPrekeyId, oneTimePrekeyId));
    }

    /// <summary>Encrypts a control message (receipt, accept, room control) on an existing session and queues it; false when there is none.</summary>
    public bool QueueControl(IChatTransaction tx, ContactRecord contact, Content content)
    {
        if (!tx.HasSession(contact.Account))
        {
            ChatLog.NoSessionForControl(context.Logger, contact.Account);
            return false;
        }
        Queue(tx, contact, content, null, null);
        return true;
    }

    /// <summary>Encrypts <paramref name="content"/> on the contact's current session (or the one <paramref name="setup"/> starts) and puts the envelope in the outbox.</summary>
    public void Queue(IChatTransaction tx, ContactRecord contact, Content content, byte[]? messageId, SessionSetup? setup)
    {
        var plaintext = content.ToByteArray();
        outbox.Put(tx, contact.Account, Encrypt(tx, contact, plaintext, setup), messageId, plaintext);
    }

    /// <summary>Encrypts <paramref name="content"/> on the contact's current session (or the one <paramref name="setup"/> starts), not queued; the session's new state is written in <paramref name="tx"/>.</summary>
    public Envelope Encrypt(IChatTransaction tx, ContactRecord contact, Content content, SessionSetup? setup) => Encrypt(tx, contact, content.ToByteArray(), setup);

    /// <summary>
    /// Replaces an outbox entry by its content encrypted again on the contact's current session (session repair); the
    /// new entry keeps the message it carries and its place in the order.
    /// </summary>
    public void Requeue(IChatTransaction tx, ContactRecord contact, OutboxItem item, byte[] content)
    {
        tx.DeleteOutbox(item.EnvelopeId);
        outbox.Put(tx, contact.Account, Encrypt(tx, contact, content, null), item.MessageId, content, item.CreatedAt);
    }

    /// <summary>Makes the session <paramref name="setup"/> started the one to send on next (it has not been received on).</summary>
    public void Adopt(IChatTransaction tx, ContactRecord contact, SessionSetup setup) =>
        tx.PutSession(new SessionRecord(contact.Account, setup.SessionId, setup.Session.Serialize(), setup.Prekey, DateTimeOffset.UnixEpoch, context.Now));

    private Envelope Encrypt(IChatTransaction tx, ContactRecord contact, byte[] plaintext, SessionSetup? setup)
    {
        var sessions = tx.GetSessions(contact.Account);
        SessionRecord record;
        RatchetSession session;
        if (sessions.Count > 0)
        {
            record = sessions[0];
            session = RatchetSession.Deserialize(context.Crypto, record.State);
        }
        else if (setup is not null)
        {
            record = new SessionRecord(contact.Account, setup.SessionId, [], setup.Prekey, DateTimeOffset.UnixEpoch, context.Now);
            session = setup.Session;
        }
        else
        {
            throw new InvalidOperationException("no session to encrypt on");
        }
        var ratchet = session.Encrypt(plaintext);
        tx.PutSession(record with { State = session.Serialize() });
        var envelope = new Envelope
        {
            EnvelopeId = ByteString.CopyFrom(context.RandomBytes(ChatContext.EnvelopeIdLength)),
            SenderIdentity = ByteString.CopyFrom(context.SenderIdentity),
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
        return envelope;
    }

    /// <summary>Finds or (from the X3DH header) starts the session and decrypts; the session's new state is written in <paramref name="tx"/>.</summary>
    /// <exception cref="EnvelopeRefusedException">It cannot be decrypted.</exception>
    public Content Decrypt(IChatTransaction tx, Envelope envelope, IdentityDhCertificate sender, DateTimeOffset now)
    {
        var senderId = sender.Account.ToPeerId();
        var record = tx.GetSession(senderId, envelope.SessionId.ToByteArray());
        RatchetSession session;
        PrekeyRecord? oneTime = null;
        if (record is null)
        {
            if (envelope.Prekey is not { } prekey)
            {
                throw new EnvelopeRefusedException("no session matches and the envelope carries no X3DH header", sessionUnreadable: true);
            }
            if (!ChatContext.SessionIdOf(prekey.EphemeralKey.Span).AsSpan().SequenceEqual(envelope.SessionId.Span))
            {
                throw new EnvelopeRefusedException("session id does not match the X3DH ephemeral key");
            }
            var signedPrekey = tx.GetPrekey(prekey.SignedPrekeyId, oneTime: false)
                ?? throw new EnvelopeRefusedException($"signed prekey {prekey.SignedPrekeyId} is unknown or retired", sessionUnreadable: true);
            if (prekey.HasOneTimePrekey)
            {
                oneTime = tx.GetPrekey(prekey.OneTimePrekeyId, oneTime: true)
                    ?? throw new EnvelopeRefusedException($"one-time prekey {prekey.OneTimePrekeyId} was already used or never existed", sessionUnreadable: true);
            }
            X3dhSecret secret;
            try
            {
                secret = X3dh.Respond(
                    context.Crypto,
                    context.Account.PublicKey.ToProtobuf(),
                    context.IdentityKeyPair,
                    new X25519KeyPair(signedPrekey.PrivateKey, signedPrekey.PublicKey),
                    oneTime is null ? null : new X25519KeyPair(oneTime.PrivateKey, oneTime.PublicKey),
                    sender.Account.ToProtobuf(),
                    sender.DhKey,
                    prekey.EphemeralKey.Span);
            }
            catch (RatchetException e)
            {
                throw new EnvelopeRefusedException($"bad X3DH header: {e.Message}");
            }
            session = RatchetSession.InitializeAsResponder(context.Crypto, secret.SharedSecret, secret.AssociatedData, new X25519KeyPair(signedPrekey.PrivateKey, signedPrekey.PublicKey));
            record = new SessionRecord(senderId, envelope.SessionId.ToByteArray(), [], null, now, now);
            foreach (var stale in tx.GetSessions(senderId).Skip(context.Options.MaxSessionsPerContact - 1))
            {
                tx.DeleteSession(senderId, stale.SessionId);
            }
        }
        else
        {
            session = RatchetSession.Deserialize(context.Crypto, record.State);
        }
        Content content;
        try
        {
            content = Content.Parser.ParseFrom(session.Decrypt(RatchetMessage.Parse(envelope.Ratchet.Span)));
        }
        catch (Exception e) when (e is RatchetException or FormatException or InvalidProtocolBufferException)
        {
            // Only the failures a stale or lost session causes are worth a reset; garbage is not.
            var unreadable = e is RatchetException { Reason: RatchetFailure.AuthenticationFailed or RatchetFailure.Replayed or RatchetFailure.TooManySkipped };
            throw new EnvelopeRefusedException($"cannot decrypt: {e.Message}", unreadable);
        }
        if (oneTime is not null)
        {
            // Used once: deleting it is what gives the first messages forward secrecy against a later key theft.
            tx.DeletePrekey(oneTime.Id, oneTime: true);
        }
        // Having heard on this session, we no longer send the X3DH header on it.
        tx.PutSession(record with { State = session.Serialize(), Prekey = null, LastReceivedAt = now });
        return content;
    }
}

/// <summary>The network part of X3DH, done before the transaction that encrypts the first message on the session.</summary>
internal sealed record SessionSetup(byte[] SessionId, RatchetSession Session, PendingPrekey Prekey);
