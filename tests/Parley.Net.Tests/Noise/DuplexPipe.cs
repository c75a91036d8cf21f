using System.Threading.Channels;

namespace Parley.Net.Tests.Noise;

/// <summary>
/// Two connected in-memory streams (test-only): what one end writes, the other reads, in the chunks
/// it was written. Disposing an end is a full close; <see cref="PipeEnd.CompleteWrites"/> is a half-close.
/// </summary>
internal static class DuplexPipe
{
    public static (PipeEnd Left, PipeEnd Right) Create(int capacityInChunks = 64)
    {
        var options = new BoundedChannelOptions(capacityInChunks) { SingleReader = true, SingleWriter = true };
        var leftToRight = Channel.CreateBounded<byte[]>(options);
        var rightToLeft = Channel.CreateBounded<byte[]>(options);
        return (new PipeEnd(rightToLeft, leftToRight), new PipeEnd(leftToRight, rightToLeft));
    }
}

internal sealed class PipeEnd(Channel<byte[]> incoming, Channel<byte[]> outgoing) : Stream
{
    private ReadOnlyMemory<byte> _current;

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public void CompleteWrites() => outgoing.Writer.TryComplete();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_current.IsEmpty)
        {
            if (!await incoming.Reader.WaitToReadAsync(cancellationToken))
            {
                return 0;
            }
            if (incoming.Reader.TryRead(out var chunk))
            {
                _current = chunk;
            }
        }
        var count = Math.Min(buffer.Length, _current.Length);
        _current.Span[..count].CopyTo(buffer.Span);
        _current = _current[count..];
        return count;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty)
        {
            return;
        }
        try
        {
            await outgoing.Writer.WriteAsync(buffer.ToArray(), cancellationToken);
        }
        catch (ChannelClosedException e)
        {
            throw new IOException("pipe closed", e);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            outgoing.Writer.TryComplete();
            incoming.Writer.TryComplete();
        }
        base.Dispose(disposing);
    }
}
