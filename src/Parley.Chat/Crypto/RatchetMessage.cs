using System.Buffers.Binary;
using Parley.Core.Crypto;

namespace Parley.Chat.Crypto;

/// <summary>
/// One Double Ratchet message: the 41-byte header (version 1, sender's ratchet public key, PN, N; see
/// <see cref="RatchetHeader"/>) and the ChaCha20-Poly1305 ciphertext with its 16-byte tag. On the wire it is the
/// header followed by the ciphertext (<see cref="ToBytes"/>); the header's version fixes its length.
/// </summary>
public sealed record RatchetMessage(byte[] Header, byte[] Ciphertext)
{
    /// <summary>The largest plaintext one message carries (1 MiB); bigger content is the caller's to split.</summary>
    public const int MaxPlaintextLength = 1 << 20;

    public const int MaxCiphertextLength = MaxPlaintextLength + IAead.TagSize;

    public const int MinLength = RatchetHeader.Size + IAead.TagSize;

    public const int MaxLength = RatchetHeader.Size + MaxCiphertextLength;

    public byte[] ToBytes()
    {
        var bytes = new byte[Header.Length + Ciphertext.Length];
        Header.CopyTo(bytes, 0);
        Ciphertext.CopyTo(bytes, Header.Length);
        return bytes;
    }

    /// <exception cref="FormatException">Not a version 1 ratchet message, or a size out of bounds.</exception>
    public static RatchetMessage Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            throw new FormatException("empty ratchet message");
        }
        if (bytes[0] != RatchetHeader.Version)
        {
            throw new FormatException($"unknown ratchet message version {bytes[0]}");
        }
        if (bytes.Length < MinLength)
        {
            throw new FormatException($"ratchet message of {bytes.Length} bytes is shorter than the minimum {MinLength}");
        }
        if (bytes.Length > MaxLength)
        {
            throw new FormatException($"ratchet message of {bytes.Length} bytes exceeds the maximum {MaxLength}");
        }
        return new RatchetMessage(bytes[..RatchetHeader.Size].ToArray(), bytes[RatchetHeader.Size..].ToArray());
    }

    // Records print their members; this keeps logs to sizes.
    public override string ToString() => $"RatchetMessage {{ Header = {Header.Length} bytes, Ciphertext = {Ciphertext.Length} bytes }}";
}

/// <summary>
/// The header: version (1 byte, 1) ‖ sender's ratchet public key (32) ‖ PN, the length of the sender's previous
/// sending chain (uint32 big-endian) ‖ N, this message's number in the current chain (uint32 big-endian).
/// It is authenticated as part of the AEAD's associated data, not encrypted (see docs/ratchet.md).
/// </summary>
internal readonly ref struct RatchetHeader
{
    public const byte Version = 1;
    public const int Size = 1 + X25519KeyPair.KeySize + 4 + 4;

    private RatchetHeader(ReadOnlySpan<byte> ratchetKey, uint previousChainLength, uint index)
    {
        RatchetKey = ratchetKey;
        PreviousChainLength = previousChainLength;
        Index = index;
    }

    public ReadOnlySpan<byte> RatchetKey { get; }

    public uint PreviousChainLength { get; }

    public uint Index { get; }

    public static byte[] Encode(ReadOnlySpan<byte> ratchetKey, uint previousChainLength, uint index)
    {
        var header = new byte[Size];
        header[0] = Version;
        ratchetKey.CopyTo(header.AsSpan(1));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1 + X25519KeyPair.KeySize), previousChainLength);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(1 + X25519KeyPair.KeySize + 4), index);
        return header;
    }

    /// <exception cref="RatchetException">With <see cref="RatchetFailure.Malformed"/>.</exception>
    public static RatchetHeader Parse(ReadOnlySpan<byte> header)
    {
        if (header.Length != Size)
        {
            throw new RatchetException(RatchetFailure.Malformed, $"a ratchet header is {Size} bytes, got {header.Length}");
        }
        if (header[0] != Version)
        {
            throw new RatchetException(RatchetFailure.Malformed, $"unknown ratchet header version {header[0]}");
        }
        return new RatchetHeader(
            header.Slice(1, X25519KeyPair.KeySize),
            BinaryPrimitives.ReadUInt32BigEndian(header[(1 + X25519KeyPair.KeySize)..]),
            BinaryPrimitives.ReadUInt32BigEndian(header[(1 + X25519KeyPair.KeySize + 4)..]));
    }
}
