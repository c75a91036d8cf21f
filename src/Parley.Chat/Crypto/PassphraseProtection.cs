using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Generators;
using Parley.Core.Crypto;

namespace Parley.Chat.Crypto;

/// <summary>scrypt's cost: N (a power of two), r and p. Bounded so that a crafted file cannot demand gigabytes.</summary>
public sealed record ScryptCost
{
    public const int MaxLogN = 20;
    public const int MaxR = 32;
    public const int MaxP = 16;

    /// <summary>scrypt needs 128 · N · r bytes; 256 MiB allows 8 times the default.</summary>
    public const long MaxMemoryBytes = 256L * 1024 * 1024;

    public ScryptCost(int n, int r, int p)
    {
        if (n < 2 || !BitOperations.IsPow2(n) || BitOperations.Log2((uint)n) > MaxLogN)
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, $"N must be a power of two from 2 to 2^{MaxLogN}");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(r, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(r, MaxR);
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, MaxP);
        if (128L * n * r > MaxMemoryBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(n), n, $"128 · N · r exceeds {MaxMemoryBytes} bytes");
        }
        N = n;
        R = r;
        P = p;
    }

    /// <summary>N = 2^15, r = 8, p = 1: 32 MiB; see docs/ratchet.md for the measured time.</summary>
    public static ScryptCost Default { get; } = new(1 << 15, 8, 1);

    public int N { get; }

    public int R { get; }

    public int P { get; }
}

/// <summary>
/// Secrets at rest under a passphrase: key = scrypt(UTF-8 passphrase, salt, N, r, p) → 32 bytes, then
/// ChaCha20-Poly1305. Output (self-describing):
/// <code>
/// "PLPK"            4 ASCII bytes
/// version           1 byte, 1
/// log2 N, r, p      1 byte each
/// salt              16 random bytes
/// nonce             12 random bytes
/// ciphertext ‖ tag  secret length + 16
/// </code>
/// The 36 bytes before the ciphertext are the AEAD's associated data, so the cost cannot be altered unnoticed.
/// The passphrase is not Unicode-normalised (the process runs with invariant globalization, which has no
/// normalisation): the same characters typed the same way give the same key.
/// </summary>
public static class PassphraseProtection
{
    public const byte Version = 1;
    public const int SaltSize = 16;
    public const int HeaderSize = 4 + 4 + SaltSize + IAead.NonceSize;
    public const int Overhead = HeaderSize + IAead.TagSize;

    private const int KeySize = 32;
    private static readonly byte[] Magic = "PLPK"u8.ToArray();

    public static byte[] Protect(ICryptoProvider crypto, string passphrase, ReadOnlySpan<byte> secret, ScryptCost? cost = null)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(passphrase);
        cost ??= ScryptCost.Default;
        var output = new byte[Overhead + secret.Length];
        Magic.CopyTo(output, 0);
        output[4] = Version;
        output[5] = (byte)BitOperations.Log2((uint)cost.N);
        output[6] = (byte)cost.R;
        output[7] = (byte)cost.P;
        var salt = output.AsSpan(8, SaltSize);
        var nonce = output.AsSpan(8 + SaltSize, IAead.NonceSize);
        crypto.RandomBytes(salt);
        crypto.RandomBytes(nonce);
        var key = DeriveKey(passphrase, salt, cost);
        using (var aead = crypto.CreateChaCha20Poly1305(key))
        {
            aead.Encrypt(nonce, secret, output.AsSpan(0, HeaderSize), output.AsSpan(HeaderSize));
        }
        CryptographicOperations.ZeroMemory(key);
        return output;
    }

    /// <exception cref="FormatException">Not bytes written by <see cref="Protect"/> (or a cost out of bounds).</exception>
    /// <exception cref="WrongPassphraseException">The passphrase is wrong or the bytes were altered.</exception>
    public static byte[] Unprotect(ICryptoProvider crypto, string passphrase, ReadOnlySpan<byte> protectedBytes)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(passphrase);
        if (protectedBytes.Length < Overhead)
        {
            throw new FormatException($"passphrase-protected data of {protectedBytes.Length} bytes is shorter than the minimum {Overhead}");
        }
        if (!protectedBytes[..4].SequenceEqual(Magic))
        {
            throw new FormatException("not passphrase-protected data (no PLPK prefix)");
        }
        if (protectedBytes[4] != Version)
        {
            throw new FormatException($"unknown passphrase protection version {protectedBytes[4]}");
        }
        ScryptCost cost;
        try
        {
            cost = new ScryptCost(protectedBytes[5] is >= 1 and <= ScryptCost.MaxLogN ? 1 << protectedBytes[5] : 0, protectedBytes[6], protectedBytes[7]);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"the scrypt cost (log2 N {protectedBytes[5]}, r {protectedBytes[6]}, p {protectedBytes[7]}) is out of bounds", e);
        }
        var key = DeriveKey(passphrase, protectedBytes.Slice(8, SaltSize), cost);
        var secret = new byte[protectedBytes.Length - Overhead];
        bool authentic;
        using (var aead = crypto.CreateChaCha20Poly1305(key))
        {
            authentic = aead.TryDecrypt(protectedBytes.Slice(8 + SaltSize, IAead.NonceSize), protectedBytes[HeaderSize..], protectedBytes[..HeaderSize], secret);
        }
        CryptographicOperations.ZeroMemory(key);
        if (!authentic)
        {
            CryptographicOperations.ZeroMemory(secret);
            throw new WrongPassphraseException();
        }
        return secret;
    }

    private static byte[] DeriveKey(string passphrase, ReadOnlySpan<byte> salt, ScryptCost cost)
    {
        var passphraseBytes = Encoding.UTF8.GetBytes(passphrase);
        try
        {
            return SCrypt.Generate(passphraseBytes, salt.ToArray(), cost.N, cost.R, cost.P, KeySize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passphraseBytes);
        }
    }
}
