using System.Buffers;
using System.Buffers.Binary;
using Google.Protobuf;
using Parley.Core.Crypto;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Files;

/// <summary>What a data frame of <c>/parley/file/1.0.0</c> carries.</summary>
internal enum FrameKind : byte
{
    Chunk = 0,
    HashPage = 1,
}

/// <summary>
/// The framing of <c>/parley/file/1.0.0</c> (docs/files.md): a <see cref="Protos.FileRequest"/>, a
/// <see cref="Protos.FileResponse"/>, then data frames, each uvarint length ‖ kind (1 byte) ‖ index (uint32
/// big-endian) ‖ payload: an encrypted chunk or a page of chunk hashes. Every read is bounded before it allocates, and
/// frame buffers are pooled, so a transfer holds a few chunks in memory whatever the file's size.
/// </summary>
internal static class FileWire
{
    public const int MaxRequestBytes = 16 * 1024;

    /// <summary>A response names every chunk of the largest file (one bit each), and a reason.</summary>
    public const int MaxResponseBytes = (FileManifest.MaxPages * FileManifest.HashesPerPage / 8) + 4096;

    public const int FrameHeader = 5;
    public const int MaxFrameBytes = FrameHeader + FileManifest.MaxChunkSize + ChunkCipher.Overhead;

    /// <summary>Chunk ranges one request may name.</summary>
    public const int MaxRanges = 1024;

    /// <summary>Hash pages one request may ask for.</summary>
    public const int MaxPagesPerRequest = 64;

    public static Task WriteMessageAsync(Stream stream, IMessage message, CancellationToken cancellationToken) =>
        LengthPrefixed.WriteMessageAsync(stream, message.ToByteArray(), cancellationToken);

    /// <exception cref="InvalidDataException">Over the bound, malformed, or the stream ended first.</exception>
    public static async Task<T> ReadMessageAsync<T>(Stream stream, MessageParser<T> parser, int maxBytes, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        var bytes = await LengthPrefixed.ReadMessageAsync(stream, maxBytes, cancellationToken)
            ?? throw new InvalidDataException("the stream ended before the message");
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"malformed message: {e.Message}", e);
        }
    }

    /// <summary>A pooled buffer big enough for a frame with <paramref name="payloadLength"/> bytes of payload.</summary>
    public static Frame Rent(int payloadLength) => new(payloadLength);

    /// <summary>Reads the next frame into a pooled buffer; null at the end of the stream.</summary>
    /// <exception cref="InvalidDataException">Over <see cref="MaxFrameBytes"/>, shorter than its header, or cut off.</exception>
    public static async Task<Frame?> ReadFrameAsync(Stream stream, CancellationToken cancellationToken)
    {
        var length = await LengthPrefixed.ReadVarintAsync(stream, cancellationToken);
        if (length is null)
        {
            return null;
        }
        if (length is < FrameHeader or > MaxFrameBytes)
        {
            throw new InvalidDataException($"a frame of {length} bytes is outside {FrameHeader}..{MaxFrameBytes}");
        }
        var frame = new Frame((int)length - FrameHeader);
        try
        {
            await stream.ReadExactlyAsync(frame.Body, cancellationToken);
        }
        catch (EndOfStreamException e)
        {
            frame.Dispose();
            throw new InvalidDataException("the stream ended inside a frame", e);
        }
        return frame;
    }

    /// <summary>One data frame in a pooled buffer: kind, index, payload.</summary>
    internal sealed class Frame : IDisposable
    {
        private readonly byte[] _buffer;
        private readonly int _prefix;
        private readonly int _payloadLength;

        public Frame(int payloadLength)
        {
            _payloadLength = payloadLength;
            _prefix = Varint.SizeOf((ulong)(FrameHeader + payloadLength));
            _buffer = ArrayPool<byte>.Shared.Rent(_prefix + FrameHeader + payloadLength);
            Varint.Write((ulong)(FrameHeader + payloadLength), _buffer);
        }

        public FrameKind Kind => (FrameKind)_buffer[_prefix];

        public int Index => (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(_buffer.AsSpan(_prefix + 1)), int.MaxValue);

        /// <summary>Kind, index and payload: what follows the length.</summary>
        public Memory<byte> Body => _buffer.AsMemory(_prefix, FrameHeader + _payloadLength);

        public Memory<byte> Payload => _buffer.AsMemory(_prefix + FrameHeader, _payloadLength);

        public void SetHeader(FrameKind kind, int index)
        {
            _buffer[_prefix] = (byte)kind;
            BinaryPrimitives.WriteUInt32BigEndian(_buffer.AsSpan(_prefix + 1), (uint)index);
        }

        public ValueTask WriteToAsync(Stream stream, CancellationToken cancellationToken) =>
            stream.WriteAsync(_buffer.AsMemory(0, _prefix + FrameHeader + _payloadLength), cancellationToken);

        public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
    }
}

/// <summary>SHA-256 of encrypted chunks, checked against the manifest before anything is used.</summary>
internal static class ChunkHash
{
    public static bool Matches(ICryptoProvider crypto, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> expected)
    {
        Span<byte> actual = stackalloc byte[FileManifest.HashLength];
        crypto.Sha256(ciphertext, actual);
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(actual, expected);
    }
}
