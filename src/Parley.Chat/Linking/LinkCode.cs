using System.Buffers.Binary;
using System.Security.Cryptography;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Linking;

/// <summary>
/// A one-time device link code (docs/linking.md): <c>parley-link:&lt;base32&gt;</c> of version ‖ 128-bit secret ‖ expiry
/// (u32 Unix seconds) ‖ the existing device's peer id ‖ its addresses, followed by the first 4 bytes of the SHA-256 of
/// all that, so a mistyped code is "not a link code" before anything is dialled.
/// </summary>
public sealed class LinkCode
{
    public const string Prefix = "parley-link:";
    public const int SecretLength = 16;
    public const int MaxAddresses = 8;

    /// <summary>Bound on a code's text before anything is decoded.</summary>
    public const int MaxLength = 2048;

    private const byte Version = 1;
    private const int ChecksumLength = 4;

    private readonly byte[] _secret;

    public LinkCode(byte[] secret, DateTimeOffset expiresAt, PeerId device, IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(addresses);
        if (secret.Length != SecretLength)
        {
            throw new ArgumentException($"a link secret is {SecretLength} bytes", nameof(secret));
        }
        _secret = (byte[])secret.Clone();
        ExpiresAt = DateTimeOffset.FromUnixTimeSeconds(expiresAt.ToUnixTimeSeconds());
        Device = device;
        Addresses = addresses.Take(MaxAddresses).Select(a => a.WithoutPeerId()).ToList();
    }

    public DateTimeOffset ExpiresAt { get; }

    /// <summary>The existing device: the peer Noise must prove we are talking to.</summary>
    public PeerId Device { get; }

    /// <summary>Where it listened when the code was made (direct and relayed); the DHT is asked when none answers.</summary>
    public IReadOnlyList<Multiaddr> Addresses { get; }

    /// <summary>The secret (a copy).</summary>
    public byte[] Secret => (byte[])_secret.Clone();

    public bool IsExpired(DateTimeOffset now) => now >= ExpiresAt;

    public override string ToString()
    {
        using var buffer = new MemoryStream();
        buffer.WriteByte(Version);
        buffer.Write(_secret);
        Span<byte> expiry = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(expiry, (uint)ExpiresAt.ToUnixTimeSeconds());
        buffer.Write(expiry);
        WritePart(buffer, Device.Bytes);
        buffer.WriteByte((byte)Addresses.Count);
        foreach (var address in Addresses)
        {
            WritePart(buffer, address.ToBytes());
        }
        var body = buffer.ToArray();
        return Prefix + Base32.Encode([.. body, .. SHA256.HashData(body).AsSpan(0, ChecksumLength)]);
    }

    /// <summary>Reads a code as typed or scanned: surrounding whitespace, spaces and dashes inside, and case are ignored.</summary>
    /// <exception cref="FormatException">Not a link code (damaged, mistyped, cut short); the message says so. Expiry is not checked here.</exception>
    public static LinkCode Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        if (text.Length > MaxLength)
        {
            throw new FormatException($"this is not a link code: a link code is at most {MaxLength} characters");
        }
        if (!text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"this is not a link code: a link code starts with {Prefix}");
        }
        var compact = string.Concat(text[Prefix.Length..].Where(c => !char.IsWhiteSpace(c) && c != '-')).ToLowerInvariant();
        byte[] bytes;
        try
        {
            bytes = Base32.Decode(compact);
        }
        catch (FormatException)
        {
            throw new FormatException("this is not a link code: it has characters a link code never has (check for a typo)");
        }
        if (bytes.Length < 1 + SecretLength + 4 + ChecksumLength || !SHA256.HashData(bytes.AsSpan(0, bytes.Length - ChecksumLength)).AsSpan(0, ChecksumLength).SequenceEqual(bytes.AsSpan(bytes.Length - ChecksumLength)))
        {
            throw new FormatException("this is not a link code: its checksum does not match (a typo, or part of it is missing)");
        }
        if (bytes[0] != Version)
        {
            throw new FormatException($"this link code is of version {bytes[0]}, which this Parley does not know; update Parley on both devices");
        }
        try
        {
            var reader = new ReadOnlyMemory<byte>(bytes, 1, bytes.Length - 1 - ChecksumLength);
            var secret = reader[..SecretLength].ToArray();
            var expiresAt = DateTimeOffset.FromUnixTimeSeconds(BinaryPrimitives.ReadUInt32BigEndian(reader.Span[SecretLength..]));
            reader = reader[(SecretLength + 4)..];
            var device = PeerId.FromBytes(ReadPart(ref reader).Span);
            var count = reader.Span[0];
            reader = reader[1..];
            if (count > MaxAddresses)
            {
                throw new FormatException($"more than {MaxAddresses} addresses");
            }
            var addresses = new List<Multiaddr>(count);
            for (var i = 0; i < count; i++)
            {
                addresses.Add(Multiaddr.FromBytes(ReadPart(ref reader).Span));
            }
            if (!reader.IsEmpty)
            {
                throw new FormatException("bytes after the addresses");
            }
            return new LinkCode(secret, expiresAt, device, addresses);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or IndexOutOfRangeException)
        {
            throw new FormatException($"this is not a link code: its contents are damaged ({e.Message})", e);
        }
    }

    private static void WritePart(Stream stream, ReadOnlySpan<byte> part)
    {
        if (part.Length > byte.MaxValue * 4)
        {
            throw new ArgumentException("a part of a link code is too long");
        }
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)part.Length);
        stream.Write(length);
        stream.Write(part);
    }

    private static ReadOnlyMemory<byte> ReadPart(ref ReadOnlyMemory<byte> reader)
    {
        var length = BinaryPrimitives.ReadUInt16BigEndian(reader.Span);
        var part = reader.Slice(2, length);
        reader = reader[(2 + length)..];
        return part;
    }
}
