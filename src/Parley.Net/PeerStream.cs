using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Net;

/// <summary>
/// One protocol stream to a peer. Disposing it closes our side for writing (the remote reads to the end);
/// <see cref="Reset"/> aborts it both ways.
/// </summary>
public sealed class PeerStream : Stream
{
    private readonly Stream _inner;
    private readonly Func<CancellationToken, Task> _closeWrite;
    private readonly Action _reset;
    private Action? _released;

    /// <param name="released">Called once when the stream is disposed: what it held of the host's limits is freed.</param>
    public PeerStream(Stream inner, string protocol, PeerId remotePeer, Multiaddr? remoteAddress, Func<CancellationToken, Task> closeWrite, Action reset, Action? released = null)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        Protocol = protocol;
        RemotePeer = remotePeer;
        RemoteAddress = remoteAddress;
        _closeWrite = closeWrite;
        _reset = reset;
        _released = released;
    }

    public string Protocol { get; }

    public PeerId RemotePeer { get; }

    /// <summary>The remote address of the connection carrying this stream, as this node sees it.</summary>
    public Multiaddr? RemoteAddress { get; }

    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>Tells the remote we will send nothing more; reading goes on.</summary>
    public Task CloseWriteAsync(CancellationToken cancellationToken) => _closeWrite(cancellationToken);

    public void Reset() => _reset();

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.ReadAsync(buffer, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.WriteAsync(buffer, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);

    public override void Flush() => _inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync().ConfigureAwait(false);
        Interlocked.Exchange(ref _released, null)?.Invoke();
        await base.DisposeAsync().ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            Interlocked.Exchange(ref _released, null)?.Invoke();
        }
        base.Dispose(disposing);
    }
}
