using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Delivery;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Sessions;

/// <summary>
/// Repairs a pairwise session one side can no longer decrypt (docs/messaging.md, "Session repair"), as after a restored
/// backup or lost state. The side that cannot decrypt asks the sender for a reset (<see cref="AskAsync"/>): no content,
/// authenticated by a MAC under a key only the two identity DH keys derive, and naming the envelope that failed. The
/// sender (<see cref="Apply"/>) drops the session that envelope was on and every older one, starts a new one by X3DH
/// from the signed prekey the request carries (no directory lookup, no one-time prekey: those the requester published
/// may be ones its restored copy never had), and encrypts again everything still queued for the requester on a dropped
/// session. Message ids are kept, so the recipient stores a message it already had only once.
/// </summary>
internal sealed class SessionRepair(ChatContext context, PairwiseSessions sessions, Outbox outbox)
{
    private const int MacLength = 32;
    private const int PrekeyLength = 32;
    private static readonly byte[] MacKeyInfo = "Parley_SessionReset_v1"u8.ToArray();

    private readonly PerContactLimit _asked = new(context.Options.SessionResetInterval);
    private readonly PerContactLimit _restarted = new(context.Options.SessionResetInterval);

    /// <summary>
    /// After <paramref name="failed"/> from <paramref name="sender"/> could not be decrypted: asks them for a new session,
    /// unless they are not a contact (or blocked), or they were asked less than <see cref="ChatOptions.SessionResetInterval"/> ago.
    /// </summary>
    public async Task AskAsync(IdentityDhCertificate sender, Envelope failed, CancellationToken cancellationToken)
    {
        var senderId = sender.Account.ToPeerId();
        var now = context.Now;
        var asked = await context.Store.TransactAsync(tx =>
        {
            if (tx.GetContact(senderId) is not { State: not ContactState.Blocked } contact || !contact.IdentityDhKey.AsSpan().SequenceEqual(sender.DhKey))
            {
                return null;
            }
            if (tx.GetPrekeys(oneTime: false).MaxBy(p => p.CreatedAt) is not { } prekey || !_asked.TryTake(senderId, now))
            {
                return null;
            }
            var envelope = new Envelope
            {
                EnvelopeId = ByteString.CopyFrom(context.RandomBytes(ChatContext.EnvelopeIdLength)),
                SenderIdentity = ByteString.CopyFrom(context.SenderIdentity),
                SessionReset = new SessionReset
                {
                    FailedEnvelopeId = failed.EnvelopeId,
                    SignedPrekeyId = prekey.Id,
                    SignedPrekey = ByteString.CopyFrom(prekey.PublicKey),
                },
            };
            try
            {
                envelope.SessionReset.Mac = ByteString.CopyFrom(Mac(contact.AccountKey, contact.IdentityDhKey, fromUs: true, envelope));
            }
            catch (RatchetException)
            {
                return null;
            }
            outbox.Put(tx, senderId, envelope, null);
            return contact;
        }, cancellationToken);
        if (asked is null)
        {
            return;
        }
        ChatLog.SessionResetAsked(context.Logger, Convert.ToHexStringLower(failed.EnvelopeId.Span));
        context.Events.OnSessionReset(asked, SessionResetKind.Requested, 0);
        outbox.Wake();
    }

    /// <summary>
    /// A contact's "session reset needed", inside the receive transaction. One that does not name an envelope of ours
    /// still queued for them (old, replayed, or already acted on), or that comes less than
    /// <see cref="ChatOptions.SessionResetInterval"/> after the last one acted on, changes nothing.
    /// </summary>
    /// <exception cref="EnvelopeRefusedException">Malformed, its MAC does not verify, or its prekey is unusable.</exception>
    public void Apply(IChatTransaction tx, Envelope envelope, IdentityDhCertificate sender, ContactRecord? contact, List<Action> events)
    {
        var reset = envelope.SessionReset;
        if (reset.FailedEnvelopeId.Length != ChatContext.EnvelopeIdLength || reset.SignedPrekey.Length != PrekeyLength || reset.Mac.Length != MacLength)
        {
            throw new EnvelopeRefusedException("malformed session reset");
        }
        try
        {
            if (!CryptographicOperations.FixedTimeEquals(Mac(sender.Account, sender.DhKey, fromUs: false, envelope), reset.Mac.Span))
            {
                throw new EnvelopeRefusedException("session reset whose MAC does not verify");
            }
        }
        catch (RatchetException e)
        {
            throw new EnvelopeRefusedException($"session reset from an unusable identity key: {e.Message}");
        }
        var failed = tx.GetOutboxItem(reset.FailedEnvelopeId.ToByteArray());
        if (contact is null || failed is null || failed.Recipient != contact.Account || SessionOf(failed) is not { } failedSession)
        {
            ChatLog.SessionResetStale(context.Logger, Convert.ToHexStringLower(reset.FailedEnvelopeId.Span));
            return;
        }
        if (!_restarted.TryTake(contact.Account, context.Now))
        {
            ChatLog.SessionResetLimited(context.Logger, Convert.ToHexStringLower(reset.FailedEnvelopeId.Span));
            return;
        }
        var existing = tx.GetSessions(contact.Account);
        var broken = existing.FirstOrDefault(s => s.SessionId.AsSpan().SequenceEqual(failedSession));
        // With a linked contact, only the sessions with the device that asked (docs/devices.md) are restarted.
        var device = broken?.Device ?? failed.Device;
        if (broken is not null)
        {
            foreach (var stale in existing.Where(s => s.Device == device && s.CreatedAt <= broken.CreatedAt))
            {
                tx.DeleteSession(contact.Account, stale.SessionId);
            }
        }
        if (!tx.GetSessions(contact.Account).Any(s => s.Device == device))
        {
            try
            {
                sessions.Adopt(tx, contact, sessions.Start(contact, reset.SignedPrekeyId, reset.SignedPrekey.ToByteArray(), null, null, sessions.OurDeviceKey(tx)), device);
            }
            catch (RatchetException e)
            {
                throw new EnvelopeRefusedException($"session reset with an unusable signed prekey: {e.Message}");
            }
        }
        var current = tx.GetSessions(contact.Account).Select(s => Convert.ToHexString(s.SessionId)).ToHashSet();
        var (resent, dropped) = (0, 0);
        foreach (var item in tx.GetOutboxFor(contact.Account))
        {
            if (SessionOf(item) is not { } session || current.Contains(Convert.ToHexString(session)))
            {
                continue;
            }
            if (item.Content is null)
            {
                // Queued before contents were kept with envelopes: its session is gone, so it can never be read.
                tx.DeleteOutbox(item.EnvelopeId);
                dropped++;
                continue;
            }
            sessions.Requeue(tx, contact, item, item.Content);
            resent += item.MessageId is null ? 0 : 1;
        }
        ChatLog.SessionRestarted(context.Logger, Convert.ToHexStringLower(reset.FailedEnvelopeId.Span), resent, dropped);
        events.Add(() => context.Events.OnSessionReset(contact, SessionResetKind.Restarted, resent));
    }

    /// <summary>The session a queued pairwise envelope is encrypted on; null for room copies and resets.</summary>
    private static byte[]? SessionOf(OutboxItem item)
    {
        var envelope = Envelope.Parser.ParseFrom(item.Envelope);
        return envelope.Ratchet.IsEmpty ? null : envelope.SessionId.ToByteArray();
    }

    /// <summary>
    /// HMAC-SHA256 under HKDF(X25519(our identity DH key, theirs), info "Parley_SessionReset_v1") over who asks whom, the
    /// envelope id (so a replay under another id does not verify) and the request. Only the two of us can compute it,
    /// and neither can prove to anyone else which of us did (deniable, like the messages).
    /// </summary>
    /// <exception cref="RatchetException">The peer's identity DH key is of low order.</exception>
    private byte[] Mac(PublicKey peerAccount, byte[] peerDhKey, bool fromUs, Envelope envelope)
    {
        var reset = envelope.SessionReset;
        Span<byte> shared = stackalloc byte[32];
        Span<byte> key = stackalloc byte[32];
        var ourKey = context.Account.IdentityDhPrivateKey;
        try
        {
            X3dh.Agree(context.Crypto, ourKey, peerDhKey, "identity DH key", shared);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(ourKey);
        }
        context.Crypto.HkdfSha256(shared, new byte[32], MacKeyInfo, key);
        var (ours, theirs) = (context.Account.PublicKey.ToProtobuf(), peerAccount.ToProtobuf());
        var data = new CanonicalWriter("parley-session-reset:")
            .Bytes(fromUs ? ours : theirs)
            .Bytes(fromUs ? theirs : ours)
            .Bytes(envelope.EnvelopeId.Span)
            .Bytes(reset.FailedEnvelopeId.Span)
            .UInt32(reset.SignedPrekeyId)
            .Bytes(reset.SignedPrekey.Span)
            .ToArray();
        var mac = new byte[MacLength];
        context.Crypto.HmacSha256(key, data, mac);
        CryptographicOperations.ZeroMemory(shared);
        CryptographicOperations.ZeroMemory(key);
        return mac;
    }

    /// <summary>At most one use per contact per interval; contacts whose interval has passed are forgotten.</summary>
    private sealed class PerContactLimit(TimeSpan interval)
    {
        private const int PruneAbove = 1024;
        private readonly Dictionary<PeerId, DateTimeOffset> _last = [];

        public bool TryTake(PeerId contact, DateTimeOffset now)
        {
            lock (_last)
            {
                if (_last.TryGetValue(contact, out var last) && now - last < interval)
                {
                    return false;
                }
                if (_last.Count >= PruneAbove)
                {
                    foreach (var expired in _last.Where(e => now - e.Value >= interval).Select(e => e.Key).ToList())
                    {
                        _last.Remove(expired);
                    }
                }
                _last[contact] = now;
                return true;
            }
        }
    }
}
