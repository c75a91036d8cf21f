using System.Buffers.Binary;

namespace Parley.Net.Yamux;

internal enum YamuxFrameType : byte
{
    Data = 0,
    WindowUpdate = 1,
    Ping = 2,
    GoAway = 3,
}

[Flags]
internal enum YamuxFrameFlags : ushort
{
    None = 0,
    Syn = 0x1,
    Ack = 0x2,
    Fin = 0x4,
    Rst = 0x8,
}

/// <summary>
/// The 12-byte yamux frame header: version (0), type, flags, stream id, length, all big-endian.
/// Length is the payload size for Data, the window delta for WindowUpdate, the opaque value for Ping
/// and the error code for GoAway.
/// </summary>
internal readonly record struct YamuxFrameHeader(YamuxFrameType Type, YamuxFrameFlags Flags, uint StreamId, uint Length)
{
    public const int Size = 12;
    public const byte ProtocolVersion = 0;

    public bool HasFlag(YamuxFrameFlags flag) => (Flags & flag) != 0;

    public void Encode(Span<byte> destination)
    {
        if (destination.Length < Size)
        {
            throw new ArgumentException($"A yamux header needs {Size} bytes.", nameof(destination));
        }

        destination[0] = ProtocolVersion;
        destination[1] = (byte)Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], Length);
    }

    /// <exception cref="YamuxProtocolException">Unknown version or frame type.</exception>
    public static YamuxFrameHeader Decode(ReadOnlySpan<byte> source)
    {
        if (source.Length < Size)
        {
            throw new ArgumentException($"A yamux header needs {Size} bytes.", nameof(source));
        }

        if (source[0] != ProtocolVersion)
        {
            throw new YamuxProtocolException($"Unsupported yamux version {source[0]}.");
        }

        if (source[1] > (byte)YamuxFrameType.GoAway)
        {
            throw new YamuxProtocolException($"Unknown yamux frame type {source[1]}.");
        }

        return new YamuxFrameHeader(
            (YamuxFrameType)source[1],
            (YamuxFrameFlags)BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]));
    }
}
