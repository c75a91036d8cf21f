using Google.Protobuf;
using Parley.Dht.Protos;
using Parley.Dht.Wire;
using MessageType = Parley.Dht.Protos.Message.Types.MessageType;

namespace Parley.Dht.Tests.Wire;

public class KadCodecTests
{
    [Fact]
    public async Task Messages_round_trip_behind_a_uvarint_length_prefix()
    {
        var ping = new Message { Type = MessageType.Ping };
        var getValue = new Message { Type = MessageType.GetValue, Key = ByteString.CopyFrom(new byte[200]) };
        using var stream = new MemoryStream();

        await KadCodec.WriteAsync(stream, ping, CancellationToken.None);
        await KadCodec.WriteAsync(stream, getValue, CancellationToken.None);

        byte[] pingFrame = [0x02, 0x08, 0x05]; // length 2, then type PING = 5
        Assert.Equal(pingFrame, stream.ToArray()[..3]);
        // 205 bytes = type (2) + key tag (1) + key length varint (2) + 200: prefix 0xcd 0x01.
        Assert.Equal([0xcd, 0x01], stream.ToArray()[3..5]);
        Assert.Equal(3 + 2 + 205, stream.Length);
        stream.Position = 0;
        Assert.Equal(ping, await KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None));
        Assert.Equal(getValue, await KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None));
        Assert.Null(await KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None));
    }

    [Fact]
    public async Task An_empty_message_is_a_zero_length_frame()
    {
        using var stream = new MemoryStream([0x00]);

        var message = await KadCodec.ReadAsync(stream, 16, CancellationToken.None);

        Assert.Equal(new Message(), message);
    }

    [Fact]
    public void Default_limit_is_four_mebibytes()
    {
        Assert.Equal(4 * 1024 * 1024, KadCodec.DefaultMaxMessageSize);
    }

    [Theory]
    [InlineData(new byte[] { 0x03, 0x12, 0x05, 0x01 }, "malformed")]       // key claims 5 bytes, has 1
    [InlineData(new byte[] { 0x02, 0x0f, 0x01 }, "malformed")]             // wire type 7 does not exist
    [InlineData(new byte[] { 0x02, 0x00, 0x01 }, "malformed")]             // field number 0
    [InlineData(new byte[] { 0x03, 0x1a, 0x01, 0xff }, "malformed")]       // record holds a truncated varint tag
    [InlineData(new byte[] { 0x0a, 0x08, 0x04 }, "stream ended")]          // frame of 10 bytes, 2 arrive
    [InlineData(new byte[] { 0x80 }, "varint")]                             // stream ends inside the length prefix
    [InlineData(new byte[] { 0x80, 0x00 }, "minimal")]                      // non-minimal length prefix
    // The record claims 0x7fffffff bytes, alone or followed by an unknown field claiming 1.5 GiB: Google.Protobuf 3.25's
    // limit overflowed on these and it threw IndexOutOfRange- or ArgumentOutOfRangeException (after allocating 1.5 GiB).
    [InlineData(new byte[] { 0x06, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x07 }, "malformed")]
    [InlineData(new byte[] { 0x0c, 0x1a, 0xff, 0xff, 0xff, 0xff, 0x07, 0x7a, 0x80, 0x80, 0x80, 0x80, 0x06 }, "malformed")]
    public async Task Malformed_or_truncated_input_is_a_clean_InvalidDataException(byte[] input, string expectedMessage)
    {
        using var stream = new MemoryStream(input);

        var error = await Assert.ThrowsAsync<InvalidDataException>(
            () => KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None));

        Assert.Contains(expectedMessage, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_oversize_length_is_refused_before_the_body_is_read()
    {
        // Prefix claims 4 MiB + 1; no body follows, and none is needed to refuse it.
        using var stream = new MemoryStream([0x81, 0x80, 0x80, 0x02]);

        var error = await Assert.ThrowsAsync<InvalidDataException>(
            () => KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None));

        Assert.Contains("exceeds", error.Message, StringComparison.Ordinal);
        Assert.Equal(4, stream.Position);
    }

    [Fact]
    public async Task A_caller_chosen_limit_applies()
    {
        using var stream = new MemoryStream();
        await KadCodec.WriteAsync(stream, new Message { Key = ByteString.CopyFrom(new byte[100]) }, CancellationToken.None);
        stream.Position = 0;

        await Assert.ThrowsAsync<InvalidDataException>(() => KadCodec.ReadAsync(stream, 64, CancellationToken.None));
    }

    [Fact]
    public async Task Writing_a_message_no_peer_would_accept_is_refused()
    {
        using var stream = new MemoryStream();
        var huge = new Message { Key = ByteString.CopyFrom(new byte[KadCodec.DefaultMaxMessageSize]) };

        await Assert.ThrowsAsync<ArgumentException>(() => KadCodec.WriteAsync(stream, huge, CancellationToken.None));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public async Task Random_bytes_never_escape_as_anything_but_InvalidDataException()
    {
        var random = new Random(1234);
        for (var i = 0; i < 2000; i++)
        {
            var body = new byte[random.Next(1, 64)];
            random.NextBytes(body);
            using var stream = new MemoryStream([(byte)body.Length, .. body]);
            try
            {
                await KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None);
            }
            catch (InvalidDataException)
            {
            }
        }
    }
}
