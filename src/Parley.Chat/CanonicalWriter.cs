using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Parley.Chat;

/// <summary>
/// The canonical byte strings that Parley signs, hashes and binds as associated data: an ASCII domain string ending in
/// ':', then fixed-size integers (big-endian) and byte strings each prefixed by its uint32 big-endian length, so that
/// no two different field lists encode to the same bytes and no signature made for one kind verifies as another.
/// One writer for every such string of the chat layer (certificates, name claims, mailbox requests, room entries).
/// </summary>
internal sealed class CanonicalWriter
{
    private readonly ArrayBufferWriter<byte> _bytes = new(256);

    public CanonicalWriter(ReadOnlySpan<byte> domain) => Raw(domain);

    public CanonicalWriter(string domain) => Raw(Encoding.ASCII.GetBytes(domain));

    public CanonicalWriter Raw(ReadOnlySpan<byte> bytes)
    {
        _bytes.Write(bytes);
        return this;
    }

    public CanonicalWriter Bytes(ReadOnlySpan<byte> bytes)
    {
        UInt32((uint)bytes.Length);
        return Raw(bytes);
    }

    public CanonicalWriter Text(string? text) => Bytes(text is null ? [] : Encoding.UTF8.GetBytes(text));

    public CanonicalWriter Byte(byte value)
    {
        _bytes.Write([value]);
        return this;
    }

    public CanonicalWriter UInt32(uint value)
    {
        Span<byte> buffer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(buffer, value);
        return Raw(buffer);
    }

    public CanonicalWriter UInt64(ulong value)
    {
        Span<byte> buffer = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(buffer, value);
        return Raw(buffer);
    }

    public CanonicalWriter Int64(long value) => UInt64(unchecked((ulong)value));

    /// <summary>A count, then each id (fixed 32 bytes, so no per-id prefix is needed).</summary>
    public CanonicalWriter Ids(IReadOnlyList<Groups.Id256> ids)
    {
        UInt32((uint)ids.Count);
        foreach (var id in ids)
        {
            Raw(id.Span);
        }
        return this;
    }

    /// <summary>A count, then each part length-prefixed.</summary>
    public CanonicalWriter List(IEnumerable<ReadOnlyMemory<byte>> parts)
    {
        var list = parts as IReadOnlyCollection<ReadOnlyMemory<byte>> ?? parts.ToList();
        UInt32((uint)list.Count);
        foreach (var part in list)
        {
            Bytes(part.Span);
        }
        return this;
    }

    public byte[] ToArray() => _bytes.WrittenSpan.ToArray();
}
