using System.Buffers;
using System.Threading.Channels;

namespace Parley.Net.Tests.Yamux;

/// <summary>
/// One end of an in-memory full-duplex connection: each direction is a bounded channel of pooled
/// chunks, so a writer blocks when the other end stops reading. Disposing one end gives the other end EOF on read
/// and an IOException on write.
/// </summary>
internal sealed class InMemoryDuplexStream : Stream
{
    private readonly Channel<Chunk> _incoming;
    private readonly Channel<Chunk> _outgoing;
    private Chunk _current;
    private int _currentOffset;
    private int _disposed;

    private InMemoryDuplexStream(Channel<Chunk> incoming, Channel<Chunk> outgoing)
    {
        _incoming = incoming;
        _outgoing = outgoing;
    }

    public static (InMemoryDuplexStream A, InMemoryDuplexStream B) CreatePair(int capacityChunks = 64)
    {
        var options = new BoundedChannelOptions(capacityChunks) { SingleReader = true, SingleWriter = true };
        var aToB = Channel.CreateBounded<Chunk>(options);
        var bToA = Channel.CreateBounded<Chunk>(options);
        return (new InMemoryDuplexStream(bToA, aToB), new InMemoryDuplexStream(aToB, bToA));
    }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        while (_current.Array is null)
        {
            try
            {
                if (!await _incoming.Reader.WaitToReadAsync(cancellationToken))
                {
                    return 0;
                }
            }
            catch (ChannelClosedException ex)
            {
                throw new IOException("The connection was closed.", ex);
            }

            if (_incoming.Reader.TryRead(out var chunk))
            {
                _current = chunk;
                _currentOffset = 0;
            }
        }

        var count = Math.Min(buffer.Length, _current.Length - _currentOffset);
        _current.Array.AsSpan(_currentOffset, count).CopyTo(buffer.Span);
        _currentOffset += count;
        if (_currentOffset == _current.Length)
        {
            ArrayPool<byte>.Shared.Return(_current.Array);
            _current = default;
        }

        return count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (buffer.IsEmpty)
        {
            return;
        }

        var array = ArrayPool<byte>.Shared.Rent(buffer.Length);
        buffer.CopyTo(array);
        try
        {
            await _outgoing.Writer.WriteAsync(new Chunk(array, buffer.Length), cancellationToken);
        }
        catch (ChannelClosedException ex)
        {
            ArrayPool<byte>.Shared.Return(array);
            throw new IOException("The connection was closed.", ex);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Async only.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("Async only.");

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _outgoing.Writer.TryComplete();
            _incoming.Writer.TryComplete(new IOException("The connection was closed by the reading end."));
        }

        base.Dispose(disposing);
    }

    private readonly record struct Chunk(byte[] Array, int Length);
}
