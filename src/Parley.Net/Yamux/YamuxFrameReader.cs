using System.Buffers;
using System.Runtime.CompilerServices;

namespace Parley.Net.Yamux;

/// <summary>
/// Reads frames from the transport through a small buffer so headers and small payloads cost few
/// transport reads, while large payloads bypass the buffer and land directly in their destination.
/// Only the session's read loop uses it.
/// </summary>
internal sealed class YamuxFrameReader(Stream transport) : IDisposable
{
    private const int BufferSize = 16 * 1024;

    /// <summary>Payload remainders at least this large are read directly from the transport.</summary>
    private const int DirectReadThreshold = BufferSize / 2;

    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    private int _start;
    private int _end;

    /// <summary>Returns null when the transport ends cleanly between frames.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<YamuxFrameHeader?> ReadHeaderAsync(CancellationToken cancellationToken)
    {
        if (!await FillAsync(YamuxFrameHeader.Size, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        var header = YamuxFrameHeader.Decode(_buffer.AsSpan(_start, YamuxFrameHeader.Size));
        _start += YamuxFrameHeader.Size;
        return header;
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length payload bytes.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask ReadPayloadAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        var buffered = Math.Min(_end - _start, destination.Length);
        _buffer.AsSpan(_start, buffered).CopyTo(destination.Span);
        _start += buffered;
        destination = destination[buffered..];
        if (destination.IsEmpty)
        {
            return;
        }

        if (destination.Length >= DirectReadThreshold)
        {
            await transport.ReadExactlyAsync(destination, cancellationToken).ConfigureAwait(false);
            return;
        }

        await FillRequiredAsync(destination.Length, cancellationToken).ConfigureAwait(false);
        _buffer.AsSpan(_start, destination.Length).CopyTo(destination.Span);
        _start += destination.Length;
    }

    /// <summary>
    /// Returns the next <paramref name="length"/> (at most the 16 KiB buffer size) payload bytes
    /// from the internal buffer; valid until the next call.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<ReadOnlyMemory<byte>> ReadBufferedPayloadAsync(int length, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, BufferSize);
        await FillRequiredAsync(length, cancellationToken).ConfigureAwait(false);
        var payload = _buffer.AsMemory(_start, length);
        _start += length;
        return payload;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask SkipAsync(uint length, CancellationToken cancellationToken)
    {
        while (length > 0)
        {
            if (_start == _end)
            {
                await FillRequiredAsync(1, cancellationToken).ConfigureAwait(false);
            }

            var skipped = (int)Math.Min(_end - _start, length);
            _start += skipped;
            length -= (uint)skipped;
        }
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask FillRequiredAsync(int count, CancellationToken cancellationToken)
    {
        if (!await FillAsync(count, cancellationToken).ConfigureAwait(false))
        {
            throw new EndOfStreamException("The transport ended in the middle of a yamux frame.");
        }
    }

    /// <summary>Ensures <paramref name="count"/> bytes are buffered; false if the transport ended before any byte of them arrived.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_end - _start >= count)
        {
            return true;
        }

        if (_start == _end)
        {
            _start = _end = 0;
        }

        if (_buffer.Length - _start < count)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
        }

        var hadData = _end > _start;
        while (_end - _start < count)
        {
            var read = await transport.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                if (!hadData && _end == _start)
                {
                    return false;
                }

                throw new EndOfStreamException("The transport ended in the middle of a yamux frame.");
            }

            _end += read;
        }

        return true;
    }
}
