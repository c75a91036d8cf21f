using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace Parley.Core.Crypto;

/// <summary>
/// Hashcash-style stamps: a nonce such that SHA-256(challenge || nonce as 8 big-endian bytes) starts with
/// <c>difficulty</c> zero bits. Finding one takes about 2^difficulty hashes; checking one takes one. Callers build the
/// challenge from a domain string and everything the stamp must be bound to (a name and key, an envelope), so a stamp
/// cannot be reused for anything else.
/// </summary>
public static class ProofOfWork
{
    /// <summary>Above this a stamp would take days; below it no input is refused by the bound.</summary>
    public const int MaxDifficulty = 40;

    private const int NonceLength = 8;

    /// <summary>Searches nonces from a random start (so two solvers of one challenge do not race over the same ones).</summary>
    public static ulong Solve(ReadOnlySpan<byte> challenge, int difficulty, CancellationToken cancellationToken)
    {
        CheckDifficulty(difficulty);
        var input = new byte[challenge.Length + NonceLength];
        challenge.CopyTo(input);
        var nonceSpan = input.AsSpan(challenge.Length);
        Span<byte> hash = stackalloc byte[32];
        var nonce = BinaryPrimitives.ReadUInt64LittleEndian(RandomNumberGenerator.GetBytes(NonceLength));
        for (var attempts = 0L; ; attempts++, nonce++)
        {
            if ((attempts & 0xFFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            BinaryPrimitives.WriteUInt64BigEndian(nonceSpan, nonce);
            SHA256.HashData(input, hash);
            if (LeadingZeroBits(hash) >= difficulty)
            {
                return nonce;
            }
        }
    }

    public static bool Verify(ReadOnlySpan<byte> challenge, ulong nonce, int difficulty)
    {
        CheckDifficulty(difficulty);
        Span<byte> input = challenge.Length <= 1024 ? stackalloc byte[challenge.Length + NonceLength] : new byte[challenge.Length + NonceLength];
        challenge.CopyTo(input);
        BinaryPrimitives.WriteUInt64BigEndian(input[challenge.Length..], nonce);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input, hash);
        return LeadingZeroBits(hash) >= difficulty;
    }

    /// <summary>A challenge: SHA-256 over the domain and each part, every part length-prefixed so no two inputs collide.</summary>
    public static byte[] Challenge(string domain, params ReadOnlySpan<byte[]> parts)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[4];
        AppendPart(hash, System.Text.Encoding.UTF8.GetBytes(domain), length);
        foreach (var part in parts)
        {
            AppendPart(hash, part, length);
        }
        return hash.GetHashAndReset();
    }

    private static void AppendPart(IncrementalHash hash, ReadOnlySpan<byte> part, Span<byte> length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)part.Length);
        hash.AppendData(length);
        hash.AppendData(part);
    }

    private static int LeadingZeroBits(ReadOnlySpan<byte> hash)
    {
        var first = BinaryPrimitives.ReadUInt64BigEndian(hash);
        return first == 0 ? 64 : BitOperations.LeadingZeroCount(first);
    }

    private static void CheckDifficulty(int difficulty) => ArgumentOutOfRangeException.ThrowIfGreaterThan((uint)difficulty, (uint)MaxDifficulty, nameof(difficulty));
}
