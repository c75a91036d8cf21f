using Parley.Net.Yamux;

namespace Parley.Net.Tests.Yamux;

public sealed class YamuxFrameHeaderTests
{
    public static TheoryData<string, byte, ushort, uint, uint> SpecFrames => new()
    {
        // Data with SYN opening stream 1, 5 payload bytes.
        { "00 00 00 01 00 00 00 01 00 00 00 05", 0, 0x1, 1, 5 },
        // Window update with ACK for stream 2 granting 256 KiB more.
        { "00 01 00 02 00 00 00 02 00 04 00 00", 1, 0x2, 2, 0x40000 },
        // Ping reply echoing an opaque value.
        { "00 02 00 02 00 00 00 00 DE AD BE EF", 2, 0x2, 0, 0xDEADBEEF },
        // GoAway with protocol error.
        { "00 03 00 00 00 00 00 00 00 00 00 01", 3, 0x0, 0, 1 },
        // FIN|RST window update on the highest stream id.
        { "00 01 00 0C FF FF FF FF 00 00 00 00", 1, 0xC, uint.MaxValue, 0 },
    };

    [Theory]
    [MemberData(nameof(SpecFrames))]
    public void Encode_WritesSpecLayout(string expectedHex, byte type, ushort flags, uint streamId, uint length)
    {
        var header = new YamuxFrameHeader((YamuxFrameType)type, (YamuxFrameFlags)flags, streamId, length);
        var bytes = new byte[YamuxFrameHeader.Size];

        header.Encode(bytes);

        Assert.Equal(expectedHex, Convert.ToHexString(bytes).Chunk(2).Select(pair => new string(pair)).Aggregate((a, b) => $"{a} {b}"));
    }

    [Theory]
    [MemberData(nameof(SpecFrames))]
    public void Decode_ReadsSpecLayout(string hex, byte type, ushort flags, uint streamId, uint length)
    {
        var header = YamuxFrameHeader.Decode(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal)));

        Assert.Equal(new YamuxFrameHeader((YamuxFrameType)type, (YamuxFrameFlags)flags, streamId, length), header);
    }

    [Fact]
    public void Decode_UnknownVersion_IsProtocolError()
    {
        var bytes = Convert.FromHexString("010000010000000100000005");

        Assert.Throws<YamuxProtocolException>(() => YamuxFrameHeader.Decode(bytes));
    }

    [Fact]
    public void Decode_UnknownType_IsProtocolError()
    {
        var bytes = Convert.FromHexString("000400000000000000000000");

        Assert.Throws<YamuxProtocolException>(() => YamuxFrameHeader.Decode(bytes));
    }

    [Fact]
    public void EncodeAndDecode_RejectShortBuffers()
    {
        var header = new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, 1, 0);

        Assert.Throws<ArgumentException>(() => header.Encode(new byte[11]));
        Assert.Throws<ArgumentException>(() => YamuxFrameHeader.Decode(new byte[11]));
    }
}
