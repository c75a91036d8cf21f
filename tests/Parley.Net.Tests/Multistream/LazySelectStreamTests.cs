using Parley.Net.Multistream;
using Parley.Testing;

namespace Parley.Net.Tests.Multistream;

/// <summary>
/// The listener reads whatever reaches it first as the proposal, so nothing may overtake a proposal that is still
/// being written: the first read sends it on its own while another thread writes data or half-closes.
/// </summary>
public sealed class LazySelectStreamTests
{
    private const string Protocol = "/parley-test/echo/1.0.0";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Data_written_while_the_first_read_sends_the_proposal_goes_after_it()
    {
        var inner = new HeldFirstWriteStream();
        await using var lazy = new LazySelectStream(inner, Protocol, inner.CloseWriteAsync);
        var reading = lazy.ReadAsync(new byte[1]).AsTask();
        await inner.FirstWriteStarted.WaitAsync(Timeout);

        var writing = lazy.WriteAsync(new byte[] { 1, 2, 3 }).AsTask();
        Assert.False(writing.IsCompleted);
        inner.ReleaseFirstWrite();
        await writing.WaitAsync(Timeout);

        Assert.Equal(1, await reading.WaitAsync(Timeout));
        Assert.Equal([MultistreamSelect.EncodeProposal(Protocol), [1, 2, 3]], inner.Sent);
    }

    [Fact]
    public async Task A_half_close_while_the_first_read_sends_the_proposal_goes_after_it()
    {
        var inner = new HeldFirstWriteStream();
        await using var lazy = new LazySelectStream(inner, Protocol, inner.CloseWriteAsync);
        var reading = lazy.ReadAsync(new byte[1]).AsTask();
        await inner.FirstWriteStarted.WaitAsync(Timeout);

        var closing = lazy.CloseWriteAsync(CancellationToken.None);
        Assert.False(closing.IsCompleted);
        inner.ReleaseFirstWrite();
        await closing.WaitAsync(Timeout);

        Assert.Equal(1, await reading.WaitAsync(Timeout));
        Assert.Equal([MultistreamSelect.EncodeProposal(Protocol), HeldFirstWriteStream.Fin], inner.Sent);
    }

    /// <summary>Records what is sent, in order; the first write is held until released. Answers as a listener that accepts.</summary>
    private sealed class HeldFirstWriteStream() : PassThroughStream(new MemoryStream([.. MultistreamSelect.EncodeProposal(Protocol), (byte)'!']))
    {
        public static readonly byte[] Fin = [];

        private readonly TaskCompletionSource _firstWriteStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _firstWriteReleased = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<byte[]> _sent = [];
        private int _writes;

        public Task FirstWriteStarted => _firstWriteStarted.Task;

        public IReadOnlyList<byte[]> Sent
        {
            get
            {
                lock (_sent)
                {
                    return [.. _sent];
                }
            }
        }

        public void ReleaseFirstWrite() => _firstWriteReleased.TrySetResult();

        public Task CloseWriteAsync(CancellationToken cancellationToken)
        {
            Record(Fin);
            return Task.CompletedTask;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var copy = buffer.ToArray();
            if (Interlocked.Increment(ref _writes) == 1)
            {
                _firstWriteStarted.TrySetResult();
                await _firstWriteReleased.Task.WaitAsync(cancellationToken);
            }
            Record(copy);
        }

        private void Record(byte[] sent)
        {
            lock (_sent)
            {
                _sent.Add(sent);
            }
        }
    }
}
