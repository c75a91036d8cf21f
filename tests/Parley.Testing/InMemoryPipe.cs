using System.Threading.Channels;

namespace Parley.Testing;

/// <summary>
/// One direction of an in-memory stream: written chunks are copied, queued (bounded, so a reader that
/// never reads blocks its writer as flow control would) and released to the reader after the link's latency.
/// </summary>
internal sealed class InMemoryPipe(TimeSpan latency, TimeProvider time, int capacityChunks = 64)
{
    private readonly Channel<(ReadOnlyMemory<byte> Data, long DeliverAt)> _chunks =
        Channel.CreateBounded<(ReadOnlyMemory<byte>, long)>(new BoundedChannelOptions(capacityChunks) { SingleReader = true });

    private ReadOnlyMemory<byte> _current;

    public async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (data.IsEmpty)
        {
            return;
        }
        try
        {
            await _chunks.Writer.WriteAsync((data.ToArray(), time.GetTimestamp()), cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw new IOException("stream closed for writing or reset", e);
        }
    }

    public async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        if (_current.IsEmpty)
        {
            (ReadOnlyMemory<byte> Data, long DeliverAt) next;
            try
            {
                if (!await _chunks.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false) || !_chunks.Reader.TryRead(out next))
                {
                    return 0;
                }
            }
            catch (ChannelClosedException e)
            {
                throw new IOException("stream reset", e);
            }
            var remaining = latency - time.GetElapsedTime(next.DeliverAt);
            if (remaining > TimeSpan.Zero)
            {
                await Task.Delay(remaining, time, cancellationToken).ConfigureAwait(false);
            }
            _current = next.Data;
        }
        var count = Math.Min(buffer.Length, _current.Length);
        _current[..count].CopyTo(buffer);
        _current = _current[count..];
        return count;
    }

    /// <summary>Graceful end: the reader drains what was written, then sees end of stream.</summary>
    public void Complete() => _chunks.Writer.TryComplete();

    /// <summary>Abort: pending and future reads and writes fail.</summary>
    public void Fail() => _chunks.Writer.TryComplete(new IOException("stream reset"));
}

/// <summary>
/// One end of an in-memory duplex stream, for testing protocol code without sockets. Each direction is bounded,
/// so a writer waits when the other end stops reading. <see cref="CompleteWrites"/> half-closes (the other end
/// reads to the end); disposing closes both ways (the other end reads the end, its writes fail).
/// </summary>
public sealed class InMemoryDuplexStream : Stream
{
    private readonly InMemoryPipe _incoming;
    private readonly InMemoryPipe _outgoing;
    private int _disposed;
    private Action? _onDispose;

    private InMemoryDuplexStream(InMemoryPipe incoming, InMemoryPipe outgoing)
    {
        _incoming = incoming;
        _outgoing = outgoing;
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

    public static (InMemoryDuplexStream A, InMemoryDuplexStream B) CreatePair(TimeSpan latency = default, TimeProvider? time = null, int capacityChunks = 64)
    {
        time ??= TimeProvider.System;
        var aToB = new InMemoryPipe(latency, time, capacityChunks);
        var bToA = new InMemoryPipe(latency, time, capacityChunks);
        return (new InMemoryDuplexStream(bToA, aToB), new InMemoryDuplexStream(aToB, bToA));
    }

    /// <summary>Runs <paramref name="action"/> once when this end is disposed.</summary>
    internal InMemoryDuplexStream OnDispose(Action action)
    {
        _onDispose = action;
        return this;
    }

    /// <summary>Half-close: we send no more, the other end reads what was sent and then the end.</summary>
    public void CompleteWrites() => _outgoing.Complete();

    public Task CloseWriteAsync(CancellationToken cancellationToken)
    {
        CompleteWrites();
        return Task.CompletedTask;
    }

    public void Reset()
    {
        _outgoing.Fail();
        _incoming.Fail();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _incoming.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _outgoing.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _outgoing.Complete();
            _incoming.Fail();
            _onDispose?.Invoke();
        }
        base.Dispose(disposing);
    }
}
