using System.Buffers;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using Parley.Core.Multiformats;

namespace Parley.Net;

/// <summary>Reads and writes uvarint-length-prefixed messages, the framing of most libp2p protocols.</summary>
public static class LengthPrefixed
{
    /// <summary>Reads a varint byte by byte, so that nothing past it is consumed. Null on a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">Malformed varint, or the stream ended inside it.</exception>
    public static Task<ulong?> ReadVarintAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return ReadLengthAsync(stream, cancellationToken).AsTask();
    }

    /// <exception cref="EndOfStreamException">The stream ended before the buffer was full.</exception>
    public static async Task ReadExactlyAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        await stream.ReadExactlyAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads one message of at most <paramref name="maxLength"/> bytes; null on a clean end of stream before it.</summary>
    /// <exception cref="InvalidDataException">The length prefix exceeds the bound or is malformed.</exception>
    public static async Task<byte[]?> ReadMessageAsync(Stream stream, int maxLength, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (await ReadBoundedLengthAsync(stream, maxLength, cancellationToken).ConfigureAwait(false) is not { } length)
        {
            return null;
        }
        var message = new byte[length];
        await stream.ReadExactlyAsync(message, cancellationToken).ConfigureAwait(false);
        return message;
    }

    /// <summary>
    /// Reads one message of at most <paramref name="maxLength"/> bytes and parses it; null on a clean end of stream
    /// before it. The bytes go through a pooled buffer (parsing copies what the message keeps), so a request costs
    /// no array of its own.
    /// </summary>
    /// <exception cref="InvalidDataException">The length prefix exceeds the bound or is malformed.</exception>
    /// <exception cref="InvalidProtocolBufferException">The message was read whole but does not parse; the stream is still in step.</exception>
    public static async Task<T?> ReadMessageAsync<T>(Stream stream, MessageParser<T> parser, int maxLength, CancellationToken cancellationToken)
        where T : class, IMessage<T>
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(parser);
        if (await ReadBoundedLengthAsync(stream, maxLength, cancellationToken).ConfigureAwait(false) is not { } length)
        {
            return null;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            await stream.ReadExactlyAsync(buffer.AsMemory(0, length), cancellationToken).ConfigureAwait(false);
            return parser.ParseFrom(buffer.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public static async Task WriteMessageAsync(Stream stream, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var prefixLength = Varint.SizeOf((ulong)message.Length);
        var framed = ArrayPool<byte>.Shared.Rent(prefixLength + message.Length);
        try
        {
            Varint.Write((ulong)message.Length, framed);
            message.Span.CopyTo(framed.AsSpan(prefixLength));
            await WriteFramedAsync(stream, framed.AsMemory(0, prefixLength + message.Length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(framed);
        }
    }

    /// <summary>Writes <paramref name="message"/> with its length prefix in one write, serialised straight into a pooled buffer.</summary>
    public static async Task WriteMessageAsync(Stream stream, IMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(message);
        var length = message.CalculateSize();
        var prefixLength = Varint.SizeOf((ulong)length);
        var framed = ArrayPool<byte>.Shared.Rent(prefixLength + length);
        try
        {
            Varint.Write((ulong)length, framed);
            message.WriteTo(framed.AsSpan(prefixLength, length));
            await WriteFramedAsync(stream, framed.AsMemory(0, prefixLength + length), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(framed);
        }
    }

    // Prefix and message in one write: one yamux frame and one noise frame for a small message.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask WriteFramedAsync(Stream stream, ReadOnlyMemory<byte> framed, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(framed, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<int?> ReadBoundedLengthAsync(Stream stream, int maxLength, CancellationToken cancellationToken)
    {
        var length = await ReadLengthAsync(stream, cancellationToken).ConfigureAwait(false);
        if (length > (ulong)maxLength)
        {
            throw new InvalidDataException($"message of {length} bytes exceeds the {maxLength}-byte limit");
        }
        return (int?)length;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<ulong?> ReadLengthAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(Varint.MaxLength);
        try
        {
            for (var i = 0; i < Varint.MaxLength; i++)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(i, 1), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return i == 0 ? null : throw new InvalidDataException("stream ended inside a varint");
                }
                if ((buffer[i] & 0x80) == 0)
                {
                    try
                    {
                        return Varint.Read(buffer.AsSpan(0, i + 1), out _);
                    }
                    catch (FormatException e)
                    {
                        throw new InvalidDataException(e.Message, e);
                    }
                }
            }
            throw new InvalidDataException("varint longer than 9 bytes");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
