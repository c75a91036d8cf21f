using Google.Protobuf;
using Parley.Dht.Protos;
using Parley.Net;

namespace Parley.Dht.Wire;

/// <summary>Reads and writes kad-dht RPC messages: a uvarint length prefix, then the protobuf <see cref="Message"/>.</summary>
internal static class KadCodec
{
    /// <summary>go-libp2p-kad-dht's limit on one message (4 MiB); js-libp2p uses the same.</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    /// <summary>Reads one message of at most <paramref name="maxMessageSize"/> bytes; null on a clean end of stream before it.</summary>
    /// <exception cref="InvalidDataException">An over-size or malformed length prefix, a stream that ends inside the message, or malformed protobuf.</exception>
    public static async Task<Message?> ReadAsync(Stream stream, int maxMessageSize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxMessageSize);
        byte[]? bytes;
        try
        {
            bytes = await LengthPrefixed.ReadMessageAsync(stream, maxMessageSize, cancellationToken);
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("stream ended inside a kad message", e);
        }
        if (bytes is null)
        {
            return null;
        }
        try
        {
            return Message.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"malformed kad message ({bytes.Length} bytes): {e.Message}", e);
        }
    }

    /// <exception cref="ArgumentException">The encoded message exceeds <see cref="DefaultMaxMessageSize"/>, which no peer would accept.</exception>
    public static async Task WriteAsync(Stream stream, Message message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(message);
        var size = message.CalculateSize();
        if (size > DefaultMaxMessageSize)
        {
            throw new ArgumentException($"kad message of {size} bytes exceeds the {DefaultMaxMessageSize}-byte limit", nameof(message));
        }
        await LengthPrefixed.WriteMessageAsync(stream, message.ToByteArray(), cancellationToken);
    }
}
