using System.Security.Cryptography;
using Parley.Core.Crypto;

namespace Parley.Net.Noise;

/// <summary>
/// Sans-IO Noise HandshakeState (rev 34, section 5.3) for Noise_XX_25519_ChaChaPoly_SHA256:
/// <c>-&gt; e</c>, <c>&lt;- e, ee, s, es</c>, <c>-&gt; s, se</c>. Messages are passed in and out as bytes;
/// framing and I/O belong to the caller.
/// </summary>
internal sealed class HandshakeState : IDisposable
{
    public const string ProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
    public const int MaxMessageLength = ushort.MaxValue;
    public const int DhLength = 32;

    private const int MessageCount = 3;

    private readonly ICryptoProvider _crypto;
    private readonly SymmetricState _symmetric;
    private readonly bool _initiator;
    private readonly byte[] _staticPrivate;
    private readonly byte[] _staticPublic;
    private byte[]? _ephemeralPrivate;
    private byte[]? _remoteEphemeral;
    private byte[]? _remoteStatic;
    private int _messageIndex;

    /// <param name="ephemeralPrivateKey">Empty to generate one; set only by known-answer tests.</param>
    public HandshakeState(
        ICryptoProvider crypto,
        bool initiator,
        ReadOnlySpan<byte> prologue,
        ReadOnlySpan<byte> staticPrivateKey,
        ReadOnlySpan<byte> ephemeralPrivateKey = default)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        if (staticPrivateKey.Length != DhLength)
        {
            throw new ArgumentException($"an X25519 private key is {DhLength} bytes", nameof(staticPrivateKey));
        }
        if (!ephemeralPrivateKey.IsEmpty && ephemeralPrivateKey.Length != DhLength)
        {
            throw new ArgumentException($"an X25519 private key is {DhLength} bytes", nameof(ephemeralPrivateKey));
        }
        _crypto = crypto;
        _initiator = initiator;
        _staticPrivate = staticPrivateKey.ToArray();
        _staticPublic = crypto.X25519PublicKey(_staticPrivate);
        if (!ephemeralPrivateKey.IsEmpty)
        {
            _ephemeralPrivate = ephemeralPrivateKey.ToArray();
        }
        _symmetric = new SymmetricState(crypto, ProtocolName);
        _symmetric.MixHash(prologue);
    }

    public bool IsComplete => _messageIndex == MessageCount;

    /// <summary>True when the next handshake message is ours to write.</summary>
    public bool IsMyTurn => !IsComplete && (_messageIndex % 2 == 0) == _initiator;

    public ReadOnlySpan<byte> LocalStaticPublicKey => _staticPublic;

    /// <summary>The peer's static key; known after message 2 (initiator) or message 3 (responder).</summary>
    public ReadOnlySpan<byte> RemoteStaticPublicKey => _remoteStatic;

    public ReadOnlySpan<byte> HandshakeHash => _symmetric.HandshakeHash;

    /// <summary>Builds the next handshake message carrying <paramref name="payload"/>.</summary>
    public byte[] WriteMessage(ReadOnlySpan<byte> payload)
    {
        if (!IsMyTurn)
        {
            throw new InvalidOperationException("it is not this side's turn to write a handshake message");
        }
        var length = WrittenLength(payload.Length);
        if (length > MaxMessageLength)
        {
            throw new ArgumentException("noise handshake message would exceed 65535 bytes", nameof(payload));
        }
        var message = new byte[length];
        var offset = 0;
        switch (_messageIndex)
        {
            case 0: // -> e
                offset += WriteEphemeral(message);
                break;
            case 1: // <- e, ee, s, es
                offset += WriteEphemeral(message);
                MixDh(_ephemeralPrivate!, _remoteEphemeral!);
                offset += _symmetric.EncryptAndHash(_staticPublic, message.AsSpan(offset));
                MixDh(_staticPrivate, _remoteEphemeral!);
                break;
            default: // -> s, se
                offset += _symmetric.EncryptAndHash(_staticPublic, message.AsSpan(offset));
                MixDh(_staticPrivate, _remoteEphemeral!);
                break;
        }
        _symmetric.EncryptAndHash(payload, message.AsSpan(offset));
        _messageIndex++;
        return message;
    }

    /// <summary>Processes the peer's next handshake message and returns its payload.</summary>
    /// <exception cref="NoiseHandshakeException">The message is truncated, oversized, fails authentication or carries an unusable key.</exception>
    public byte[] ReadMessage(ReadOnlySpan<byte> message)
    {
        if (IsComplete || IsMyTurn)
        {
            throw new InvalidOperationException("it is not this side's turn to read a handshake message");
        }
        if (message.Length > MaxMessageLength)
        {
            throw new NoiseHandshakeException("noise handshake message exceeds 65535 bytes");
        }
        var rest = message;
        switch (_messageIndex)
        {
            case 0: // -> e
                _remoteEphemeral = ReadEphemeral(ref rest);
                break;
            case 1: // <- e, ee, s, es
                _remoteEphemeral = ReadEphemeral(ref rest);
                MixDh(_ephemeralPrivate!, _remoteEphemeral);
                _remoteStatic = ReadStatic(ref rest);
                MixDh(_ephemeralPrivate!, _remoteStatic);
                break;
            default: // -> s, se
                _remoteStatic = ReadStatic(ref rest);
                MixDh(_ephemeralPrivate!, _remoteStatic);
                break;
        }
        if (_symmetric.HasKey && rest.Length < IAead.TagSize)
        {
            throw Truncated();
        }
        var payload = new byte[_symmetric.HasKey ? rest.Length - IAead.TagSize : rest.Length];
        _symmetric.DecryptAndHash(rest, payload);
        _messageIndex++;
        return payload;
    }

    /// <summary>The transport CipherStates from this side's point of view. The caller owns (disposes) both.</summary>
    public (CipherState Send, CipherState Receive) Split()
    {
        if (!IsComplete)
        {
            throw new InvalidOperationException("the noise handshake is not complete");
        }
        var (initiatorToResponder, responderToInitiator) = _symmetric.Split();
        return _initiator ? (initiatorToResponder, responderToInitiator) : (responderToInitiator, initiatorToResponder);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_staticPrivate);
        if (_ephemeralPrivate is not null)
        {
            CryptographicOperations.ZeroMemory(_ephemeralPrivate);
        }
        _symmetric.Dispose();
    }

    private int WrittenLength(int payloadLength)
    {
        // Message 0 travels before any key exists; from ee onward everything is encrypted with a tag.
        return _messageIndex switch
        {
            0 => DhLength + payloadLength,
            1 => DhLength + DhLength + IAead.TagSize + payloadLength + IAead.TagSize,
            _ => DhLength + IAead.TagSize + payloadLength + IAead.TagSize,
        };
    }

    private int WriteEphemeral(Span<byte> destination)
    {
        byte[] ephemeralPublic;
        if (_ephemeralPrivate is null)
        {
            (_ephemeralPrivate, ephemeralPublic) = _crypto.GenerateX25519KeyPair();
        }
        else
        {
            ephemeralPublic = _crypto.X25519PublicKey(_ephemeralPrivate);
        }
        ephemeralPublic.CopyTo(destination);
        _symmetric.MixHash(ephemeralPublic);
        return DhLength;
    }

    private byte[] ReadEphemeral(ref ReadOnlySpan<byte> rest)
    {
        if (rest.Length < DhLength)
        {
            throw Truncated();
        }
        var key = rest[..DhLength].ToArray();
        rest = rest[DhLength..];
        _symmetric.MixHash(key);
        return key;
    }

    private byte[] ReadStatic(ref ReadOnlySpan<byte> rest)
    {
        var length = _symmetric.CiphertextLength(DhLength);
        if (rest.Length < length)
        {
            throw Truncated();
        }
        var key = new byte[DhLength];
        _symmetric.DecryptAndHash(rest[..length], key);
        rest = rest[length..];
        return key;
    }

    private void MixDh(byte[] privateKey, byte[] publicKey)
    {
        byte[] shared;
        try
        {
            shared = _crypto.X25519Agree(privateKey, publicKey);
        }
        catch (CryptographicException e)
        {
            throw new NoiseHandshakeException("peer sent an unusable X25519 key", e);
        }
        _symmetric.MixKey(shared);
        CryptographicOperations.ZeroMemory(shared);
    }

    private static NoiseHandshakeException Truncated() => new("noise handshake message truncated");
}
