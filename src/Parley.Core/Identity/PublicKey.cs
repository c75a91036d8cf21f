using Parley.Core.Crypto;

namespace Parley.Core.Identity;

/// <summary>An Ed25519 public key as libp2p encodes it: protobuf <c>PublicKey { KeyType Type = 1; bytes Data = 2; }</c>.</summary>
public sealed class PublicKey : IEquatable<PublicKey>
{
    public const int Ed25519Length = 32;

    /// <summary>Bound on an encoded key we agree to parse, so a hostile peer cannot make us allocate.</summary>
    public const int MaxEncodedLength = 1024;

    private readonly byte[] _raw;

    // Every envelope received derives its sender's id from their key (and stores it by its base58 text): kept, the key being immutable.
    private PeerId? _peerId;

    public PublicKey(ReadOnlySpan<byte> ed25519PublicKey)
    {
        if (ed25519PublicKey.Length != Ed25519Length)
        {
            throw new ArgumentException("an Ed25519 public key is 32 bytes", nameof(ed25519PublicKey));
        }
        _raw = ed25519PublicKey.ToArray();
    }

    public static KeyType Type => KeyType.Ed25519;

    /// <summary>The 32 raw key bytes.</summary>
    public ReadOnlySpan<byte> Raw => _raw;

    /// <summary>The deterministic protobuf encoding libp2p hashes into PeerIds and sends in handshakes.</summary>
    public byte[] ToProtobuf() => KeyProtobuf.Encode(KeyType.Ed25519, _raw);

    /// <exception cref="FormatException">Malformed protobuf, or a key type other than Ed25519.</exception>
    public static PublicKey FromProtobuf(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length > MaxEncodedLength)
        {
            throw new FormatException("encoded public key too long");
        }
        var (type, data) = KeyProtobuf.Decode(encoded);
        if (type != KeyType.Ed25519)
        {
            throw new FormatException($"unsupported public key type {type}; Parley accepts Ed25519 only");
        }
        if (data.Length != Ed25519Length)
        {
            throw new FormatException("an Ed25519 public key is 32 bytes");
        }
        return new PublicKey(data);
    }

    public bool Verify(ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature, ICryptoProvider? crypto = null) =>
        (crypto ?? DefaultCryptoProvider.Instance).Ed25519Verify(_raw, message, signature);

    public PeerId ToPeerId() => _peerId ??= PeerId.FromPublicKey(this);

    public bool Equals(PublicKey? other) => other is not null && _raw.AsSpan().SequenceEqual(other._raw);

    public override bool Equals(object? obj) => Equals(obj as PublicKey);

    public override int GetHashCode() => BitConverter.ToInt32(_raw, 0);
}
