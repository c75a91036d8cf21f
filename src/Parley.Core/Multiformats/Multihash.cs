using System.Security.Cryptography;

namespace Parley.Core.Multiformats;

/// <summary>A self-describing hash: varint code, varint digest length, digest.</summary>
public sealed class Multihash : IEquatable<Multihash>
{
    public const ulong IdentityCode = 0x00;
    public const ulong Sha256Code = 0x12;

    /// <summary>Bound on accepted digests; real hashes are far shorter and identity digests of keys are tiny.</summary>
    public const int MaxDigestLength = 1024;

    private readonly byte[] _bytes;

    private Multihash(ulong code, byte[] digest, byte[] bytes)
    {
        Code = code;
        Digest = digest;
        _bytes = bytes;
    }

    public ulong Code { get; }

    public ReadOnlyMemory<byte> Digest { get; }

    public ReadOnlySpan<byte> Bytes => _bytes;

    public static Multihash Create(ulong code, ReadOnlySpan<byte> digest)
    {
        if (digest.Length > MaxDigestLength)
        {
            throw new ArgumentException("digest too long", nameof(digest));
        }
        var bytes = new byte[Varint.SizeOf(code) + Varint.SizeOf((ulong)digest.Length) + digest.Length];
        var offset = Varint.Write(code, bytes);
        offset += Varint.Write((ulong)digest.Length, bytes.AsSpan(offset));
        digest.CopyTo(bytes.AsSpan(offset));
        return new Multihash(code, digest.ToArray(), bytes);
    }

    public static Multihash Sha256(ReadOnlySpan<byte> data) => Create(Sha256Code, SHA256.HashData(data));

    public static Multihash Identity(ReadOnlySpan<byte> data) => Create(IdentityCode, data);

    /// <exception cref="FormatException">Malformed, truncated, trailing bytes, or a digest length that does not fit the code.</exception>
    public static Multihash Parse(ReadOnlySpan<byte> bytes)
    {
        var code = Varint.Read(bytes, out var codeLength);
        var length = Varint.Read(bytes[codeLength..], out var lengthLength);
        var headerLength = codeLength + lengthLength;
        if (length > MaxDigestLength || (ulong)(bytes.Length - headerLength) != length)
        {
            throw new FormatException("multihash digest length does not match its header");
        }
        if (code == Sha256Code && length != 32)
        {
            throw new FormatException("sha2-256 multihash must have a 32-byte digest");
        }
        return new Multihash(code, bytes[headerLength..].ToArray(), bytes.ToArray());
    }

    public bool Equals(Multihash? other) => other is not null && _bytes.AsSpan().SequenceEqual(other._bytes);

    public override bool Equals(object? obj) => Equals(obj as Multihash);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(_bytes);
        return hash.ToHashCode();
    }
}
