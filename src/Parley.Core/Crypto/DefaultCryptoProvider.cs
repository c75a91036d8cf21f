using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace Parley.Core.Crypto;

/// <summary>.NET for AEAD, SHA-256, HMAC and HKDF; Portable.BouncyCastle for X25519 and Ed25519.</summary>
public sealed class DefaultCryptoProvider : ICryptoProvider
{
    public static DefaultCryptoProvider Instance { get; } = new();

    public void RandomBytes(Span<byte> destination) => RandomNumberGenerator.Fill(destination);

    public (byte[] PrivateKey, byte[] PublicKey) GenerateX25519KeyPair()
    {
        var privateKey = new byte[X25519.ScalarSize];
        RandomNumberGenerator.Fill(privateKey);
        return (privateKey, X25519PublicKey(privateKey));
    }

    public byte[] X25519PublicKey(ReadOnlySpan<byte> privateKey)
    {
        RequireLength(privateKey, X25519.ScalarSize, nameof(privateKey));
        var publicKey = new byte[X25519.PointSize];
        X25519.ScalarMultBase(privateKey.ToArray(), 0, publicKey, 0);
        return publicKey;
    }

    public byte[] X25519Agree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> peerPublicKey)
    {
        RequireLength(privateKey, X25519.ScalarSize, nameof(privateKey));
        RequireLength(peerPublicKey, X25519.PointSize, nameof(peerPublicKey));
        var shared = new byte[X25519.PointSize];
        if (!X25519.CalculateAgreement(privateKey.ToArray(), 0, peerPublicKey.ToArray(), 0, shared, 0))
        {
            throw new CryptographicException("X25519 agreement with a low-order point");
        }
        return shared;
    }

    public (byte[] Seed, byte[] PublicKey) GenerateEd25519KeyPair()
    {
        var seed = new byte[Ed25519.SecretKeySize];
        RandomNumberGenerator.Fill(seed);
        return (seed, Ed25519PublicKey(seed));
    }

    public byte[] Ed25519PublicKey(ReadOnlySpan<byte> seed)
    {
        RequireLength(seed, Ed25519.SecretKeySize, nameof(seed));
        var publicKey = new byte[Ed25519.PublicKeySize];
        Ed25519.GeneratePublicKey(seed.ToArray(), 0, publicKey, 0);
        return publicKey;
    }

    public byte[] Ed25519Sign(ReadOnlySpan<byte> seed, ReadOnlySpan<byte> message)
    {
        RequireLength(seed, Ed25519.SecretKeySize, nameof(seed));
        var signature = new byte[Ed25519.SignatureSize];
        var messageArray = message.ToArray();
        Ed25519.Sign(seed.ToArray(), 0, messageArray, 0, messageArray.Length, signature, 0);
        return signature;
    }

    public bool Ed25519Verify(ReadOnlySpan<byte> publicKey, ReadOnlySpan<byte> message, ReadOnlySpan<byte> signature)
    {
        if (publicKey.Length != Ed25519.PublicKeySize || signature.Length != Ed25519.SignatureSize)
        {
            return false;
        }
        var messageArray = message.ToArray();
        return Ed25519.Verify(signature.ToArray(), 0, publicKey.ToArray(), 0, messageArray, 0, messageArray.Length);
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
        private readonly ChaCha20Poly1305 _cipher = new(key);

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
