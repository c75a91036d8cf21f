using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Parley.Chat.Crypto;
using Parley.Chat.Identity;
using Parley.Chat.Protos;
using Parley.Core.Identity;
using Parley.Net;

namespace Parley.Chat.Messaging;

public sealed partial class ChatClient
{
    private const int MaxParents = 16;
    private const int MaxReceiptIds = 1024;
    private const int MaxNameLength = 64;

    private enum ReceiveStatus
    {
        /// <summary>Decrypted and stored.</summary>
        Accepted,

        /// <summary>Seen before; nothing changed.</summary>
        Duplicate,

        /// <summary>From a blocked sender: dropped unread.</summary>
        Dropped,

        /// <summary>Invalid; <see cref="ReceiveOutcome.Reason"/> says why; nothing changed.</summary>
        Refused,
    }

    /// <summary>Serves one inbound <c>/parley/chat/1.0.0</c> stream: each request is answered, in order, once it is stored.</summary>
    private async Task ServeChatStreamAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        while (true)
        {
            byte[]? bytes;
            using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token))
            {
                idle.CancelAfter(_options.StreamIdleTimeout);
                try
                {
                    bytes = await LengthPrefixed.ReadMessageAsync(stream, _options.MaxEnvelopeBytes + 1024, idle.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                catch (InvalidDataException e)
                {
                    _logger.LogInformation("closing chat stream from {Peer}: {Reason}", stream.RemotePeer, e.Message);
                    stream.Reset();
                    return;
                }
            }
            if (bytes is null)
            {
                return;
            }
            ChatResponse response;
            try
            {
                var request = ChatRequest.Parser.ParseFrom(bytes);
                var outcome = request.Envelope is null
                    ? new ReceiveOutcome(ReceiveStatus.Refused, "request without an envelope")
                    : await ReceiveAsync(request.Envelope, cancellationToken);
                response = outcome.Status switch
                {
                    ReceiveStatus.Accepted => new ChatResponse { Status = ChatResponse.Types.Status.Accepted },
                    ReceiveStatus.Duplicate => new ChatResponse { Status = ChatResponse.Types.Status.Duplicate },
                    // A blocked sender is told nothing more than anyone refused.
                    ReceiveStatus.Dropped => new ChatResponse { Status = ChatResponse.Types.Status.Refused, Reason = "not accepted" },
                    _ => new ChatResponse { Status = ChatResponse.Types.Status.Refused, Reason = outcome.Reason ?? "" },
                };
            }
            catch (InvalidProtocolBufferException e)
            {
                response = new ChatResponse { Status = ChatResponse.Types.Status.Refused, Reason = $"malformed request: {e.Message}" };
            }
            await LengthPrefixed.WriteMessageAsync(stream, response.ToByteArray(), cancellationToken);
        }
    }

    /// <summary>
    /// Decrypts, checks and stores one envelope in a single transaction. A refused envelope changes nothing (not even
    /// the seen-list, so a forged copy cannot shadow the real one).
    /// </summary>
    private async Task<ReceiveOutcome> ReceiveAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        if (envelope.GroupMessage.Length > 0)
        {
            return await ReceiveGroupEnvelopeAsync(envelope, cancellationToken);
        }
        IdentityDhCertificate sender;
        try
        {
            CheckShape(envelope);
            sender = IdentityDhCertificate.Parse(envelope.SenderIdentity.Span);
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or System.Security.Cryptography.CryptographicException)
        {
            return Refuse(envelope, $"bad sender identity or envelope: {e.Message}");
        }
        var senderId = sender.Account.ToPeerId();
        if (senderId == Account.Id)
        {
            return Refuse(envelope, "an envelope claiming to be from ourselves");
        }
        var now = _time.GetUtcNow();
        var events = new List<Action>();
        var followUps = new HashSet<Groups.Id256>();
        ReceiveOutcome outcome;
        // Room controls change rooms held in memory: receiving takes the rooms' lock like every room operation.
        await _roomsGate.WaitAsync(cancellationToken);
        try
        {
            outcome = await _store.TransactAsync(tx =>
            {
                // Recorded first; a refusal rolls it back with everything else.
                if (!tx.MarkEnvelopeSeen(envelope.EnvelopeId.ToByteArray(), now))
                {
                    return new ReceiveOutcome(ReceiveStatus.Duplicate);
                }
                var contact = tx.GetContact(senderId);
                if (contact is { State: ContactState.Blocked })
                {
                    return new ReceiveOutcome(ReceiveStatus.Dropped);
                }
                if (contact is not null && !contact.IdentityDhKey.AsSpan().SequenceEqual(sender.DhKey))
                {
                    throw new RefusedException($"{contact.Handle} sent an identity key other than the one known for them");
                }
                var content = Decrypt(tx, envelope, sender, now);
                return Apply(tx, content, sender, contact, now, events, followUps);
            }, cancellationToken);
        }
        catch (RefusedException e)
        {
            return Refuse(envelope, e.Message);
        }
        catch
        {
            // A room may have changed in memory inside the rolled-back transaction: reload rooms from the store.
            _rooms.Clear();
            throw;
        }
        finally
        {
            _roomsGate.Release();
        }
        foreach (var raise in events)
        {
            raise();
        }
        if (followUps.Count > 0)
        {
            ScheduleRoomSync(followUps);
        }
        else if (outcome.Status == ReceiveStatus.Accepted)
        {
            // Receiving may have queued something: an answer to a room control, a sender key.
            WakeOutbox();
        }
        return outcome;
    }

    private ReceiveOutcome Refuse(Envelope envelope, string reason)
    {
        _logger.LogInformation("refused envelope {Envelope}: {Reason}", Convert.ToHexStringLower(envelope.EnvelopeId.Span), reason);
        return new ReceiveOutcome(ReceiveStatus.Refused, reason);
    }

    private static void CheckShape(Envelope envelope)
    {
        if (envelope.EnvelopeId.Length != EnvelopeIdLength)
        {
            throw new InvalidDataException("envelope id is not 16 bytes");
        }
        if (envelope.SessionId.Length != SessionIdLength)
        {
            throw new InvalidDataException("session id is not 8 bytes");
        }
        if (envelope.Prekey is { } prekey && prekey.EphemeralKey.Length != 32)
        {
            throw new InvalidDataException("ephemeral key is not 32 bytes");
        }
    }

    /// <summary>Finds or (from the X3DH header) starts the session and decrypts; throws <see cref="RefusedException"/> when it cannot.</summary>
    private Content Decrypt(IChatTransaction tx, Envelope envelope, IdentityDhCertificate sender, DateTimeOffset now)
    {
        var senderId = sender.Account.ToPeerId();
        var record = tx.GetSession(senderId, envelope.SessionId.ToByteArray());
        RatchetSession session;
        PrekeyRecord? oneTime = null;
        if (record is null)
        {
            if (envelope.Prekey is not { } prekey)
            {
                throw new RefusedException("no session matches and the envelope carries no X3DH header");
            }
            if (!SessionIdOf(prekey.EphemeralKey.Span).AsSpan().SequenceEqual(envelope.SessionId.Span))
            {
                throw new RefusedException("session id does not match the X3DH ephemeral key");
            }
            var signedPrekey = tx.GetPrekey(prekey.SignedPrekeyId, oneTime: false)
                ?? throw new RefusedException($"signed prekey {prekey.SignedPrekeyId} is unknown or retired");
            if (prekey.HasOneTimePrekey)
            {
                oneTime = tx.GetPrekey(prekey.OneTimePrekeyId, oneTime: true)
                    ?? throw new RefusedException($"one-time prekey {prekey.OneTimePrekeyId} was already used or never existed");
            }
            var secret = X3dh.Respond(
                _crypto,
                Account.PublicKey.ToProtobuf(),
                IdentityKeyPair,
                new X25519KeyPair(signedPrekey.PrivateKey, signedPrekey.PublicKey),
                oneTime is null ? null : new X25519KeyPair(oneTime.PrivateKey, oneTime.PublicKey),
                sender.Account.ToProtobuf(),
                sender.DhKey,
                prekey.EphemeralKey.Span);
            session = RatchetSession.InitializeAsResponder(_crypto, secret.SharedSecret, secret.AssociatedData, new X25519KeyPair(signedPrekey.PrivateKey, signedPrekey.PublicKey));
            record = new SessionRecord(senderId, envelope.SessionId.ToByteArray(), [], null, now, now);
            foreach (var stale in tx.GetSessions(senderId).Skip(_options.MaxSessionsPerContact - 1))
            {
                tx.DeleteSession(senderId, stale.SessionId);
            }
        }
        else
        {
            session = RatchetSession.Deserialize(_crypto, record.State);
        }
        byte[] plaintext;
        Content content;
        try
        {
            plaintext = session.Decrypt(RatchetMessage.Parse(envelope.Ratchet.Span));
            content = Content.Parser.ParseFrom(plaintext);
        }
        catch (Exception e) when (e is RatchetException or FormatException or InvalidProtocolBufferException)
        {
            throw new RefusedException($"cannot decrypt: {e.Message}");
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

    /// <summary>Stores what the content says. Events to raise after the commit go in <paramref name="events"/>.</summary>
    private ReceiveOutcome Apply(IChatTransaction tx, Content content, IdentityDhCertificate sender, ContactRecord? contact, DateTimeOffset now, List<Action> events, HashSet<Groups.Id256> followUps)
    {
        var senderId = sender.Account.ToPeerId();
        switch (content.BodyCase)
        {
            case Content.BodyOneofCase.Group:
                if (contact is null)
                {
                    contact = new ContactRecord(senderId, sender.Account, sender.DhKey, "unknown", ContactState.GroupPeer, null, RandomBytes(MailboxTokenLength), now);
                    tx.PutContact(contact);
                }
                ApplyGroupControl(tx, content.Group, contact, now, events, followUps);
                return new ReceiveOutcome(ReceiveStatus.Accepted);
            case Content.BodyOneofCase.Text or Content.BodyOneofCase.ContactRequest:
                {
                    var request = content.ContactRequest;
                    var text = request?.Text ?? content.Text.Body;
                    CheckMessage(content, text, senderId);
                    var known = contact;
                    if (contact is null)
                    {
                        contact = new ContactRecord(senderId, sender.Account, sender.DhKey, ClaimedName(request?.SenderName), ContactState.Pending, null, null, now);
                    }
                    else if (contact.State == ContactState.Requested)
                    {
                        // They wrote back to our request: that is their acceptance.
                        contact = contact with { State = ContactState.Accepted };
                    }
                    else if (contact.State == ContactState.GroupPeer)
                    {
                        // Sharing a room is not being a contact: a room peer's first 1:1 message is a request.
                        contact = contact with { State = ContactState.Pending };
                    }
                    if (request is { MailboxToken.Length: MailboxTokenLength } && !request.MailboxToken.Span.SequenceEqual(contact.TheirMailboxToken))
                    {
                        contact = contact with { TheirMailboxToken = request.MailboxToken.ToByteArray() };
                    }
                    if (!ReferenceEquals(contact, known))
                    {
                        tx.PutContact(contact);
                    }
                    var message = new MessageRecord(
                        content.MessageId.ToByteArray(), content.ConversationId.ToByteArray(), senderId, MessageDirection.Incoming, content.Lamport,
                        content.Parents.Select(p => p.ToByteArray()).ToList(), text, DeliveryState.Received, 0,
                        DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(content.SentUnixMs, 0, 253_402_300_799_999)), now, request is not null, Unread: true);
                    if (tx.InsertMessage(message))
                    {
                        tx.AdvanceConversation(message.ConversationId, senderId, message.Lamport, message.Id);
                        var stored = contact;
                        events.Add(() => Raise(MessageReceived, new MessageEventArgs(message, stored)));
                        if (request is not null)
                        {
                            events.Add(() => RaiseContactChanged(stored));
                        }
                    }
                    return new ReceiveOutcome(ReceiveStatus.Accepted, Acknowledge: (senderId, message.Id));
                }
            case Content.BodyOneofCase.ContactAccept:
                if (contact is not null && content.ContactAccept.MailboxToken.Length == MailboxTokenLength)
                {
                    var accepted = contact with
                    {
                        State = contact.State == ContactState.Requested ? ContactState.Accepted : contact.State,
                        TheirMailboxToken = content.ContactAccept.MailboxToken.ToByteArray(),
                    };
                    tx.PutContact(accepted);
                    events.Add(() => RaiseContactChanged(accepted));
                }
                return new ReceiveOutcome(ReceiveStatus.Accepted);
            case Content.BodyOneofCase.Receipt:
                foreach (var id in content.Receipt.MessageIds.Take(MaxReceiptIds))
                {
                    var state = content.Receipt.Kind == Receipt.Types.Kind.Read ? DeliveryState.Read : DeliveryState.Delivered;
                    if (tx.GetMessage(id.ToByteArray()) is { Direction: MessageDirection.Outgoing } mine && mine.State < state &&
                        ConversationIds.Direct(Account.Id, senderId).AsSpan().SequenceEqual(mine.ConversationId))
                    {
                        tx.UpdateMessageState(mine.Id, state, mine.StoredCount);
                        tx.DeleteOutboxForMessage(mine.Id);
                        var updated = mine with { State = state };
                        var about = contact;
                        if (about is not null)
                        {
                            events.Add(() => Raise(MessageStateChanged, new MessageEventArgs(updated, about)));
                        }
                    }
                }
                return new ReceiveOutcome(ReceiveStatus.Accepted);
            default:
                throw new RefusedException($"content of unknown kind {content.BodyCase}");
        }
    }

    private void CheckMessage(Content content, string text, PeerId sender)
    {
        if (content.MessageId.Length != MessageIdLength)
        {
            throw new RefusedException("message id is not 16 bytes");
        }
        if (!content.ConversationId.Span.SequenceEqual(ConversationIds.Direct(Account.Id, sender)))
        {
            throw new RefusedException("the message names a conversation other than ours with its sender");
        }
        if (content.Parents.Count > MaxParents || content.Parents.Any(p => p.Length != MessageIdLength))
        {
            throw new RefusedException("malformed parent ids");
        }
        if (Utf8Length(text) > _options.MaxTextBytes)
        {
            throw new RefusedException("text longer than the limit");
        }
        if (content.Lamport == 0 || content.Lamport > long.MaxValue)
        {
            throw new RefusedException("Lamport clock out of range");
        }
    }

    /// <summary>The name a requester gives; only a valid one is kept (the tag, from their key, is what identifies them).</summary>
    private static string ClaimedName(string? name)
    {
        if (name is null || name.Length > MaxNameLength)
        {
            return "unknown";
        }
        try
        {
            return Handle.NormalizeName(name);
        }
        catch (FormatException)
        {
            return "unknown";
        }
    }

    private sealed record ReceiveOutcome(ReceiveStatus Status, string? Reason = null, (PeerId Sender, byte[] MessageId)? Acknowledge = null);

    /// <summary>Thrown inside a receive transaction to roll it back and refuse the envelope.</summary>
    private sealed class RefusedException(string message) : Exception(message);
}
