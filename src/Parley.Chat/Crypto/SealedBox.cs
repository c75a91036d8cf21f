using System.Security.Cryptography;
using Parley.Core.Crypto;

namespace Parley.Chat.Crypto;

/// <summary>
/// Sealed sender (docs/chat.md section 3): anonymous public-key encryption to a recipient's identity DH key IK_B.
/// A fresh ephemeral X25519 key E per box; key ‖ nonce = HKDF-SHA256(ikm = DH(E, IK_B), salt = E_pub ‖ IK_B,
/// info "Parley_Sealed_v1") → 32 + 12 bytes; ChaCha20-Poly1305 with the version byte as associated data.
/// Box = version (1 byte, 1) ‖ E_pub (32) ‖ ciphertext ‖ tag (16). The box says nothing about its sender: whatever
/// identifies the sender travels inside the plaintext.
/// </summary>
public static class SealedBox
{
    public const byte Version = 1;

    /// <summary>Bytes a box adds to its plaintext.</summary>
    public const int Overhead = 1 + X25519KeyPair.KeySize + IAead.TagSize;

    private const int KeySize = 32;
    private static readonly byte[] Info = "Parley_Sealed_v1"u8.ToArray();

    /// <exception cref="ArgumentException"><paramref name="recipientIdentityDhKey"/> is not a usable X25519 public key.</exception>
    public static byte[] Seal(ICryptoProvider crypto, ReadOnlySpan<byte> recipientIdentityDhKey, ReadOnlySpan<byte> plaintext)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        if (recipientIdentityDhKey.Length != X25519KeyPair.KeySize)
        {
            throw new ArgumentException($"the recipient key must be {X25519KeyPair.KeySize} bytes, got {recipientIdentityDhKey.Length}", nameof(recipientIdentityDhKey));
        }
        var ephemeral = X25519KeyPair.Generate(crypto);
        byte[] shared;
        try
        {
            shared = crypto.X25519Agree(ephemeral.PrivateKey, recipientIdentityDhKey);
        }
        catch (CryptographicException e)
        {
            throw new ArgumentException("the recipient key is a low-order point", nameof(recipientIdentityDhKey), e);
        }
        finally
        {
            ephemeral.ZeroPrivateKey();
        }
        var box = new byte[Overhead + plaintext.Length];
        box[0] = Version;
        ephemeral.PublicKey.CopyTo(box, 1);
        Span<byte> keyAndNonce = stackalloc byte[KeySize + IAead.NonceSize];
        DeriveKeyAndNonce(crypto, shared, ephemeral.PublicKey, recipientIdentityDhKey, keyAndNonce);
        using (var aead = crypto.CreateChaCha20Poly1305(keyAndNonce[..KeySize]))
        {
            aead.Encrypt(keyAndNonce[KeySize..], plaintext, box.AsSpan(0, 1), box.AsSpan(1 + X25519KeyPair.KeySize));
        }
        CryptographicOperations.ZeroMemory(keyAndNonce);
        return box;
    }

    /// <exception cref="SealedBoxException">Truncated, an unknown version, a bad ephemeral key, not for this key, or altered.</exception>
    public static byte[] Open(ICryptoProvider crypto, X25519KeyPair recipientIdentity, ReadOnlySpan<byte> sealedBox)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(recipientIdentity);
        if (sealedBox.IsEmpty)
        {
            throw new SealedBoxException("the sealed box is empty");
        }
        if (sealedBox[0] != Version)
        {
            throw new SealedBoxException($"unknown sealed box version {sealedBox[0]}");
        }
        if (sealedBox.Length < Overhead)
        {
            throw new SealedBoxException($"a sealed box of {sealedBox.Length} bytes is shorter than the minimum {Overhead}");
        }
        var ephemeralPublic = sealedBox.Slice(1, X25519KeyPair.KeySize);
        byte[] shared;
        try
        {
            shared = crypto.X25519Agree(recipientIdentity.PrivateKey, ephemeralPublic);
        }
        catch (CryptographicException e)
        {
            throw new SealedBoxException("the sealed box's ephemeral key is a low-order point", e);
        }
        Span<byte> keyAndNonce = stackalloc byte[KeySize + IAead.NonceSize];
        DeriveKeyAndNonce(crypto, shared, ephemeralPublic, recipientIdentity.PublicKey, keyAndNonce);
        var plaintext = new byte[sealedBox.Length - Overhead];
        bool authentic;
        using (var aead = crypto.CreateChaCha20Poly1305(keyAndNonce[..KeySize]))
        {
            authentic = aead.TryDecrypt(keyAndNonce[KeySize..], sealedBox[(1 + X25519KeyPair.KeySize)..], sealedBox[..1], plaintext);
        }
        CryptographicOperations.ZeroMemory(keyAndNonce);
        if (!authentic)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new SealedBoxException("the sealed box is not for this key, or it was altered");
        }
        return plaintext;
    }

    /// <summary>Wipes <paramref name="shared"/> once used.</summary>
    private static void DeriveKeyAndNonce(ICryptoProvider crypto, byte[] shared, ReadOnlySpan<byte> ephemeralPublic, ReadOnlySpan<byte> recipientPublic, Span<byte> destination)
    {
        Span<byte> salt = stackalloc byte[2 * X25519KeyPair.KeySize];
        ephemeralPublic.CopyTo(salt);
        recipientPublic.CopyTo(salt[X25519KeyPair.KeySize..]);
        crypto.HkdfSha256(shared, salt, Info, destination);
        CryptographicOperations.ZeroMemory(shared);
    }
}
