using Parley.Core.Crypto;

namespace Parley.Core.Identity;

/// <summary>An Ed25519 key pair: a node's libp2p identity or a user's account key.</summary>
public sealed class IdentityKey
{
    public const int SeedLength = 32;

    private readonly byte[] _seed;
    private readonly ICryptoProvider _crypto;

    private IdentityKey(byte[] seed, ICryptoProvider crypto)
    {
        _seed = seed;
        _crypto = crypto;
        PublicKey = new PublicKey(crypto.Ed25519PublicKey(seed));
        PeerId = PeerId.FromPublicKey(PublicKey);
    }

    public PublicKey PublicKey { get; }

    public PeerId PeerId { get; }

    public static IdentityKey Generate(ICryptoProvider? crypto = null)
    {
        crypto ??= DefaultCryptoProvider.Instance;
        var (seed, _) = crypto.GenerateEd25519KeyPair();
        return new IdentityKey(seed, crypto);
    }

    public static IdentityKey FromSeed(ReadOnlySpan<byte> seed, ICryptoProvider? crypto = null)
    {
        if (seed.Length != SeedLength)
        {
            throw new ArgumentException("an Ed25519 seed is 32 bytes", nameof(seed));
        }
        return new IdentityKey(seed.ToArray(), crypto ?? DefaultCryptoProvider.Instance);
    }

    public byte[] Sign(ReadOnlySpan<byte> message) => _crypto.Ed25519Sign(_seed, message);

    /// <summary>libp2p's <c>PrivateKey</c> protobuf; Ed25519 data is seed followed by public key (64 bytes).</summary>
    public byte[] ToPrivateKeyProtobuf()
    {
        var data = new byte[64];
        _seed.CopyTo(data, 0);
        PublicKey.Raw.CopyTo(data.AsSpan(32));
        return KeyProtobuf.Encode(KeyType.Ed25519, data);
    }

    /// <summary>
    /// Reads libp2p's <c>PrivateKey</c> protobuf. Ed25519 data is seed + public key (64 bytes), the legacy
    /// seed + public key + public key (96 bytes, peer-ids spec), or a bare 32-byte seed.
    /// </summary>
    /// <exception cref="FormatException">Not an Ed25519 private key, or a public half that does not match its seed.</exception>
    public static IdentityKey FromPrivateKeyProtobuf(ReadOnlySpan<byte> encoded, ICryptoProvider? crypto = null)
    {
        var (type, data) = KeyProtobuf.Decode(encoded);
        if (type != KeyType.Ed25519 || data.Length is not (SeedLength or 2 * SeedLength or 3 * SeedLength))
        {
            throw new FormatException("not an Ed25519 private key");
        }
        var key = FromSeed(data.AsSpan(0, SeedLength), crypto);
        for (var offset = SeedLength; offset < data.Length; offset += PublicKey.Ed25519Length)
        {
            if (!key.PublicKey.Raw.SequenceEqual(data.AsSpan(offset, PublicKey.Ed25519Length)))
            {
                throw new FormatException("Ed25519 private key's public half does not match its seed");
            }
        }
        return key;
    }
}
