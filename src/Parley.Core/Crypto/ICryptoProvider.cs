namespace Parley.Core.Crypto;

/// <summary>
/// Every primitive Parley uses, behind one seam: .NET's AEAD, hashes and HKDF, NSec's (libsodium) curves.
/// Keys are plain byte arrays (32-byte X25519 scalars/points, 32-byte Ed25519 seeds/public keys).
/// </summary>
public interface ICryptoProvider
{
    /// <summary>Cryptographically secure random bytes.</summary>
    void RandomBytes(Span<byte> destination);

    /// <summary>Returns (privateKey, publicKey), 32 bytes each.</summary>
    (byte[] PrivateKey, byte[] PublicKey) GenerateX25519KeyPair();

    byte[] X25519PublicKey(ReadOnlySpan<byte> privateKey);

    /// <summary>The X25519 shared secret. </summary>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The peer's point is of low order (the result would be all zeros).</exception>
    byte[] X25519Agree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> peerPublicKey);

    /// <summary>Returns (seed, publicKey), 32 bytes each.</summary>
    (byte[] Seed, byte[] PublicKey) GenerateEd25519KeyPair();

    byte[] Ed25519PublicKey(ReadOnlySpan<byte> seed);

    byte[] Ed25519Sign(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> message);

    bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature);

    /// <summary>ChaCha20-Poly1305 (RFC 8439) bound to one 32-byte key; dispose it when the key is retired.</summary>
    IAead CreateChaCha20Poly1305(ReadOnlySpan<byte> key);

    void Sha256(ReadOnlySpan<byte> data, Span<byte> destination);

    void HmacSha256(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> destination);

    /// <summary>HKDF-SHA256 (RFC 5869) extract-then-expand.</summary>
    void HkdfSha256(ReadOnlySpan<byte> inputKeyMaterial, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info, Span<byte> output);
}

/// <summary>An AEAD with a fixed key: 12-byte nonce, 16-byte tag appended to the ciphertext.</summary>
public interface IAead : IDisposable
{
    const int TagSize = 16;
    const int NonceSize = 12;

    /// <summary>Writes ciphertext followed by the tag; <paramref name="destination"/> is plaintext length + 16.</summary>
    void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> destination);

    /// <summary>Returns false (and leaves <paramref name="destination"/> unspecified) when authentication fails.</summary>
    bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertextWithTag, ReadOnlySpan<byte> associatedData, Span<byte> destination);
}
