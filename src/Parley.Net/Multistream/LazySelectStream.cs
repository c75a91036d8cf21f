namespace Parley.Net.Multistream;

/// <summary>
/// A dialer's stream whose multistream-select proposal travels with its first data, and whose acceptance is read
/// before its first data is read: one round trip fewer per stream. Used only for a protocol the peer listed in
/// identify, as go-libp2p does; if the peer refuses after all, the first read fails with the refusal.
/// <paramref name="closeInnerWrite"/> half-closes <paramref name="inner"/>.
/// </summary>
internal sealed class LazySelectStream(Stream inner, string protocol, Func<CancellationToken, Task> closeInnerWrite) : Stream
{
    private readonly byte[] _proposal = MultistreamSelect.EncodeProposal(protocol);

    // Whoever claims the proposal first (the first write, read or close) sends it; the others wait until it is written,
    // because the listener reads whatever arrives first as the proposal: data a concurrent writer sent ahead of it
    // would be taken for a malformed proposal and the stream reset.
    private readonly TaskCompletionSource _proposalWritten = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _proposalClaimed;
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

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        // Once the proposal is out, a write goes straight to the inner stream without a state machine of its own.
        _proposalWritten.Task.IsCompleted ? inner.WriteAsync(buffer, cancellationToken) : WriteFirstAsync(buffer, cancellationToken);

    private async ValueTask WriteFirstAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        if (!await SendProposalAsync(buffer, cancellationToken).ConfigureAwait(false))
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _accepted ? inner.ReadAsync(buffer, cancellationToken) : ReadFirstAsync(buffer, cancellationToken);

    private async ValueTask<int> ReadFirstAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        // A protocol where the dialer reads first still needs its proposal out before any answer can come.
        await SendProposalAsync(ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        await MultistreamSelect.ReadAcceptanceAsync(inner, protocol, cancellationToken).ConfigureAwait(false);
        _accepted = true;
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
        await SendProposalAsync(ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
        await closeInnerWrite(cancellationToken).ConfigureAwait(false);
    }

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

    /// <summary>Sends the proposal, with <paramref name="firstData"/> in the same frame, if no one claimed it yet (true);
    /// otherwise waits until it is written (false), so that nothing can overtake it.</summary>
    private async Task<bool> SendProposalAsync(ReadOnlyMemory<byte> firstData, CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _proposalClaimed, 1) == 1)
        {
            await _proposalWritten.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return false;
        }
        try
        {
            // One frame for the proposal and a small first message, as a dialer that negotiated first would not manage.
            var joined = new byte[_proposal.Length + firstData.Length];
            _proposal.CopyTo(joined, 0);
            firstData.CopyTo(joined.AsMemory(_proposal.Length));
            await inner.WriteAsync(joined, cancellationToken).ConfigureAwait(false);
            return true;
        }
        finally
        {
            // Also when the write failed: the stream is broken then, and the waiters' own writes will say so.
            _proposalWritten.TrySetResult();
        }
    }
}
