using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Chat.Crypto;

/// <summary>
/// Signal's numeric fingerprint (libsignal's NumericFingerprintGenerator, displayable part, version 0), so two users
/// can compare keys out of band. Per party: hash = SHA-512(0x0000 ‖ key ‖ stable id ‖ key), then
/// <c>iterations − 1</c> times hash = SHA-512(hash ‖ key); its first 30 bytes give six 5-digit groups, each the
/// 5-byte big-endian chunk modulo 100,000. The safety number is both parties' 30 digits, the lower string first,
/// so both sides compute the same 60 digits. Parley passes account keys (libp2p protobuf form) and account ids.
/// SHA-512 comes from .NET directly: <see cref="Parley.Core.Crypto.ICryptoProvider"/> has no SHA-512 and this
/// is a display format, not a protocol secret.
/// </summary>
public static class SafetyNumber
{
    public const int DefaultIterations = 5200;

    /// <summary>60 decimal digits.</summary>
    public static string Compute(ReadOnlySpan<byte> localKey, ReadOnlySpan<byte> localStableId, ReadOnlySpan<byte> remoteKey, ReadOnlySpan<byte> remoteStableId, int iterations = DefaultIterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        var local = Digits(localKey, localStableId, iterations);
        var remote = Digits(remoteKey, remoteStableId, iterations);
        return string.CompareOrdinal(local, remote) <= 0 ? local + remote : remote + local;
    }

    /// <summary>Twelve space-separated blocks of five digits, as Signal shows them.</summary>
    public static string Format(string safetyNumber)
    {
        ArgumentNullException.ThrowIfNull(safetyNumber);
        if (safetyNumber.Length != 60 || !safetyNumber.All(char.IsAsciiDigit))
        {
            throw new FormatException("a safety number is 60 decimal digits");
        }
        return string.Join(' ', Enumerable.Range(0, 12).Select(block => safetyNumber.Substring(block * 5, 5)));
    }

    private static string Digits(ReadOnlySpan<byte> key, ReadOnlySpan<byte> stableId, int iterations)
    {
        var hash = new byte[SHA512.HashSizeInBytes];
        using (var first = IncrementalHash.CreateHash(HashAlgorithmName.SHA512))
        {
            first.AppendData([0, 0]);
            first.AppendData(key);
            first.AppendData(stableId);
            first.AppendData(key);
            first.GetHashAndReset(hash);
        }
        var input = new byte[hash.Length + key.Length];
        key.CopyTo(input.AsSpan(hash.Length));
        for (var i = 1; i < iterations; i++)
        {
            hash.CopyTo(input, 0);
            SHA512.HashData(input, hash);
        }
        var digits = new StringBuilder(30);
        for (var offset = 0; offset < 30; offset += 5)
        {
            var chunk = ((ulong)BinaryPrimitives.ReadUInt32BigEndian(hash.AsSpan(offset)) << 8) | hash[offset + 4];
            digits.Append((chunk % 100_000).ToString("D5", CultureInfo.InvariantCulture));
        }
        return digits.ToString();
    }
}
