using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Crypto.Protos;
using Parley.Core.Crypto;

namespace Parley.Chat.Crypto;

/// <summary>
/// The Double Ratchet (Signal's specification) with Parley's KDFs, as in docs/chat.md section 3 and docs/ratchet.md:
/// KDF_RK = HKDF-SHA256(salt = RK, ikm = DH output, info "Parley_Ratchet_v1") → 64 bytes (RK', CK);
/// KDF_CK: MK = HMAC-SHA256(CK, 0x01), CK' = HMAC-SHA256(CK, 0x02);
/// message key and nonce = HKDF-SHA256(ikm = MK, salt = 32 zero bytes, info "Parley_MessageKey_v1") → 32 + 12 bytes;
/// ChaCha20-Poly1305 with associated data = X3DH AD ‖ header.
/// New ratchet key pairs come from <see cref="ICryptoProvider.GenerateX25519KeyPair"/>.
/// Not thread-safe: one caller at a time per session.
/// </summary>
public sealed class RatchetSession
{
    /// <summary>The most message keys one chain step may skip (Signal's MAX_SKIP).</summary>
    public const int MaxSkip = 1000;

    /// <summary>The most skipped message keys kept in all; beyond it the oldest are deleted.</summary>
    public const int MaxSkippedKeys = 1000;

    /// <summary>Bound on the X3DH associated data (about 170 bytes with Ed25519 account keys).</summary>
    public const int MaxAssociatedDataLength = 4096;

    private const int KeySize = 32;
    private const int StateVersion = 1;
    private const int MaxStateLength = 256 * 1024;

    private static readonly byte[] RootInfo = "Parley_Ratchet_v1"u8.ToArray();
    private static readonly byte[] MessageKeyInfo = "Parley_MessageKey_v1"u8.ToArray();

    private readonly ICryptoProvider _crypto;
    private readonly byte[] _associatedData;

    // X3DH AD ‖ header, reused for every message: only the header part changes.
    private readonly byte[] _aeadAssociatedData;
    private readonly OrderedDictionary<SkippedKeyId, byte[]> _skipped = [];
    private byte[] _rootKey;
    private X25519KeyPair _sendingRatchet;
    private byte[]? _remoteRatchetKey;
    private byte[]? _sendingChainKey;
    private byte[]? _receivingChainKey;
    private uint _sendingIndex;
    private uint _receivingIndex;
    private uint _previousSendingCount;

    private RatchetSession(ICryptoProvider crypto, byte[] associatedData, byte[] rootKey, X25519KeyPair sendingRatchet)
    {
        _crypto = crypto;
        _associatedData = associatedData;
        _aeadAssociatedData = new byte[associatedData.Length + RatchetHeader.Size];
        associatedData.CopyTo(_aeadAssociatedData, 0);
        _rootKey = rootKey;
        _sendingRatchet = sendingRatchet;
    }

    /// <summary>Messages skipped over (not yet received) whose keys are kept.</summary>
    public int SkippedKeyCount => _skipped.Count;

    /// <summary>False only for a responder that has not yet received the initiator's first message.</summary>
    public bool CanEncrypt => _sendingChainKey is not null;

    /// <summary>Alice: after X3DH, with Bob's signed prekey as his first ratchet key. She can send at once.</summary>
    /// <exception cref="RatchetException"><paramref name="responderRatchetKey"/> is not a usable X25519 public key.</exception>
    public static RatchetSession InitializeAsInitiator(ICryptoProvider crypto, byte[] sharedSecret, byte[] associatedData, byte[] responderRatchetKey)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(responderRatchetKey);
        CheckInitialSecrets(sharedSecret, associatedData);
        var sendingRatchet = X25519KeyPair.Generate(crypto);
        Span<byte> dh = stackalloc byte[KeySize];
        try
        {
            X3dh.Agree(crypto, sendingRatchet.PrivateKey, responderRatchetKey, "responder ratchet key", dh);
            var (rootKey, sendingChainKey) = KdfRoot(crypto, sharedSecret, dh);
            return new RatchetSession(crypto, associatedData.ToArray(), rootKey, sendingRatchet)
            {
                _remoteRatchetKey = responderRatchetKey.ToArray(),
                _sendingChainKey = sendingChainKey,
            };
        }
        catch (RatchetException)
        {
            sendingRatchet.ZeroPrivateKey();
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(dh);
        }
    }

    /// <summary>Bob: after X3DH, with his signed prekey pair as his first ratchet key (copied: the caller keeps its own).
    /// He can send once the initiator's first message has been decrypted.</summary>
    public static RatchetSession InitializeAsResponder(ICryptoProvider crypto, byte[] sharedSecret, byte[] associatedData, X25519KeyPair ownRatchetKey)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(ownRatchetKey);
        CheckInitialSecrets(sharedSecret, associatedData);
        if (ownRatchetKey.PrivateKey.Length != KeySize || ownRatchetKey.PublicKey.Length != KeySize)
        {
            throw new ArgumentException($"ratchet keys are {KeySize} bytes", nameof(ownRatchetKey));
        }
        return new RatchetSession(crypto, associatedData.ToArray(), sharedSecret.ToArray(), ownRatchetKey.Copy());
    }

    /// <exception cref="InvalidOperationException">The session cannot send yet (<see cref="CanEncrypt"/>) or its chain is exhausted.</exception>
    public RatchetMessage Encrypt(ReadOnlySpan<byte> plaintext)
    {
        if (plaintext.Length > RatchetMessage.MaxPlaintextLength)
        {
            throw new ArgumentException($"a message carries at most {RatchetMessage.MaxPlaintextLength} bytes", nameof(plaintext));
        }
        var chainKey = _sendingChainKey
            ?? throw new InvalidOperationException("the responder cannot send before it has decrypted the initiator's first message");
        if (_sendingIndex == uint.MaxValue)
        {
            throw new InvalidOperationException("the sending chain is exhausted");
        }
        Span<byte> messageKey = stackalloc byte[KeySize];
        Span<byte> nextChainKey = stackalloc byte[KeySize];
        KdfChain(_crypto, chainKey, messageKey, nextChainKey);
        nextChainKey.CopyTo(chainKey);
        CryptographicOperations.ZeroMemory(nextChainKey);
        var header = RatchetHeader.Encode(_sendingRatchet.PublicKey, _previousSendingCount, _sendingIndex);
        _sendingIndex++;
        var ciphertext = new byte[plaintext.Length + IAead.TagSize];
        Seal(messageKey, header, plaintext, ciphertext);
        CryptographicOperations.ZeroMemory(messageKey);
        return new RatchetMessage(header, ciphertext);
    }

    /// <summary>Decrypts, advancing the ratchet. On any failure the session is exactly as it was before the call.</summary>
    /// <exception cref="RatchetException">Tampered or forged, replayed (key already used or deleted), more than
    /// <see cref="MaxSkip"/> keys to skip, malformed header, or a bad ratchet key; see <see cref="RatchetException.Reason"/>.</exception>
    public byte[] Decrypt(RatchetMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(message.Header);
        ArgumentNullException.ThrowIfNull(message.Ciphertext);
        var header = RatchetHeader.Parse(message.Header);
        if (message.Ciphertext.Length is < IAead.TagSize or > RatchetMessage.MaxCiphertextLength)
        {
            throw new RatchetException(RatchetFailure.Malformed, $"a ciphertext of {message.Ciphertext.Length} bytes is out of bounds");
        }
        if (_skipped.Count > 0)
        {
            var id = new SkippedKeyId(header.RatchetKey.ToArray(), header.Index);
            if (_skipped.TryGetValue(id, out var skippedKey))
            {
                var opened = Open(skippedKey, message) ?? throw AuthenticationFailed();
                _skipped.Remove(id);
                CryptographicOperations.ZeroMemory(skippedKey);
                return opened;
            }
        }
        var sameChain = _remoteRatchetKey is not null && header.RatchetKey.SequenceEqual(_remoteRatchetKey);
        if (sameChain && header.Index < _receivingIndex)
        {
            throw new RatchetException(RatchetFailure.Replayed, $"the key of message {header.Index} in this chain was already used or deleted");
        }
        // Everything happens on a copy of the state; only a message that authenticates commits it.
        using var step = new ReceiveStep(this);
        if (!sameChain)
        {
            step.SkipTo(header.PreviousChainLength);
            step.DhRatchet(header.RatchetKey.ToArray());
        }
        step.SkipTo(header.Index);
        var messageKey = step.NextReceivingMessageKey();
        var plaintext = Open(messageKey, message) ?? throw AuthenticationFailed();
        step.Commit();
        return plaintext;
    }

    /// <summary>The complete state, skipped keys included, as the protobuf <c>RatchetSessionState</c>. It holds secrets.</summary>
    public byte[] Serialize()
    {
        var state = new RatchetSessionState
        {
            Version = StateVersion,
            AssociatedData = ByteString.CopyFrom(_associatedData),
            RootKey = ByteString.CopyFrom(_rootKey),
            SendingRatchetPrivateKey = ByteString.CopyFrom(_sendingRatchet.PrivateKey),
            SendingRatchetPublicKey = ByteString.CopyFrom(_sendingRatchet.PublicKey),
            RemoteRatchetKey = ToByteString(_remoteRatchetKey),
            SendingChainKey = ToByteString(_sendingChainKey),
            ReceivingChainKey = ToByteString(_receivingChainKey),
            SendingIndex = _sendingIndex,
            ReceivingIndex = _receivingIndex,
            PreviousSendingCount = _previousSendingCount,
        };
        foreach (var (id, messageKey) in _skipped)
        {
            state.SkippedKeys.Add(new RatchetSkippedKey
            {
                RatchetKey = ByteString.CopyFrom(id.RatchetKey),
                Index = id.Index,
                MessageKey = ByteString.CopyFrom(messageKey),
            });
        }
        return state.ToByteArray();
    }

    /// <exception cref="FormatException">Not a complete, consistent state written by <see cref="Serialize"/>.</exception>
    public static RatchetSession Deserialize(ICryptoProvider crypto, ReadOnlySpan<byte> state)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        if (state.Length > MaxStateLength)
        {
            throw new FormatException($"a ratchet state of {state.Length} bytes exceeds the maximum {MaxStateLength}");
        }
        RatchetSessionState proto;
        try
        {
            proto = RatchetSessionState.Parser.ParseFrom(state);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException("the ratchet state is not a valid protobuf", e);
        }
        if (proto.Version != StateVersion)
        {
            throw new FormatException($"unknown ratchet state version {proto.Version}");
        }
        if (proto.AssociatedData.Length is 0 or > MaxAssociatedDataLength)
        {
            throw new FormatException($"ratchet state associated data of {proto.AssociatedData.Length} bytes is out of bounds");
        }
        var rootKey = RequireKey(proto.RootKey, "root key");
        var ratchetPrivate = RequireKey(proto.SendingRatchetPrivateKey, "sending ratchet private key");
        var remote = OptionalKey(proto.RemoteRatchetKey, "remote ratchet key");
        var sending = OptionalKey(proto.SendingChainKey, "sending chain key");
        var receiving = OptionalKey(proto.ReceivingChainKey, "receiving chain key");
        // The states a session can be in: responder before the first message (no remote key, no chains), initiator
        // before the first reply (remote key and sending chain), and after any DH ratchet step (all three).
        if ((remote is null) != (sending is null) || (receiving is not null && remote is null))
        {
            throw new FormatException("the ratchet state's keys are inconsistent");
        }
        if (proto.SkippedKeys.Count > MaxSkippedKeys)
        {
            throw new FormatException($"the ratchet state holds {proto.SkippedKeys.Count} skipped keys, more than {MaxSkippedKeys}");
        }
        var ratchetPublic = OptionalKey(proto.SendingRatchetPublicKey, "sending ratchet public key") ?? crypto.X25519PublicKey(ratchetPrivate);
        var session = new RatchetSession(crypto, proto.AssociatedData.ToByteArray(), rootKey, new X25519KeyPair(ratchetPrivate, ratchetPublic))
        {
            _remoteRatchetKey = remote,
            _sendingChainKey = sending,
            _receivingChainKey = receiving,
            _sendingIndex = proto.SendingIndex,
            _receivingIndex = proto.ReceivingIndex,
            _previousSendingCount = proto.PreviousSendingCount,
        };
        foreach (var skipped in proto.SkippedKeys)
        {
            var id = new SkippedKeyId(RequireKey(skipped.RatchetKey, "skipped ratchet key"), skipped.Index);
            if (!session._skipped.TryAdd(id, RequireKey(skipped.MessageKey, "skipped message key")))
            {
                throw new FormatException("the ratchet state holds a skipped key twice");
            }
        }
        return session;
    }

    private static void CheckInitialSecrets(byte[] sharedSecret, byte[] associatedData)
    {
        ArgumentNullException.ThrowIfNull(sharedSecret);
        ArgumentNullException.ThrowIfNull(associatedData);
        if (sharedSecret.Length != KeySize)
        {
            throw new ArgumentException($"the shared secret is {KeySize} bytes, got {sharedSecret.Length}", nameof(sharedSecret));
        }
        if (associatedData.Length is 0 or > MaxAssociatedDataLength)
        {
            throw new ArgumentException($"associated data of {associatedData.Length} bytes is out of bounds (1 to {MaxAssociatedDataLength})", nameof(associatedData));
        }
    }

    /// <summary>KDF_RK: HKDF(salt = RK, ikm = DH output, info "Parley_Ratchet_v1") → (RK', CK).</summary>
    private static (byte[] RootKey, byte[] ChainKey) KdfRoot(ICryptoProvider crypto, ReadOnlySpan<byte> rootKey, ReadOnlySpan<byte> dhOutput)
    {
        Span<byte> output = stackalloc byte[2 * KeySize];
        crypto.HkdfSha256(dhOutput, rootKey, RootInfo, output);
        var result = (output[..KeySize].ToArray(), output[KeySize..].ToArray());
        CryptographicOperations.ZeroMemory(output);
        return result;
    }

    /// <summary>KDF_CK: MK = HMAC(CK, 0x01), CK' = HMAC(CK, 0x02).</summary>
    private static void KdfChain(ICryptoProvider crypto, ReadOnlySpan<byte> chainKey, Span<byte> messageKey, Span<byte> nextChainKey)
    {
        crypto.HmacSha256(chainKey, [0x01], messageKey);
        crypto.HmacSha256(chainKey, [0x02], nextChainKey);
    }

    private void Seal(ReadOnlySpan<byte> messageKey, byte[] header, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        Span<byte> keyAndNonce = stackalloc byte[KeySize + IAead.NonceSize];
        _crypto.HkdfSha256(messageKey, stackalloc byte[KeySize], MessageKeyInfo, keyAndNonce);
        header.CopyTo(_aeadAssociatedData, _associatedData.Length);
        using (var aead = _crypto.CreateChaCha20Poly1305(keyAndNonce[..KeySize]))
        {
            aead.Encrypt(keyAndNonce[KeySize..], plaintext, _aeadAssociatedData, destination);
        }
        CryptographicOperations.ZeroMemory(keyAndNonce);
    }

    /// <summary>Null when the tag does not verify.</summary>
    private byte[]? Open(ReadOnlySpan<byte> messageKey, RatchetMessage message)
    {
        Span<byte> keyAndNonce = stackalloc byte[KeySize + IAead.NonceSize];
        _crypto.HkdfSha256(messageKey, stackalloc byte[KeySize], MessageKeyInfo, keyAndNonce);
        message.Header.CopyTo(_aeadAssociatedData, _associatedData.Length);
        var plaintext = new byte[message.Ciphertext.Length - IAead.TagSize];
        bool authentic;
        using (var aead = _crypto.CreateChaCha20Poly1305(keyAndNonce[..KeySize]))
        {
            authentic = aead.TryDecrypt(keyAndNonce[KeySize..], message.Ciphertext, _aeadAssociatedData, plaintext);
        }
        CryptographicOperations.ZeroMemory(keyAndNonce);
        if (!authentic)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return null;
        }
        return plaintext;
    }

    private static RatchetException AuthenticationFailed() =>
        new(RatchetFailure.AuthenticationFailed, "the message does not authenticate: forged, altered, or not for this session");

    private static ByteString ToByteString(byte[]? value) => value is null ? ByteString.Empty : ByteString.CopyFrom(value);

    private static byte[] RequireKey(ByteString value, string what) =>
        value.Length == KeySize ? value.ToByteArray() : throw new FormatException($"the ratchet state's {what} is {value.Length} bytes, not {KeySize}");

    private static byte[]? OptionalKey(ByteString value, string what) => value.IsEmpty ? null : RequireKey(value, what);

    private static void Wipe(byte[]? secret)
    {
        if (secret is not null)
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary>The receiving side's work on copies of the state: committed when the message authenticates, wiped otherwise.</summary>
    private sealed class ReceiveStep(RatchetSession session) : IDisposable
    {
        private readonly List<(SkippedKeyId Id, byte[] MessageKey)> _newSkipped = [];
        private readonly List<byte[]> _secrets = [];
        private byte[] _rootKey = session._rootKey;
        private X25519KeyPair _sendingRatchet = session._sendingRatchet;
        private byte[]? _remoteRatchetKey = session._remoteRatchetKey;
        private byte[]? _sendingChainKey = session._sendingChainKey;
        private byte[]? _receivingChainKey = session._receivingChainKey;
        private uint _sendingIndex = session._sendingIndex;
        private uint _receivingIndex = session._receivingIndex;
        private uint _previousSendingCount = session._previousSendingCount;

        /// <summary>SkipMessageKeys of the specification: keeps the keys of messages before <paramref name="until"/>.</summary>
        public void SkipTo(uint until)
        {
            if ((long)_receivingIndex + MaxSkip < until)
            {
                throw new RatchetException(RatchetFailure.TooManySkipped, $"message {until} would skip {until - _receivingIndex} keys, more than {MaxSkip}");
            }
            if (_receivingChainKey is null)
            {
                return;
            }
            while (_receivingIndex < until)
            {
                var messageKey = NextReceivingMessageKey();
                _newSkipped.Add((new SkippedKeyId(_remoteRatchetKey!, _receivingIndex - 1), messageKey));
            }
        }

        public void DhRatchet(byte[] remoteRatchetKey)
        {
            _previousSendingCount = _sendingIndex;
            _sendingIndex = 0;
            _receivingIndex = 0;
            _remoteRatchetKey = remoteRatchetKey;
            Span<byte> dh = stackalloc byte[KeySize];
            try
            {
                X3dh.Agree(session._crypto, _sendingRatchet.PrivateKey, remoteRatchetKey, "sender's ratchet key", dh);
                (_rootKey, _receivingChainKey) = Track(KdfRoot(session._crypto, _rootKey, dh));
                _sendingRatchet = X25519KeyPair.Generate(session._crypto);
                _secrets.Add(_sendingRatchet.PrivateKey);
                X3dh.Agree(session._crypto, _sendingRatchet.PrivateKey, remoteRatchetKey, "sender's ratchet key", dh);
                (_rootKey, _sendingChainKey) = Track(KdfRoot(session._crypto, _rootKey, dh));
            }
            finally
            {
                CryptographicOperations.ZeroMemory(dh);
            }
        }

        public byte[] NextReceivingMessageKey()
        {
            var chainKey = _receivingChainKey
                ?? throw new RatchetException(RatchetFailure.AuthenticationFailed, "the sender's ratchet key has no receiving chain: the message is forged");
            var messageKey = new byte[KeySize];
            var next = new byte[KeySize];
            _secrets.Add(messageKey);
            _secrets.Add(next);
            KdfChain(session._crypto, chainKey, messageKey, next);
            _receivingChainKey = next;
            _receivingIndex++;
            return messageKey;
        }

        public void Commit()
        {
            // Wipe what the new state replaces, but never an array the new state still holds.
            var kept = new HashSet<byte[]>(ReferenceEqualityComparer.Instance) { _rootKey, _sendingRatchet.PrivateKey };
            AddIfNotNull(kept, _sendingChainKey);
            AddIfNotNull(kept, _receivingChainKey);
            foreach (var (_, messageKey) in _newSkipped)
            {
                kept.Add(messageKey);
            }
            foreach (var old in (byte[]?[])[session._rootKey, session._sendingRatchet.PrivateKey, session._sendingChainKey, session._receivingChainKey])
            {
                if (old is not null && !kept.Contains(old))
                {
                    Wipe(old);
                }
            }
            _secrets.RemoveAll(kept.Contains);
            session._rootKey = _rootKey;
            session._sendingRatchet = _sendingRatchet;
            session._remoteRatchetKey = _remoteRatchetKey;
            session._sendingChainKey = _sendingChainKey;
            session._receivingChainKey = _receivingChainKey;
            session._sendingIndex = _sendingIndex;
            session._receivingIndex = _receivingIndex;
            session._previousSendingCount = _previousSendingCount;
            foreach (var (id, messageKey) in _newSkipped)
            {
                session._skipped[id] = messageKey;
            }
            while (session._skipped.Count > MaxSkippedKeys)
            {
                Wipe(session._skipped.GetAt(0).Value);
                session._skipped.RemoveAt(0);
            }
        }

        /// <summary>Wipes every secret derived here that the session did not take over.</summary>
        public void Dispose()
        {
            foreach (var secret in _secrets)
            {
                Wipe(secret);
            }
        }

        private (byte[], byte[]) Track((byte[] RootKey, byte[] ChainKey) keys)
        {
            _secrets.Add(keys.RootKey);
            _secrets.Add(keys.ChainKey);
            return keys;
        }

        private static void AddIfNotNull(HashSet<byte[]> set, byte[]? value)
        {
            if (value is not null)
            {
                set.Add(value);
            }
        }
    }

    /// <summary>A skipped key's place: the sender's ratchet public key and the message number, compared by content.</summary>
    private readonly struct SkippedKeyId(byte[] ratchetKey, uint index) : IEquatable<SkippedKeyId>
    {
        public byte[] RatchetKey { get; } = ratchetKey;

        public uint Index { get; } = index;

        public bool Equals(SkippedKeyId other) => Index == other.Index && RatchetKey.AsSpan().SequenceEqual(other.RatchetKey);

        public override bool Equals(object? obj) => obj is SkippedKeyId other && Equals(other);

        // Ratchet keys are authenticated peer keys (uniform-looking bytes), so a prefix hashes well.
        public override int GetHashCode() => HashCode.Combine(BinaryPrimitives.ReadInt32LittleEndian(RatchetKey), Index);
    }
}
