using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Parley.Chat.Identity;

/// <summary>
/// Builds the byte strings Parley signs: an ASCII domain ending in ':', then the parts in order, every byte string
/// prefixed by its uint32 big-endian length and every integer fixed-width big-endian, so the encoding is injective and
/// no signature made for one kind of payload verifies as another.
/// </summary>
internal sealed class SignedPayload
{
    private readonly ArrayBufferWriter<byte> _buffer = new(128);

    public SignedPayload(string domain)
    {
        _buffer.Write(Encoding.ASCII.GetBytes(domain));
    }

    public SignedPayload Bytes(ReadOnlySpan<byte> part)
    {
        BinaryPrimitives.WriteUInt32BigEndian(_buffer.GetSpan(4), (uint)part.Length);
        _buffer.Advance(4);
        _buffer.Write(part);
        return this;
    }

    public SignedPayload UInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64BigEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
        return this;
    }

    public SignedPayload Int64(long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
        return this;
    }

    public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
}
