using System.Buffers;
using System.Runtime.CompilerServices;

namespace Parley.Net.Yamux;

/// <summary>
/// One yamux stream. Reads and writes may run concurrently with each other; concurrent reads
/// (or concurrent writes) are not supported, as with any <see cref="Stream"/>.
/// </summary>
public sealed class YamuxStream : Stream
{
    private readonly YamuxSession _session;
    private readonly Lock _lock = new();
    private readonly YamuxReceiveBuffer _receiveBuffer = new();

    // Receive-side flow control. Invariant: _receiveCredit + buffered + _unacknowledged == _receiveWindow.
    private int _receiveWindow = YamuxOptions.DefaultStreamWindowSize;
    private int _receiveCredit = YamuxOptions.DefaultStreamWindowSize;
    // What this stream holds of the session's memory budget: its receive window, until it is released.
    private int _reservedWindow;
    private int _unacknowledged;
    private long _windowEpochStart;

    private long _sendWindow = YamuxOptions.DefaultStreamWindowSize;

    private bool _remoteFinished;
    private bool _localFinished;
    private bool _disposed;
    private bool _removed;
    private Fault _readFault;
    private Fault _writeFault;
    private TaskCompletionSource? _readSignal;
    private TaskCompletionSource? _sendWindowSignal;

    internal YamuxStream(YamuxSession session, uint id, bool isInbound)
    {
        _session = session;
        _windowEpochStart = session.Time.GetTimestamp();
        Id = id;
        IsInbound = isInbound;
    }

    private enum Fault
    {
        None,
        LocalFinished,
        ResetLocally,
        ResetByRemote,
        SessionClosed,
        Disposed,
    }

    public uint Id { get; }

    internal bool IsInbound { get; }

    /// <summary>Bytes received and not yet read.</summary>
    internal int BufferedByteCount
    {
        get
        {
            lock (_lock)
            {
                return _receiveBuffer.Length;
            }
        }
    }

    /// <summary>The receive window currently granted to the remote.</summary>
    internal int ReceiveWindow
    {
        get
        {
            lock (_lock)
            {
                return _receiveWindow;
            }
        }
    }

    internal long SendWindow
    {
        get
        {
            lock (_lock)
            {
                return _sendWindow;
            }
        }
    }

    /// <summary>False when the stream was reset or the session closed before it could be accepted.</summary>
    internal bool IsOpen
    {
        get
        {
            lock (_lock)
            {
                return !_removed;
            }
        }
    }

    public override bool CanRead => !_disposed;

    public override bool CanWrite => !_disposed;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>Half-closes the stream (FIN): we send no more data, reads go on until the remote's FIN.</summary>
    /// <remarks>The FIN is queued even if <paramref name="cancellationToken"/> fires; cancellation only stops waiting for it to be written.</remarks>
    public async Task CloseWriteAsync(CancellationToken cancellationToken)
    {
        bool fullyClosed;
        lock (_lock)
        {
            if (_localFinished)
            {
                return;
            }

            if (_writeFault != Fault.None)
            {
                throw CreateException(_writeFault);
            }

            _localFinished = true;
            _writeFault = Fault.LocalFinished;
            WakeWaiters();
            fullyClosed = _remoteFinished && MarkRemoved();
        }

        _session.EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Fin, Id, 0));
        try
        {
            await _session.FlushControlFramesAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // Only after the FIN is out: the last stream closing after a GoAway ends the session.
            if (fullyClosed)
            {
                _session.OnStreamClosed(this);
            }
        }
    }

    /// <summary>Aborts both directions (RST); buffered data is dropped and pending reads and writes fail.</summary>
    public void Reset()
    {
        lock (_lock)
        {
            if (_removed)
            {
                return;
            }

            SetFaults(Fault.ResetLocally, Fault.ResetLocally);
            MarkRemoved();
        }

        _session.EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, Id, 0));
        _session.OnStreamClosed(this);
    }

    /// <summary>Returns 0 once the remote has half-closed and all buffered data was read.</summary>
    /// <exception cref="IOException">The stream was reset or the session closed.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            TaskCompletionSource signal;
            lock (_lock)
            {
                if (_receiveBuffer.Length > 0 && !buffer.IsEmpty)
                {
                    var read = _receiveBuffer.Read(buffer.Span);
                    AcknowledgeLocked(read);
                    return read;
                }

                if (_readFault != Fault.None)
                {
                    throw CreateException(_readFault);
                }

                if (_remoteFinished || buffer.IsEmpty)
                {
                    return 0;
                }

                // Checked only when there is nothing to return, so data that arrived still wins over cancellation.
                cancellationToken.ThrowIfCancellationRequested();
                // A signal set by an earlier reader's cancellation is spent: take a new one.
                if (_readSignal is null || _readSignal.Task.IsCompleted)
                {
                    _readSignal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                signal = _readSignal;
            }

            // Cancellation sets the signal itself rather than wrapping it in another task (Task.WaitAsync), so a wait
            // costs one task; the loop then finds the token cancelled.
            using (cancellationToken.CanBeCanceled ? cancellationToken.UnsafeRegister(static state => ((TaskCompletionSource)state!).TrySetResult(), signal) : default)
            {
                await signal.Task.ConfigureAwait(false);
            }
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    // Blocking reads would tie up a thread per stream; Parley never does synchronous IO on the network.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");

    /// <summary>Sends <paramref name="buffer"/> in frames of at most MaxFrameDataLength, waiting for send window as needed.</summary>
    /// <exception cref="IOException">The stream was reset, closed for writing, or the session closed.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (!buffer.IsEmpty)
        {
            var chunk = await ReserveSendWindowAsync(Math.Min(buffer.Length, _session.MaxFrameDataLength), cancellationToken).ConfigureAwait(false);
            try
            {
                var header = new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, Id, (uint)chunk);
                await _session.SendFrameAsync(header, buffer[..chunk], cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Cancellation only interrupts waiting for the session writer, so the frame was never sent.
                ReturnSendWindow(chunk);
                throw;
            }

            buffer = buffer[chunk..];
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("use WriteAsync");

    /// <summary>Frames are handed to the session writer as they are written; there is nothing to flush.</summary>
    public override void Flush()
    {
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    /// <summary>Reserves the window this stream will grant (<see cref="GrowWindowToInitialSize"/>) from the session's
    /// memory budget; false if the budget has no room, and then the stream must not be used.</summary>
    internal bool TryReserveInitialWindow()
    {
        if (!_session.Memory.TryReserve(_session.InitialStreamWindowSize))
        {
            return false;
        }
        _reservedWindow = _session.InitialStreamWindowSize;
        return true;
    }

    /// <summary>Gives the reserved window back to the budget, once.</summary>
    internal void ReleaseWindow()
    {
        int reserved;
        lock (_lock)
        {
            reserved = _reservedWindow;
            _reservedWindow = 0;
        }
        if (reserved > 0)
        {
            _session.Memory.Release(reserved);
        }
    }

    /// <summary>Initial window growth beyond the protocol's 256 KiB, announced with our SYN or ACK.</summary>
    internal int GrowWindowToInitialSize()
    {
        lock (_lock)
        {
            var delta = Math.Max(0, _session.InitialStreamWindowSize - _receiveWindow);
            _receiveWindow += delta;
            _receiveCredit += delta;
            _windowEpochStart = _session.Time.GetTimestamp();
            return delta;
        }
    }

    /// <summary>Charges an incoming Data frame against the receive window; false if it exceeds the window.</summary>
    internal bool TryReserveReceive(uint length, out int available)
    {
        lock (_lock)
        {
            available = _receiveCredit;
            if (length > (uint)_receiveCredit)
            {
                return false;
            }

            _receiveCredit -= (int)length;
            return true;
        }
    }

    internal void OnData(ReadOnlySpan<byte> payload)
    {
        lock (_lock)
        {
            if (IsReceiveClosed)
            {
                AcknowledgeLocked(payload.Length);
                return;
            }

            _receiveBuffer.Append(payload);
            WakeReader();
        }
    }

    /// <summary>
    /// Returns where the read loop should read the next <paramref name="length"/> payload bytes; it must
    /// then call <see cref="EndReceive"/> or <see cref="AbortReceive"/>.
    /// </summary>
    internal Memory<byte> BeginReceive(int length)
    {
        lock (_lock)
        {
            return _receiveBuffer.Reserve(length);
        }
    }

    internal void EndReceive(int length)
    {
        lock (_lock)
        {
            _receiveBuffer.Commit(length);
            if (IsReceiveClosed)
            {
                _receiveBuffer.Clear();
                AcknowledgeLocked(length);
                return;
            }

            WakeReader();
        }
    }

    internal void AbortReceive()
    {
        lock (_lock)
        {
            _receiveBuffer.CancelReservation();
            if (IsReceiveClosed)
            {
                _receiveBuffer.Clear();
            }
        }
    }

    /// <exception cref="YamuxProtocolException">The update overflows the 32-bit window.</exception>
    internal void OnWindowUpdate(uint delta)
    {
        if (delta == 0)
        {
            return;
        }

        lock (_lock)
        {
            if (_sendWindow + delta > uint.MaxValue)
            {
                throw new YamuxProtocolException($"Window update of {delta} overflows the send window of stream {Id}.");
            }

            _sendWindow += delta;
            _sendWindowSignal?.TrySetResult();
            _sendWindowSignal = null;
        }
    }

    internal void OnRemoteFin()
    {
        bool fullyClosed;
        lock (_lock)
        {
            if (_remoteFinished)
            {
                return;
            }

            _remoteFinished = true;
            WakeReader();
            fullyClosed = _localFinished && MarkRemoved();
        }

        if (fullyClosed)
        {
            _session.OnStreamClosed(this);
        }
    }

    internal void OnRemoteReset()
    {
        lock (_lock)
        {
            if (_removed)
            {
                return;
            }

            SetFaults(Fault.ResetByRemote, Fault.ResetByRemote);
            MarkRemoved();
        }

        _session.OnStreamClosed(this);
    }

    /// <summary>The session ended: writes fail; reads fail too unless the remote had already finished sending.</summary>
    internal void OnSessionClosed()
    {
        lock (_lock)
        {
            _removed = true;
            SetFaults(_remoteFinished ? Fault.None : Fault.SessionClosed, Fault.SessionClosed);
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Release();
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// Sends FIN if needed and drops buffered data. If the remote has not finished, the stream stays
    /// registered until it does; data arriving meanwhile is discarded and its window returned so the
    /// remote can run to its FIN.
    /// </summary>
    private void Release()
    {
        bool fullyClosed;
        var flags = YamuxFrameFlags.None;
        int windowDelta;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            if (_writeFault == Fault.None)
            {
                flags = YamuxFrameFlags.Fin;
            }

            _localFinished = true;
            _unacknowledged += _receiveBuffer.Length;
            _receiveBuffer.Clear();
            windowDelta = TakeWindowUpdate();
            SetFaults(Fault.Disposed, Fault.Disposed);
            fullyClosed = _remoteFinished && MarkRemoved();
        }

        if (flags != YamuxFrameFlags.None || windowDelta > 0)
        {
            _session.EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, flags, Id, (uint)windowDelta));
        }

        if (fullyClosed)
        {
            _session.OnStreamClosed(this);
        }
    }

    private bool IsReceiveClosed => _disposed || _readFault != Fault.None;

    /// <summary>Accounts consumed (or discarded) bytes and returns their window to the remote when due.</summary>
    private void AcknowledgeLocked(int length)
    {
        _unacknowledged += length;
        var delta = TakeWindowUpdate();
        if (delta > 0)
        {
            _session.EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, Id, (uint)delta));
        }
    }

    /// <summary>
    /// Returns the window delta to announce once at least half the window was consumed, else 0.
    /// Like go-yamux, doubles the window (up to the maximum) when the reader drained it within four
    /// round trips, so a fast reader is not throttled by the window.
    /// </summary>
    private int TakeWindowUpdate()
    {
        if (_remoteFinished || _removed || _unacknowledged < _receiveWindow / 2)
        {
            return 0;
        }

        var now = _session.Time.GetTimestamp();
        var roundTrip = _session.RoundTripTime;
        if (!_disposed && roundTrip > TimeSpan.Zero && _receiveWindow < _session.MaxStreamWindowSize
            && _session.Time.GetElapsedTime(_windowEpochStart, now) < roundTrip * 4)
        {
            var grown = (int)Math.Min((long)_receiveWindow * 2, _session.MaxStreamWindowSize);
            // A window grows only within the memory budget; the stream keeps working at its current size otherwise.
            if (_reservedWindow > 0 && _session.Memory.TryReserve(grown - _receiveWindow))
            {
                _reservedWindow += grown - _receiveWindow;
                _unacknowledged += grown - _receiveWindow;
                _receiveWindow = grown;
            }
        }

        _windowEpochStart = now;
        var delta = _unacknowledged;
        _receiveCredit += delta;
        _unacknowledged = 0;
        return delta;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReserveSendWindowAsync(int wanted, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task signal;
            lock (_lock)
            {
                if (_writeFault != Fault.None)
                {
                    throw CreateException(_writeFault);
                }

                if (_sendWindow > 0)
                {
                    var granted = (int)Math.Min(_sendWindow, wanted);
                    _sendWindow -= granted;
                    return granted;
                }

                _sendWindowSignal ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                signal = _sendWindowSignal.Task;
            }

            await signal.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void ReturnSendWindow(int length)
    {
        lock (_lock)
        {
            _sendWindow += length;
        }
    }

    /// <summary>Marks the stream as gone from the session; true if this call did it.</summary>
    private bool MarkRemoved()
    {
        if (_removed)
        {
            return false;
        }

        _removed = true;
        return true;
    }

    private void SetFaults(Fault read, Fault write)
    {
        if (read != Fault.None && _readFault == Fault.None)
        {
            _readFault = read;
            _receiveBuffer.Clear();
        }

        if (write != Fault.None && _writeFault is Fault.None or Fault.LocalFinished)
        {
            _writeFault = write;
        }

        WakeWaiters();
    }

    private void WakeReader()
    {
        _readSignal?.TrySetResult();
        _readSignal = null;
    }

    private void WakeWaiters()
    {
        WakeReader();
        _sendWindowSignal?.TrySetResult();
        _sendWindowSignal = null;
    }

    private Exception CreateException(Fault fault) => fault switch
    {
        Fault.LocalFinished => new IOException($"Yamux stream {Id} is closed for writing."),
        Fault.ResetLocally => new IOException($"Yamux stream {Id} was reset."),
        Fault.ResetByRemote => new IOException($"Yamux stream {Id} was reset by the remote peer."),
        Fault.SessionClosed => _session.CreateClosedException(),
        _ => new ObjectDisposedException(nameof(YamuxStream)),
    };
}
