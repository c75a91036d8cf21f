using System.Security.Cryptography;
using NSec.Cryptography;

namespace Parley.Core.Crypto;

/// <summary>
/// .NET for AEAD, SHA-256, HMAC and HKDF; libsodium (shipped and loaded by NSec) for X25519 and Ed25519. Operations on
/// a private key call libsodium directly on the caller's bytes: NSec copies every private key and every shared secret
/// into its own guarded memory (an mmap, mprotect and mlock per key, then their undoing), which cost more than the
/// curve operation itself here, and protected nothing, since Parley's keys live in managed arrays anyway.
/// Verification, which holds no secret, goes through NSec.
/// </summary>
public sealed class DefaultCryptoProvider : ICryptoProvider
{
    private const int X25519KeySize = 32;
    private const int Ed25519KeySize = 32;
    private const int Ed25519SignatureSize = 64;

    public static DefaultCryptoProvider Instance { get; } = new();

    public void RandomBytes(Span<byte> destination) => RandomNumberGenerator.Fill(destination);

    public (byte[] PrivateKey, byte[] PublicKey) GenerateX25519KeyPair()
    {
        var privateKey = new byte[X25519KeySize];
        RandomNumberGenerator.Fill(privateKey);
        return (privateKey, X25519PublicKey(privateKey));
    }

    public byte[] X25519PublicKey(ReadOnlySpan<byte> privateKey)
    {
        RequireLength(privateKey, X25519KeySize, nameof(privateKey));
        var publicKey = new byte[X25519KeySize];
        Libsodium.Check(Libsodium.X25519Base(publicKey, privateKey), "X25519 public key");
        return publicKey;
    }

    public byte[] X25519Agree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> peerPublicKey)
    {
        RequireLength(privateKey, X25519KeySize, nameof(privateKey));
        RequireLength(peerPublicKey, X25519KeySize, nameof(peerPublicKey));
        var shared = new byte[X25519KeySize];
        // libsodium refuses an all-zero result, which is what a low-order point gives.
        if (Libsodium.X25519(shared, privateKey, peerPublicKey) != 0)
        {
            throw new CryptographicException("X25519 agreement with a low-order point");
        }
        return shared;
    }

    public (byte[] Seed, byte[] PublicKey) GenerateEd25519KeyPair()
    {
        var seed = new byte[Ed25519KeySize];
        RandomNumberGenerator.Fill(seed);
        return (seed, Ed25519PublicKey(seed));
    }

    public byte[] Ed25519PublicKey(ReadOnlySpan<byte> seed)
    {
        RequireLength(seed, Ed25519KeySize, nameof(seed));
        var publicKey = new byte[Ed25519KeySize];
        Span<byte> secretKey = stackalloc byte[2 * Ed25519KeySize];
        Libsodium.Check(Libsodium.Ed25519SeedKeyPair(publicKey, secretKey, seed), "Ed25519 key pair");
        CryptographicOperations.ZeroMemory(secretKey);
        return publicKey;
    }

    public byte[] Ed25519Sign(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> message)
    {
        RequireLength(seed, Ed25519KeySize, nameof(seed));
        Span<byte> publicKey = stackalloc byte[Ed25519KeySize];
        Span<byte> secretKey = stackalloc byte[2 * Ed25519KeySize];
        var signature = new byte[Ed25519SignatureSize];
        try
        {
            Libsodium.Check(Libsodium.Ed25519SeedKeyPair(publicKey, secretKey, seed), "Ed25519 key pair");
            Libsodium.Check(Libsodium.Ed25519SignDetached(signature, out _, message, (ulong)message.Length, secretKey), "Ed25519 signature");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secretKey);
        }
        return signature;
    }

    public bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != Ed25519KeySize || signature.Length != Ed25519SignatureSize
            || !NSec.Cryptography.PublicKey.TryImport(SignatureAlgorithm.Ed25519, publicKey, KeyBlobFormat.RawPublicKey, out var key)
            || key is null)
        {
            return false;
        }
        return SignatureAlgorithm.Ed25519.Verify(key, message, signature);
    }

    public IAead CreateChaCha20Poly1305(ReadOnlySpan<byte> key) => new ChaChaAead(key);

    public void Sha256(ReadOnlySpan<byte> data, Span<byte> destination) => SHA256.HashData(data, destination);

    public void HmacSha256(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> destination) =>
        HMACSHA256.HashData(key, data, destination);

    public void HkdfSha256(ReadOnlySpan<byte> inputKeyMaterial, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> info, Span<byte> output) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, inputKeyMaterial, output, salt, info);

    private static void RequireLength(ReadOnlySpan<byte> value, int length, string name)
    {
        if (value.Length != length)
        {
            throw new ArgumentException($"expected {length} bytes, got {value.Length}", name);
        }
    }

    private sealed class ChaChaAead(ReadOnlySpan<byte> key) : IAead
    {
        private readonly System.Security.Cryptography.ChaCha20Poly1305 _cipher = new(key);

        public void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData, Span<byte> destination) =>
            _cipher.Encrypt(nonce, plaintext, destination[..plaintext.Length], destination.Slice(plaintext.Length, IAead.TagSize), associatedData);

        public bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertextWithTag, ReadOnlySpan<byte> associatedData, Span<byte> destination)
        {
            if (ciphertextWithTag.Length < IAead.TagSize)
            {
                return false;
            }
            var ciphertextLength = ciphertextWithTag.Length - IAead.TagSize;
            try
            {
                _cipher.Decrypt(nonce, ciphertextWithTag[..ciphertextLength], ciphertextWithTag[ciphertextLength..], destination[..ciphertextLength], associatedData);
                return true;
            }
            catch (AuthenticationTagMismatchException)
            {
                return false;
            }
        }

        public void Dispose() => _cipher.Dispose();
    }
}
