using System.Buffers.Binary;
using Parley.Core.Crypto;
using Parley.Net.Noise;
using Parley.Testing;

namespace Parley.Net.Tests.Noise;

public sealed class NoiseStreamTests
{
    [Fact]
    public async Task A_large_write_becomes_maximal_frames()
    {
        var data = RandomBytes((2 * NoiseStream.MaxFramePlaintext) + 5);
        var encrypted = await EncryptAsync([data]);

        Assert.Equal([NoiseStream.MaxFrameLength, NoiseStream.MaxFrameLength, 5 + IAead.TagSize], FrameLengths(encrypted.Wire));
        Assert.Equal(data, await DecryptAllAsync(encrypted, readSize: 100_000));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1000)]
    [InlineData(NoiseStream.MaxFramePlaintext)]
    [InlineData(300_000)]
    public async Task Reads_of_any_size_reassemble_the_written_bytes(int readSize)
    {
        var writes = new[] { 0, 1, 100, NoiseStream.MaxFramePlaintext, NoiseStream.MaxFramePlaintext + 1, 200_000, 3 }
            .Select(RandomBytes)
            .ToArray();
        var encrypted = await EncryptAsync(writes);

        Assert.Equal(writes.SelectMany(w => w).ToArray(), await DecryptAllAsync(encrypted, readSize));
    }

    [Fact]
    public async Task A_tampered_frame_fails_authentication_and_the_stream_stays_failed()
    {
        var (wire, receiver) = await EncryptAsync([RandomBytes(100), RandomBytes(100)]);
        wire[2 + 10] ^= 0x01;
        await using var reader = Reader(wire, receiver);

        var first = await Assert.ThrowsAsync<IOException>(() => reader.ReadAsync(new byte[1000]).AsTask());
        Assert.Equal("noise frame failed authentication", first.Message);
        await Assert.ThrowsAsync<IOException>(() => reader.ReadAsync(new byte[1000]).AsTask());
    }

    [Fact]
    public async Task A_frame_shorter_than_its_tag_fails_authentication()
    {
        var (_, receiver) = Link();
        await using var reader = Reader([0x00, 0x05, 1, 2, 3, 4, 5], receiver);

        var error = await Assert.ThrowsAsync<IOException>(() => reader.ReadAsync(new byte[100]).AsTask());
        Assert.Equal("noise frame failed authentication", error.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(50)]
    public async Task End_of_stream_inside_a_frame_is_an_error(int bytesKept)
    {
        var (wire, receiver) = await EncryptAsync([RandomBytes(100)]);
        await using var reader = Reader(wire[..bytesKept], receiver);

        await Assert.ThrowsAsync<IOException>(() => reader.ReadAsync(new byte[1000]).AsTask());
    }

    [Fact]
    public async Task End_of_stream_between_frames_reads_as_zero()
    {
        var (wire, receiver) = await EncryptAsync([RandomBytes(100)]);
        await using var reader = Reader(wire, receiver);

        var buffer = new byte[1000];
        Assert.Equal(100, await reader.ReadAsync(buffer));
        Assert.Equal(0, await reader.ReadAsync(buffer));
        Assert.Equal(0, await reader.ReadAsync(buffer));
    }

    [Fact]
    public async Task Empty_frames_are_skipped_rather_than_read_as_end_of_stream()
    {
        var (send, receive) = Link();
        var wire = new MemoryStream();
        foreach (var plaintext in new[] { Array.Empty<byte>(), "abc"u8.ToArray() })
        {
            var ciphertext = new byte[send.CiphertextLength(plaintext.Length)];
            send.EncryptWithAd([], plaintext, ciphertext);
            wire.Write(NoiseTestPeers.Frame(ciphertext));
        }
        send.Dispose();
        await using var reader = Reader(wire.ToArray(), receive);

        var buffer = new byte[10];
        Assert.Equal(3, await reader.ReadAsync(buffer));
        Assert.Equal("abc"u8.ToArray(), buffer[..3]);
    }

    [Fact]
    public async Task A_second_concurrent_read_is_rejected()
    {
        var (left, right) = InMemoryDuplexStream.CreatePair();
        using var _ = right;
        var (send, receive) = Link();
        await using var stream = new NoiseStream(left, send, receive);

        var pending = stream.ReadAsync(new byte[10]).AsTask();
        Assert.False(pending.IsCompleted);
        await Assert.ThrowsAsync<InvalidOperationException>(() => stream.ReadAsync(new byte[10]).AsTask());
        right.CompleteWrites();
        Assert.Equal(0, await pending);
    }

    [Fact]
    public async Task Disposing_closes_the_transport_and_later_operations_fail()
    {
        var inner = new MemoryStream();
        var (send, receive) = Link();
        var stream = new NoiseStream(inner, send, receive);
        await stream.DisposeAsync();

        Assert.False(inner.CanWrite);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stream.WriteAsync(new byte[1]).AsTask());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => stream.ReadAsync(new byte[1]).AsTask());
    }

    [Fact]
    public void Synchronous_io_is_not_supported()
    {
        var (send, receive) = Link();
        using var stream = new NoiseStream(new MemoryStream(), send, receive);
        Assert.Throws<NotSupportedException>(() => stream.Write(new byte[1], 0, 1));
        Assert.Throws<NotSupportedException>(() => stream.Read(new byte[1], 0, 1));
    }

    /// <summary>A sending cipher and the peer's matching receiving cipher.</summary>
    private static (CipherState Send, CipherState Receive) Link()
    {
        var pair = NoiseTestPeers.TransportPair();
        pair.InitiatorReceive.Dispose();
        pair.ResponderSend.Dispose();
        return (pair.InitiatorSend, pair.ResponderReceive);
    }

    private static CipherState UnusedDirection() => new(DefaultCryptoProvider.Instance);

    private static async Task<(byte[] Wire, CipherState Receiver)> EncryptAsync(byte[][] writes)
    {
        var (send, receive) = Link();
        var wire = new MemoryStream();
        await using (var writer = new NoiseStream(wire, send, UnusedDirection()))
        {
            foreach (var write in writes)
            {
                await writer.WriteAsync(write);
            }
        }
        return (wire.ToArray(), receive);
    }

    private static NoiseStream Reader(byte[] wire, CipherState receiver) => new(new MemoryStream(wire), UnusedDirection(), receiver);

    private static async Task<byte[]> DecryptAllAsync((byte[] Wire, CipherState Receiver) encrypted, int readSize)
    {
        await using var reader = Reader(encrypted.Wire, encrypted.Receiver);
        var output = new MemoryStream();
        var buffer = new byte[readSize];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            output.Write(buffer, 0, read);
        }
        return output.ToArray();
    }

    private static List<int> FrameLengths(byte[] wire)
    {
        var lengths = new List<int>();
        for (var offset = 0; offset < wire.Length; offset += 2 + lengths[^1])
        {
            lengths.Add(BinaryPrimitives.ReadUInt16BigEndian(wire.AsSpan(offset)));
        }
        return lengths;
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }
}
