using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Delivery;
using Parley.Chat.Devices;
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
/// X3DH header with a new session). One session per account pair for a single-device account; for an account with
/// linked devices one per device pair (docs/devices.md): an envelope goes to each of its devices (<see cref="DeviceFanout"/>),
/// and what we send a contact goes as a sync copy to our other devices.
/// </summary>
internal sealed class PairwiseSessions(ChatContext context, IUserDirectory directory, IMailboxes mailboxes, Outbox outbox, DeviceFanout fanout)
{
    /// <summary>
    /// For a contact with no session yet, does the network part of X3DH (their prekey bundle and a one-time prekey)
    /// before the transaction that encrypts; null when a session exists.
    /// </summary>
    /// <exception cref="ChatException">They have no keys in the directory, or their identity key changed.</exception>
    public Task<SessionSetup?> PrepareAsync(ContactRecord contact, CancellationToken cancellationToken) =>
        PrepareAsync(contact, null, cancellationToken);

    /// <param name="bundle">Their prekey bundle when it was just fetched (to find them); fetched here otherwise.</param>
    public async Task<SessionSetup?> PrepareAsync(ContactRecord contact, PrekeyBundle? bundle, CancellationToken cancellationToken)
    {
        if (await context.Store.ReadAsync(r => r.HasSession(contact.Account), cancellationToken))
        {
            return null;
        }
        bundle ??= await directory.GetPrekeysAsync(contact.Account, cancellationToken)
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
        var ourDevice = await context.Store.ReadAsync(OurDeviceKey, cancellationToken);
        return Start(contact, bundle.SignedPrekeyId, bundle.SignedPrekey, oneTime?.Id, oneTime?.PublicKey, ourDevice);
    }

    /// <summary>Our device key, bound into the sessions we start, once our envelopes name our device (the account has a list).</summary>
    public PublicKey? OurDeviceKey(IChatReader reader) => fanout.SenderDevice(reader) is null ? null : fanout.ThisDevice.Device;

    /// <summary>X3DH as the initiator, from the contact's signed prekey and, if one was claimed, a one-time prekey.</summary>
    /// <exception cref="RatchetException">A prekey of the wrong length or of low order.</exception>
    /// <param name="ourDevice">Our device key when our envelopes name it (our account has a device list): bound into the session.</param>
    public SessionSetup Start(ContactRecord contact, uint signedPrekeyId, byte[] signedPrekey, uint? oneTimePrekeyId, byte[]? oneTimePrekey, PublicKey? ourDevice = null)
    {
        var initiation = X3dh.Initiate(
            context.Crypto, context.Account.PublicKey.ToProtobuf(), context.IdentityKeyPair, contact.AccountKey.ToProtobuf(), contact.IdentityDhKey, signedPrekey, oneTimePrekey ?? []);
        var associatedData = ourDevice is null ? initiation.AssociatedData : X3dh.WithInitiatorDevice(initiation.AssociatedData, ourDevice.ToProtobuf());
        var session = RatchetSession.InitializeAsInitiator(context.Crypto, initiation.SharedSecret, associatedData, signedPrekey);
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
    /// <remarks>
    /// To a contact with linked devices: one envelope per device we have a session with (the others were prepared by
    /// <see cref="DeviceSessions"/> or get nothing of this); a message also goes as a sync copy to our other devices.
    /// </remarks>
    public void Queue(IChatTransaction tx, ContactRecord contact, Content content, byte[]? messageId, SessionSetup? setup)
    {
        var plaintext = content.ToByteArray();
        if (fanout.TargetsOf(tx, contact.Account) is not { } devices)
        {
            outbox.Put(tx, contact.Account, Encrypt(tx, contact, null, plaintext, setup), messageId, plaintext);
        }
        else
        {
            QueueToDevices(tx, contact, devices, plaintext, messageId, setup);
        }
        if (contact.Account != context.Account.Id && DeviceFanout.SyncCopyOf(contact, content) is { } copy && fanout.OwnOtherDevices(tx) is { Count: > 0 } own)
        {
            // Not tied to the message: our own device having it says nothing of its delivery to the contact.
            QueueToDevices(tx, fanout.Self(), own, copy.ToByteArray(), null, null);
        }
    }

    /// <summary>Encrypts <paramref name="plaintext"/> (a <see cref="Content"/>) for each of <paramref name="devices"/> we have a session with and queues it.</summary>
    public void QueueToDevices(IChatTransaction tx, ContactRecord contact, IReadOnlyList<DeviceTarget> devices, byte[] plaintext, byte[]? messageId, SessionSetup? setup)
    {
        var sessions = tx.GetSessions(contact.Account);
        foreach (var device in devices)
        {
            // A setup from the account route starts a session with the device holding the account's records.
            if (sessions.Any(device.Owns) || (device.IsFirst && setup is not null))
            {
                outbox.Put(tx, contact.Account, Encrypt(tx, contact, device, plaintext, device.IsFirst ? setup : null), messageId, plaintext, device: device.Device);
            }
            else
            {
                ChatLog.NoSessionWithDevice(context.Logger, contact.Account, device.Device);
            }
        }
    }

    /// <summary>True when <see cref="Encrypt(IChatTransaction, ContactRecord, Content, SessionSetup?)"/> has a session to encrypt on: any with a
    /// single-device contact, one with the first device of a linked contact; with <paramref name="device"/>, one with that device.</summary>
    public bool CanEncrypt(IChatReader reader, ContactRecord contact, DeviceTarget? device = null) =>
        (device ?? fanout.TargetsOf(reader, contact.Account)?.FirstOrDefault(t => t.IsFirst)) is { } target
            ? reader.GetSessions(contact.Account).Any(target.Owns)
            : reader.HasSession(contact.Account);

    /// <summary>Encrypts <paramref name="content"/> on the contact's current session (or the one <paramref name="setup"/> starts), not queued; the session's new state is written in <paramref name="tx"/>.</summary>
    public Envelope Encrypt(IChatTransaction tx, ContactRecord contact, Content content, SessionSetup? setup) => Encrypt(tx, contact, null, content.ToByteArray(), setup);

    /// <summary>Encrypts <paramref name="content"/> on the session with one device of a linked contact (null: the account route), not queued.</summary>
    public Envelope Encrypt(IChatTransaction tx, ContactRecord contact, DeviceTarget? device, Content content) => Encrypt(tx, contact, device, content.ToByteArray(), null);

    /// <summary>The devices of a linked contact, each on its own session (docs/devices.md); null: the account route.</summary>
    public IReadOnlyList<DeviceTarget>? DevicesOf(IChatReader reader, PeerId account) => fanout.TargetsOf(reader, account);

    /// <summary>
    /// Replaces an outbox entry by its content encrypted again on the contact's current session (session repair); the
    /// new entry keeps the message it carries and its place in the order.
    /// </summary>
    public void Requeue(IChatTransaction tx, ContactRecord contact, OutboxItem item, byte[] content)
    {
        tx.DeleteOutbox(item.EnvelopeId);
        var device = item.Device is { } id ? fanout.TargetsOf(tx, contact.Account)?.FirstOrDefault(t => t.Device == id) : null;
        if (item.Device is not null && device is null)
        {
            // The device left the list meanwhile: it gets nothing more.
            return;
        }
        outbox.Put(tx, contact.Account, Encrypt(tx, contact, device, content, null), item.MessageId, content, item.CreatedAt, device: item.Device);
    }

    /// <summary>Makes the session <paramref name="setup"/> started the one to send on next (it has not been received on).</summary>
    public void Adopt(IChatTransaction tx, ContactRecord contact, SessionSetup setup, PeerId? device = null) =>
        tx.PutSession(new SessionRecord(contact.Account, setup.SessionId, setup.Session.Serialize(), setup.Prekey, DateTimeOffset.UnixEpoch, context.Now, device));

    /// <param name="device">The device it goes to; null: the account route (any session with the contact).</param>
    private Envelope Encrypt(IChatTransaction tx, ContactRecord contact, DeviceTarget? device, byte[] plaintext, SessionSetup? setup)
    {
        // The account route of a linked contact reaches the device holding the account's records: its sessions only.
        device ??= fanout.TargetsOf(tx, contact.Account)?.FirstOrDefault(t => t.IsFirst);
        var sessions = device is null ? tx.GetSessions(contact.Account) : tx.GetSessions(contact.Account).Where(device.Owns).ToList();
        SessionRecord record;
        RatchetSession session;
        if (sessions.Count > 0)
        {
            record = sessions[0];
            session = RatchetSession.Deserialize(context.Crypto, record.State);
        }
        else if (setup is not null)
        {
            record = new SessionRecord(contact.Account, setup.SessionId, [], setup.Prekey, DateTimeOffset.UnixEpoch, context.Now, device?.Device);
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
        if (fanout.SenderDevice(tx) is { } ourDevice)
        {
            envelope.SenderDevice = ByteString.CopyFrom(ourDevice);
        }
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
    /// <param name="senderDevice">The sender's device the envelope names (checked by <see cref="DeviceFanout.CheckSenderAsync"/>), if any.</param>
    public Content Decrypt(IChatTransaction tx, Envelope envelope, IdentityDhCertificate sender, DateTimeOffset now, DeviceCertificate? senderDevice = null)
    {
        var senderId = sender.Account.ToPeerId();
        var record = tx.GetSession(senderId, envelope.SessionId.ToByteArray());
        if (record?.Device is { } device && device != senderDevice?.DeviceId)
        {
            throw new EnvelopeRefusedException("the session belongs to another device of the sender");
        }
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
            // The session is the named device's: a copy naming another device cannot be decrypted on it.
            var associatedData = senderDevice is null ? secret.AssociatedData : X3dh.WithInitiatorDevice(secret.AssociatedData, senderDevice.Device.ToProtobuf());
            session = RatchetSession.InitializeAsResponder(context.Crypto, secret.SharedSecret, associatedData, new X25519KeyPair(signedPrekey.PrivateKey, signedPrekey.PublicKey));
            record = new SessionRecord(senderId, envelope.SessionId.ToByteArray(), [], null, now, now, senderDevice?.DeviceId);
            foreach (var stale in tx.GetSessions(senderId).Where(s => s.Device == record.Device).Skip(context.Options.MaxSessionsPerContact - 1))
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
