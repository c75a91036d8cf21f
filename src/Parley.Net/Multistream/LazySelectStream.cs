namespace Parley.Net.Multistream;

/// <summary>
/// A dialer's stream whose multistream-select proposal travels with its first data, and whose acceptance is read
/// before its first data is read: one round trip fewer per stream. Used only for a protocol the peer listed in
/// identify, as go-libp2p does; if the peer refuses after all, the first read fails with the refusal.
/// </summary>
internal sealed class LazySelectStream(Yamux.YamuxStream inner, string protocol) : Stream
{
    private byte[]? _proposal = MultistreamSelect.EncodeProposal(protocol);
    private bool _accepted;

    public override bool CanRead => inner.CanRead;

    public override bool CanWrite => inner.CanWrite;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _proposal, null) is { } proposal)
        {
            // One frame for the proposal and a small first message, as a dialer that negotiated first would not manage.
            var joined = new byte[proposal.Length + buffer.Length];
            proposal.CopyTo(joined, 0);
            buffer.CopyTo(joined.AsMemory(proposal.Length));
            await inner.WriteAsync(joined, cancellationToken).ConfigureAwait(false);
            return;
        }
        await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!_accepted)
        {
            // A protocol where the dialer reads first still needs its proposal out before any answer can come.
            await SendProposalAsync(cancellationToken).ConfigureAwait(false);
            await MultistreamSelect.ReadAcceptanceAsync(inner, protocol, cancellationToken).ConfigureAwait(false);
            _accepted = true;
        }
        return await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>Half-closes the stream; a proposal not yet sent goes first, so the listener still learns the protocol.</summary>
    public async Task CloseWriteAsync(CancellationToken cancellationToken)
    {
        await SendProposalAsync(cancellationToken).ConfigureAwait(false);
        await inner.CloseWriteAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Reset() => inner.Reset();

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");

    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }
        base.Dispose(disposing);
    }

    private async Task SendProposalAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _proposal, null) is { } proposal)
        {
            await inner.WriteAsync(proposal, cancellationToken).ConfigureAwait(false);
        }
    }
}
