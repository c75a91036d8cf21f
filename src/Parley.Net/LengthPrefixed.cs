using Parley.Core.Multiformats;

namespace Parley.Net;

/// <summary>Reads and writes uvarint-length-prefixed messages, the framing of most libp2p protocols.</summary>
public static class LengthPrefixed
{
    /// <summary>Reads a varint byte by byte, so that nothing past it is consumed. Null on a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">Malformed varint, or the stream ended inside it.</exception>
    public static async Task<ulong?> ReadVarintAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = new byte[Varint.MaxLength];
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
        var length = await ReadVarintAsync(stream, cancellationToken).ConfigureAwait(false);
        if (length is null)
        {
            return null;
        }
        if (length > (ulong)maxLength)
        {
            throw new InvalidDataException($"message of {length} bytes exceeds the {maxLength}-byte limit");
        }
        var message = new byte[(int)length];
        await ReadExactlyAsync(stream, message, cancellationToken).ConfigureAwait(false);
        return message;
    }

    public static async Task WriteMessageAsync(Stream stream, ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var framed = new byte[Varint.SizeOf((ulong)message.Length) + message.Length];
        var prefixLength = Varint.Write((ulong)message.Length, framed);
        message.Span.CopyTo(framed.AsSpan(prefixLength));
        await stream.WriteAsync(framed, cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
