using Parley.Chat.Crypto;
using Parley.Core.Crypto;

namespace Parley.Chat.Tests.Crypto;

/// <summary>
/// The default provider, except that X25519 key pairs (and, when given, random bytes) come from fixed queues:
/// the seam through which the known-answer tests inject the vectors' ephemeral and ratchet keys.
/// </summary>
internal sealed class FixedKeyCryptoProvider(IEnumerable<byte[]> x25519PrivateKeys, IEnumerable<byte[]>? randomBytes = null) : ICryptoProvider
{
    private readonly DefaultCryptoProvider _inner = DefaultCryptoProvider.Instance;
    private readonly Queue<byte[]> _privateKeys = new(x25519PrivateKeys);
    private readonly Queue<byte[]> _randomBytes = new(randomBytes ?? []);

    public int RemainingKeys => _privateKeys.Count;

    public void RandomBytes(Span<byte> destination)
    {
        var next = _randomBytes.Dequeue();
        Assert.Equal(next.Length, destination.Length);
        next.CopyTo(destination);
    }

    public (byte[] PrivateKey, byte[] PublicKey) GenerateX25519KeyPair()
    {
        var privateKey = _privateKeys.Dequeue().ToArray();
        return (privateKey, _inner.X25519PublicKey(privateKey));
    }

    public byte[] X25519PublicKey(ReadOnlySpan<byte> privateKey) => _inner.X25519PublicKey(privateKey);

    public byte[] X25519Agree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> peerPublicKey) => _inner.X25519Agree(privateKey, peerPublicKey);

    public (byte[] Seed, byte[] PublicKey) GenerateEd25519KeyPair() => _inner.GenerateEd25519KeyPair();

    public byte[] Ed25519PublicKey(ReadOnlySpan<byte> seed) => _inner.Ed25519PublicKey(seed);

    public byte[] Ed25519Sign(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> message) => _inner.Ed25519Sign(seed, message);

    public bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature) => _inner.Ed25519Verify(publicKey, message, signature);

    public IAead CreateChaCha20Poly1305(ReadOnlySpan<byte> key) => _inner.CreateChaCha20Poly1305(key);

    public void Sha256(ReadOnlySpan<byte> data, Span<byte> destination) => _inner.Sha256(data, destination);

    public void HmacSha256(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> destination) => _inner.HmacSha256(key, data, destination);

    public void HkdfSha256(ReadOnlySpan<byte> inputKeyMaterial, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info, Span<byte> output) =>
        _inner.HkdfSha256(inputKeyMaterial, salt, info, output);
}

/// <summary>Two parties with random keys, through X3DH (with a one-time prekey) into a pair of ratchet sessions.</summary>
internal sealed class SessionPair
{
    public static readonly DefaultCryptoProvider Crypto = DefaultCryptoProvider.Instance;

    private SessionPair(RatchetSession alice, RatchetSession bob, byte[] associatedData)
    {
        Alice = alice;
        Bob = bob;
        AssociatedData = associatedData;
    }

    public RatchetSession Alice { get; }

    public RatchetSession Bob { get; }

    public byte[] AssociatedData { get; }

    /// <summary>Alice's first message is already delivered, so both sides can send.</summary>
    public static SessionPair Create()
    {
        var aliceAccount = AccountKey();
        var bobAccount = AccountKey();
        var aliceIdentity = X25519KeyPair.Generate(Crypto);
        var bobIdentity = X25519KeyPair.Generate(Crypto);
        var bobSignedPrekey = X25519KeyPair.Generate(Crypto);
        var bobOneTimePrekey = X25519KeyPair.Generate(Crypto);
        var initiation = X3dh.Initiate(Crypto, aliceAccount, aliceIdentity, bobAccount, bobIdentity.PublicKey, bobSignedPrekey.PublicKey, bobOneTimePrekey.PublicKey);
        var response = X3dh.Respond(Crypto, bobAccount, bobIdentity, bobSignedPrekey, bobOneTimePrekey, aliceAccount, aliceIdentity.PublicKey, initiation.EphemeralPublicKey);
        var alice = RatchetSession.InitializeAsInitiator(Crypto, initiation.SharedSecret, initiation.AssociatedData, bobSignedPrekey.PublicKey);
        var bob = RatchetSession.InitializeAsResponder(Crypto, response.SharedSecret, response.AssociatedData, bobSignedPrekey);
        Assert.Equal("hello"u8.ToArray(), bob.Decrypt(alice.Encrypt("hello"u8)));
        return new SessionPair(alice, bob, initiation.AssociatedData);
    }

    /// <summary>An Ed25519 public key in libp2p protobuf form, as X3DH's associated data carries it.</summary>
    public static byte[] AccountKey() => [0x08, 0x01, 0x12, 0x20, .. Crypto.GenerateEd25519KeyPair().PublicKey];
}

internal static class Bytes
{
    public static byte[] Text(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    public static byte[] Hex(string hex) => Convert.FromHexString(hex);

    public static byte[] Flip(byte[] bytes, int index, byte mask = 0x01)
    {
        var copy = bytes.ToArray();
        copy[index] ^= mask;
        return copy;
    }
}
