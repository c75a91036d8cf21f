using System.Security.Cryptography;
using Parley.Core.Crypto;

namespace Parley.Chat.Crypto;

/// <summary>An X25519 key pair: 32-byte private scalar (unclamped, as generated) and 32-byte public point.</summary>
public sealed record X25519KeyPair(byte[] PrivateKey, byte[] PublicKey)
{
    public const int KeySize = 32;

    /// <summary>A fresh pair from the provider's generator (so tests can substitute fixed keys through the provider).</summary>
    public static X25519KeyPair Generate(ICryptoProvider crypto)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        var (privateKey, publicKey) = crypto.GenerateX25519KeyPair();
        return new X25519KeyPair(privateKey, publicKey);
    }

    /// <summary>The pair of <paramref name="privateKey"/> (copied).</summary>
    public static X25519KeyPair FromPrivateKey(ICryptoProvider crypto, byte[] privateKey)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(privateKey);
        if (privateKey.Length != KeySize)
        {
            throw new ArgumentException($"an X25519 private key is {KeySize} bytes, got {privateKey.Length}", nameof(privateKey));
        }
        return new X25519KeyPair(privateKey.ToArray(), crypto.X25519PublicKey(privateKey));
    }

    /// <summary>A copy that owns its arrays, so the copy can be wiped without touching the caller's key.</summary>
    internal X25519KeyPair Copy() => new(PrivateKey.ToArray(), PublicKey.ToArray());

    internal void ZeroPrivateKey() => CryptographicOperations.ZeroMemory(PrivateKey);

    // Records print their members; a private key must never reach a log.
    public override string ToString() => $"X25519KeyPair {{ PublicKey = {Convert.ToHexStringLower(PublicKey)} }}";
}
