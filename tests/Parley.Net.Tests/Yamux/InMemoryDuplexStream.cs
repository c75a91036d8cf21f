using System.Threading.Channels;

namespace Parley.Net.Tests.Yamux;

/// <summary>
/// One end of an in-memory full-duplex connection: each direction is a bounded channel of chunks, so
/// a writer blocks when the other end stops reading. Disposing one end gives the other end EOF on read
/// and an IOException on write.
/// </summary>
internal sealed class InMemoryDuplexStream : Stream
{
    private readonly Channel<byte[]> _incoming;
    private readonly Channel<byte[]> _outgoing;
    private ReadOnlyMemory<byte> _current;
    private int _disposed;

    private InMemoryDuplexStream(Channel<byte[]> incoming, Channel<byte[]> outgoing)
    {
        _incoming = incoming;
        _outgoing = outgoing;
    }

    public static (InMemoryDuplexStream A, InMemoryDuplexStream B) CreatePair(int capacityChunks = 64)
    {
        var options = new BoundedChannelOptions(capacityChunks) { SingleReader = true, SingleWriter = true };
        var aToB = Channel.CreateBounded<byte[]>(options);
        var bToA = Channel.CreateBounded<byte[]>(options);
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
        while (_current.IsEmpty)
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
            }
        }

        var count = Math.Min(buffer.Length, _current.Length);
        _current.Span[..count].CopyTo(buffer.Span);
        _current = _current[count..];
        return count;
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (buffer.IsEmpty)
        {
            return;
        }

        try
        {
            await _outgoing.Writer.WriteAsync(buffer.ToArray(), cancellationToken);
        }
        catch (ChannelClosedException ex)
        {
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
}
