using System.Numerics;
using System.Security.Cryptography;
using System.Text;
using NSec.Cryptography;
using Parley.Core.Crypto;

namespace Parley.Chat.Crypto;

/// <summary>Argon2id's cost: memory (a power of two, in KiB) and passes, one lane (libsodium's only choice).
/// Bounded so that a crafted file cannot demand gigabytes or hours.</summary>
public sealed record Argon2Cost
{
    public const int MinLogMemoryKib = 3;
    public const int MaxLogMemoryKib = 18;
    public const int MaxPasses = 10;

    public Argon2Cost(int memoryKib, int passes)
    {
        if (memoryKib < 1 << MinLogMemoryKib || !BitOperations.IsPow2(memoryKib) || BitOperations.Log2((uint)memoryKib) > MaxLogMemoryKib)
        {
            throw new ArgumentOutOfRangeException(nameof(memoryKib), memoryKib, $"memory must be a power of two from 2^{MinLogMemoryKib} to 2^{MaxLogMemoryKib} KiB");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(passes, MaxPasses);
        MemoryKib = memoryKib;
        Passes = passes;
    }

    /// <summary>64 MiB and 3 passes (RFC 9106's second recommendation with libsodium's single lane); see
    /// docs/benchmarks.md for the measured time.</summary>
    public static Argon2Cost Default { get; } = new(1 << 16, 3);

    public int MemoryKib { get; }

    public int Passes { get; }
}

/// <summary>scrypt's cost in version 1 data, which is still read (and then rewrapped, see
/// <see cref="PassphraseProtection.IsCurrent"/>). Bounded so that a crafted file cannot demand gigabytes.</summary>
public sealed record ScryptCost
{
    public const int MaxLogN = 20;
    public const int MaxR = 32;
    public const int MaxP = 16;

    /// <summary>scrypt needs 128 · N · r bytes; 256 MiB allowed 8 times version 1's default.</summary>
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

    public int N { get; }

    public int R { get; }

    public int P { get; }
}

/// <summary>
/// Secrets at rest under a passphrase: key = Argon2id(UTF-8 passphrase, salt, memory, passes, one lane) → 32 bytes,
/// then ChaCha20-Poly1305. Output (self-describing):
/// <code>
/// "PLPK"              4 ASCII bytes
/// version             1 byte, 2 (1: the same with scrypt, log2 N, r, p in the next three bytes; read, never written)
/// log2 memory (KiB)   1 byte
/// passes              1 byte
/// lanes               1 byte, 1
/// salt                16 random bytes
/// nonce               12 random bytes
/// ciphertext ‖ tag    secret length + 16
/// </code>
/// The 36 bytes before the ciphertext are the AEAD's associated data, so the cost cannot be altered unnoticed.
/// The passphrase is not Unicode-normalised (the process runs with invariant globalization, which has no
/// normalisation): the same characters typed the same way give the same key.
/// </summary>
public static class PassphraseProtection
{
    public const byte Version = 2;
    public const byte ScryptVersion = 1;
    public const int SaltSize = 16;
    public const int HeaderSize = 4 + 4 + SaltSize + IAead.NonceSize;
    public const int Overhead = HeaderSize + IAead.TagSize;

    private const int KeySize = 32;
    private static readonly byte[] Magic = "PLPK"u8.ToArray();

    public static byte[] Protect(ICryptoProvider crypto, string passphrase, ReadOnlySpan<byte> secret, Argon2Cost? cost = null)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(passphrase);
        cost ??= Argon2Cost.Default;
        var output = new byte[Overhead + secret.Length];
        Magic.CopyTo(output, 0);
        output[4] = Version;
        output[5] = (byte)BitOperations.Log2((uint)cost.MemoryKib);
        output[6] = (byte)cost.Passes;
        output[7] = 1;
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

    /// <summary>Whether <paramref name="protectedBytes"/> (already opened once) use the current version and at least the
    /// default cost; if not, the caller should protect the secret again.</summary>
    public static bool IsCurrent(ReadOnlySpan<byte> protectedBytes) =>
        protectedBytes.Length >= Overhead && protectedBytes[4] == Version
        && 1 << protectedBytes[5] >= Argon2Cost.Default.MemoryKib && protectedBytes[6] >= Argon2Cost.Default.Passes;

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
        var salt = protectedBytes.Slice(8, SaltSize);
        var key = protectedBytes[4] switch
        {
            Version => DeriveKey(passphrase, salt, ReadArgon2Cost(protectedBytes)),
            ScryptVersion => DeriveScryptKey(passphrase, salt, ReadScryptCost(protectedBytes)),
            _ => throw new FormatException($"unknown passphrase protection version {protectedBytes[4]}"),
        };
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

    private static Argon2Cost ReadArgon2Cost(ReadOnlySpan<byte> header)
    {
        try
        {
            if (header[7] != 1)
            {
                throw new ArgumentOutOfRangeException(nameof(header), header[7], "libsodium's Argon2id has one lane");
            }
            return new Argon2Cost(header[5] is >= Argon2Cost.MinLogMemoryKib and <= Argon2Cost.MaxLogMemoryKib ? 1 << header[5] : 0, header[6]);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"the Argon2id cost (log2 memory {header[5]} KiB, passes {header[6]}, lanes {header[7]}) is out of bounds", e);
        }
    }

    private static ScryptCost ReadScryptCost(ReadOnlySpan<byte> header)
    {
        try
        {
            return new ScryptCost(header[5] is >= 1 and <= ScryptCost.MaxLogN ? 1 << header[5] : 0, header[6], header[7]);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException($"the scrypt cost (log2 N {header[5]}, r {header[6]}, p {header[7]}) is out of bounds", e);
        }
    }

    private static byte[] DeriveKey(string passphrase, ReadOnlySpan<byte> salt, Argon2Cost cost)
    {
        var algorithm = PasswordBasedKeyDerivationAlgorithm.Argon2id(new Argon2Parameters { DegreeOfParallelism = 1, MemorySize = cost.MemoryKib, NumberOfPasses = cost.Passes });
        var passphraseBytes = Encoding.UTF8.GetBytes(passphrase);
        try
        {
            return algorithm.DeriveBytes(passphraseBytes, salt, KeySize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passphraseBytes);
        }
    }

    private static byte[] DeriveScryptKey(string passphrase, ReadOnlySpan<byte> salt, ScryptCost cost)
    {
        var passphraseBytes = Encoding.UTF8.GetBytes(passphrase);
        try
        {
            return ScryptKdf.DeriveKey(passphraseBytes, salt, cost.N, cost.R, cost.P, KeySize);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(passphraseBytes);
        }
    }
}
