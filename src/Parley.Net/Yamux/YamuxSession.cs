using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Parley.Net.Yamux;

/// <summary>
/// A yamux session over a duplex transport. One read loop dispatches incoming frames; all frame
/// writes are serialized by a write lock. Data frames are written directly by the writing stream,
/// while control frames (window updates, FIN/RST, ping replies) are queued so the read loop never
/// waits on the transport; they go out ahead of the next data frame or via the flush loop.
/// </summary>
public sealed class YamuxSession : IAsyncDisposable
{
    private const int MaxControlFramesPerWrite = 64;
    private const int ControlAreaSize = MaxControlFramesPerWrite * YamuxFrameHeader.Size;

    /// <summary>Beyond this many queued control frames the read loop stops to flush them (the peer is not reading).</summary>
    private const int MaxPendingControlFrames = 4096;

    /// <summary>
    /// Payloads up to this size are copied out of the frame reader's buffer; larger ones are read from the
    /// transport straight into the stream's receive buffer, skipping a copy.
    /// </summary>
    private const int CopiedPayloadMaxLength = 4 * 1024;

    private static readonly TimeSpan CloseTimeout = TimeSpan.FromMilliseconds(500);

    /// <summary>How long DisposeAsync waits for the background loops after the transport was closed.</summary>
    private static readonly TimeSpan LoopExitTimeout = TimeSpan.FromSeconds(5);

    private readonly Stream _transport;
    private readonly bool _isClient;
    private readonly YamuxOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    private readonly Lock _streamsLock = new();
    private readonly Dictionary<uint, YamuxStream> _streams = [];
    private readonly Channel<YamuxStream> _acceptQueue = Channel.CreateUnbounded<YamuxStream>(new UnboundedChannelOptions { SingleWriter = true });
    private long _nextStreamId;
    private int _inboundCount;
    private int _outboundCount;
    private bool _localGoAway;
    private bool _remoteGoAway;
    private bool _streamsClosed;

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly byte[] _sendBuffer;
    private readonly ConcurrentQueue<YamuxFrameHeader> _controlFrames = new();
    private readonly Channel<bool> _flushSignal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private int _controlFrameCount;
    private int _goAwaySent;

    private readonly Lock _pingsLock = new();
    private readonly Dictionary<uint, PendingPing> _pings = [];
    private bool _pingsClosed;
    private int _nextPingId;
    private long _roundTripTicks;

    private readonly CancellationTokenSource _shutdown = new();
    private readonly CancellationToken _shutdownToken;
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Exception? _closeReason;
    private int _started;
    private Task _readLoop = Task.CompletedTask;
    private Task _flushLoop = Task.CompletedTask;
    private Task _keepAliveLoop = Task.CompletedTask;
    private Task _roundTripProbe = Task.CompletedTask;
    private long _lastActivityTicks;
    private long _discardedFrameCount;

    public YamuxSession(Stream transport, bool isClient, YamuxOptions? options = null, ILogger? logger = null, IStreamMemory? memory = null)
    {
        ArgumentNullException.ThrowIfNull(transport);
        Memory = memory ?? UnlimitedStreamMemory.Instance;
        _options = options ?? new YamuxOptions();
        _options.Validate();
        _time = _options.Time;
        _lastActivityTicks = _time.GetUtcNow().UtcTicks;
        _transport = transport;
        _isClient = isClient;
        _logger = logger ?? NullLogger.Instance;
        _nextStreamId = isClient ? 1 : 2;
        _sendBuffer = new byte[ControlAreaSize + YamuxFrameHeader.Size + _options.MaxFrameDataLength];
        _shutdownToken = _shutdown.Token;
    }

    public int ActiveStreamCount
    {
        get
        {
            lock (_streamsLock)
            {
                return _streams.Count;
            }
        }
    }

    public bool IsClosed => Volatile.Read(ref _closeReason) is not null;

    /// <summary>The session's clock (<see cref="YamuxOptions.Time"/>).</summary>
    internal TimeProvider Time => _time;

    /// <summary>Completes when the session has ended, for whatever reason; never faults.</summary>
    public Task Completion => _completion.Task;

    public Exception? CloseReason => Volatile.Read(ref _closeReason);

    /// <summary>When a stream or GoAway frame was last received or sent, for idle timeouts; pings do not count.</summary>
    public DateTimeOffset LastActivity => new(Volatile.Read(ref _lastActivityTicks), TimeSpan.Zero);

    internal int MaxFrameDataLength => _options.MaxFrameDataLength;

    internal int InitialStreamWindowSize => _options.InitialStreamWindowSize;

    internal int MaxStreamWindowSize => _options.MaxStreamWindowSize;

    internal IStreamMemory Memory { get; }

    /// <summary>Latest measured ping round trip, zero until one completed.</summary>
    internal TimeSpan RoundTripTime => TimeSpan.FromTicks(Volatile.Read(ref _roundTripTicks));

    /// <summary>Frames for unknown or refused streams whose payload was skipped.</summary>
    internal long DiscardedFrameCount => Interlocked.Read(ref _discardedFrameCount);

    /// <summary>Starts the read loop, the control-frame flusher, an initial RTT probe and the keepalive.</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
        {
            throw new InvalidOperationException("The yamux session was already started.");
        }

        _readLoop = Task.Run(ReadLoopAsync);
        _flushLoop = Task.Run(FlushLoopAsync);
        _roundTripProbe = Task.Run(ProbeRoundTripAsync);
        if (_options.KeepAliveInterval is { } interval)
        {
            _keepAliveLoop = Task.Run(() => KeepAliveLoopAsync(interval));
        }
    }

    /// <summary>Opens a stream; its SYN is queued, so data can be written at once without waiting for the ACK.</summary>
    /// <exception cref="YamuxSessionClosedException">The session is closed or a GoAway was sent or received.</exception>
    /// <exception cref="InvalidOperationException">MaxOutboundStreams streams are already open.</exception>
    /// <exception cref="IOException">The memory budget (<see cref="IStreamMemory"/>) has no room for the stream's window.</exception>
    public Task<YamuxStream> OpenStreamAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        YamuxStream stream;
        lock (_streamsLock)
        {
            if (_streamsClosed)
            {
                throw CreateClosedException();
            }

            if (_localGoAway || _remoteGoAway)
            {
                throw new YamuxSessionClosedException("The yamux session is going away; no new streams can be opened.");
            }

            if (_outboundCount >= _options.MaxOutboundStreams)
            {
                throw new InvalidOperationException($"The limit of {_options.MaxOutboundStreams} outbound yamux streams is reached.");
            }

            if (_nextStreamId > uint.MaxValue)
            {
                throw new YamuxSessionClosedException("The yamux session ran out of stream ids.");
            }

            stream = new YamuxStream(this, (uint)_nextStreamId, isInbound: false);
            if (!stream.TryReserveInitialWindow())
            {
                throw new IOException($"No memory left to buffer a new stream's {_options.InitialStreamWindowSize}-byte window.");
            }

            _nextStreamId += 2;
            _streams.Add(stream.Id, stream);
            _outboundCount++;
        }

        var delta = stream.GrowWindowToInitialSize();
        EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, stream.Id, (uint)delta));
        return Task.FromResult(stream);
    }

    /// <summary>Waits for the next stream opened by the remote and acknowledges it.</summary>
    /// <exception cref="YamuxSessionClosedException">The session is closed.</exception>
    public async Task<YamuxStream> AcceptStreamAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            YamuxStream stream;
            try
            {
                stream = await _acceptQueue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                throw CreateClosedException();
            }

            // A stream reset before it was accepted is of no use to the caller.
            if (!stream.IsOpen)
            {
                continue;
            }

            var delta = stream.GrowWindowToInitialSize();
            EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Ack, stream.Id, (uint)delta));
            return stream;
        }
    }

    /// <summary>Sends a ping and returns the round-trip time.</summary>
    /// <exception cref="YamuxSessionClosedException">The session closed before the reply arrived.</exception>
    public async Task<TimeSpan> PingAsync(CancellationToken cancellationToken)
    {
        var id = unchecked((uint)Interlocked.Increment(ref _nextPingId));
        var pending = new PendingPing(_time.GetTimestamp());
        lock (_pingsLock)
        {
            if (_pingsClosed)
            {
                throw CreateClosedException();
            }

            _pings[id] = pending;
        }

        try
        {
            await SendFrameAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, id), ReadOnlyMemory<byte>.Empty, cancellationToken).ConfigureAwait(false);
            return await pending.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_pingsLock)
            {
                _pings.Remove(id);
            }
        }
    }

    /// <summary>
    /// Normal: tells the remote we accept no new streams and open none; existing streams finish and
    /// the session closes once none remain. ProtocolError/InternalError: closes the session now.
    /// </summary>
    public async Task GoAwayAsync(YamuxGoAwayCode code, CancellationToken cancellationToken)
    {
        if (code != YamuxGoAwayCode.Normal)
        {
            await CloseAsync(new YamuxSessionClosedException($"The yamux session was closed locally with GoAway({code})."), code).ConfigureAwait(false);
            return;
        }

        bool drained;
        lock (_streamsLock)
        {
            if (_streamsClosed)
            {
                throw CreateClosedException();
            }

            _localGoAway = true;
            drained = _streams.Count == 0;
        }

        if (Interlocked.Exchange(ref _goAwaySent, 1) == 0)
        {
            // Queued, so cancelling the wait below cannot lose it, and a close racing us still flushes it.
            EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)code));
            try
            {
                await FlushControlFramesAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (YamuxSessionClosedException) when (IsClosed)
            {
                // The last stream closed meanwhile; closing flushed the GoAway, and Completion tells the rest.
            }
        }

        if (drained)
        {
            await CloseAsync(new YamuxSessionClosedException("The yamux session went away with no streams left."), YamuxGoAwayCode.Normal).ConfigureAwait(false);
        }
    }

    /// <summary>Sends GoAway(Normal) best-effort, closes the transport, resets all streams.</summary>
    public async ValueTask DisposeAsync()
    {
        await CloseAsync(new YamuxSessionClosedException("The yamux session was disposed."), YamuxGoAwayCode.Normal).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_readLoop, _flushLoop, _keepAliveLoop, _roundTripProbe).WaitAsync(LoopExitTimeout).ConfigureAwait(false);
            _shutdown.Dispose();
        }
        catch (TimeoutException)
        {
            // Only a transport that ignores both cancellation and disposal gets here; the loops end with it.
            _logger.LogWarning("Yamux session loops did not stop within {Timeout} of closing the transport", LoopExitTimeout);
        }
    }

    internal YamuxSessionClosedException CreateClosedException()
    {
        var reason = CloseReason;
        return new YamuxSessionClosedException(reason is null ? "The yamux session is closed." : $"The yamux session is closed: {reason.Message}", reason);
    }

    /// <summary>Queues a header-only frame; it never blocks, so the read loop can use it.</summary>
    internal void EnqueueControlFrame(YamuxFrameHeader header)
    {
        _controlFrames.Enqueue(header);
        Interlocked.Increment(ref _controlFrameCount);
        _flushSignal.Writer.TryWrite(true);
    }

    /// <summary>Writes queued control frames, then one frame, in a single transport write.</summary>
    /// <remarks><paramref name="cancellationToken"/> only cancels waiting for the writer: a started write is never torn.</remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    internal async ValueTask SendFrameAsync(YamuxFrameHeader header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsClosed)
            {
                throw CreateClosedException();
            }

            var length = WriteControlFrames(_sendBuffer, out var controlIsActivity);
            header.Encode(_sendBuffer.AsSpan(length));
            length += YamuxFrameHeader.Size;
            payload.Span.CopyTo(_sendBuffer.AsSpan(length));
            length += payload.Length;
            await WriteTransportAsync(_sendBuffer.AsMemory(0, length), controlIsActivity || IsActivity(header)).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Writes all control frames queued so far (or waits for whoever is writing them).</summary>
    internal async Task FlushControlFramesAsync(CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (HasPendingControlFrames)
            {
                if (IsClosed)
                {
                    throw CreateClosedException();
                }

                var length = WriteControlFrames(_sendBuffer, out var isActivity);
                await WriteTransportAsync(_sendBuffer.AsMemory(0, length), isActivity).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>Called by a stream once it is fully closed or reset.</summary>
    internal void OnStreamClosed(YamuxStream stream)
    {
        bool drained;
        lock (_streamsLock)
        {
            if (!_streams.Remove(stream.Id))
            {
                return;
            }

            if (stream.IsInbound)
            {
                _inboundCount--;
            }
            else
            {
                _outboundCount--;
            }

            drained = (_localGoAway || _remoteGoAway) && _streams.Count == 0;
        }

        stream.ReleaseWindow();

        if (drained)
        {
            _ = CloseAsync(new YamuxSessionClosedException("The yamux session went away and its last stream closed."), YamuxGoAwayCode.Normal);
        }
    }

    private bool HasPendingControlFrames => Volatile.Read(ref _controlFrameCount) > 0;

    private int WriteControlFrames(Span<byte> destination, out bool isActivity)
    {
        var written = 0;
        isActivity = false;
        while (written < ControlAreaSize && _controlFrames.TryDequeue(out var header))
        {
            Interlocked.Decrement(ref _controlFrameCount);
            header.Encode(destination[written..]);
            written += YamuxFrameHeader.Size;
            isActivity |= IsActivity(header);
        }

        return written;
    }

    /// <summary>Pings (keepalive, RTT probes) do not count as activity, or keepalive would defeat idle timeouts.</summary>
    private static bool IsActivity(YamuxFrameHeader header) => header.Type != YamuxFrameType.Ping;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteTransportAsync(ReadOnlyMemory<byte> bytes, bool isActivity)
    {
        try
        {
            await _transport.WriteAsync(bytes, _shutdownToken).ConfigureAwait(false);
            await _transport.FlushAsync(_shutdownToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            if (!IsClosed)
            {
                _logger.LogDebug(ex, "Yamux transport write failed");
                _ = CloseAsync(new YamuxSessionClosedException("Writing to the transport failed.", ex), goAway: null);
            }

            throw CreateClosedException();
        }

        if (isActivity)
        {
            Touch();
        }
    }

    private void Touch() => Volatile.Write(ref _lastActivityTicks, _time.GetUtcNow().UtcTicks);

    private async Task ReadLoopAsync()
    {
        Exception reason;
        YamuxGoAwayCode? goAway = null;
        try
        {
            using var reader = new YamuxFrameReader(_transport);
            while (true)
            {
                if (await reader.ReadHeaderAsync(_shutdownToken).ConfigureAwait(false) is not { } header)
                {
                    reason = new YamuxSessionClosedException("The remote peer closed the connection.");
                    break;
                }

                if (IsActivity(header))
                {
                    Touch();
                }

                await HandleFrameAsync(reader, header).ConfigureAwait(false);
                if (Volatile.Read(ref _controlFrameCount) > MaxPendingControlFrames)
                {
                    await FlushControlFramesAsync(_shutdownToken).ConfigureAwait(false);
                }
            }
        }
        catch (Exception) when (IsClosed)
        {
            return;
        }
        catch (YamuxProtocolException ex)
        {
            _logger.LogWarning(ex, "Yamux protocol violation by the remote peer");
            reason = ex;
            goAway = YamuxGoAwayCode.ProtocolError;
        }
        catch (IOException ex)
        {
            _logger.LogDebug(ex, "Yamux session transport ended");
            reason = ex;
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Yamux read loop failed");
            reason = ex;
            goAway = YamuxGoAwayCode.InternalError;
        }

        await CloseAsync(reason, goAway).ConfigureAwait(false);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask HandleFrameAsync(YamuxFrameReader reader, YamuxFrameHeader header)
    {
        switch (header.Type)
        {
            case YamuxFrameType.Data:
            case YamuxFrameType.WindowUpdate:
                await HandleStreamFrameAsync(reader, header).ConfigureAwait(false);
                break;
            case YamuxFrameType.Ping:
                HandlePing(header);
                break;
            case YamuxFrameType.GoAway:
                HandleGoAway(header);
                break;
            default:
                throw new YamuxProtocolException($"Unknown yamux frame type {header.Type}.");
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask HandleStreamFrameAsync(YamuxFrameReader reader, YamuxFrameHeader header)
    {
        if (header.StreamId == 0)
        {
            throw new YamuxProtocolException($"{header.Type} frame on stream id 0.");
        }

        var stream = header.HasFlag(YamuxFrameFlags.Syn) ? OpenInboundStream(header.StreamId) : FindStream(header.StreamId);
        if (stream is null)
        {
            // Late frames for streams that were reset or fully closed are normal; drop them.
            if (header.Type == YamuxFrameType.Data)
            {
                if (header.Length > (uint)_options.MaxStreamWindowSize)
                {
                    throw new YamuxProtocolException($"Data frame of {header.Length} bytes for unknown stream {header.StreamId} exceeds any window.");
                }

                await reader.SkipAsync(header.Length, _shutdownToken).ConfigureAwait(false);
                Interlocked.Increment(ref _discardedFrameCount);
            }

            return;
        }

        if (header.Type == YamuxFrameType.Data)
        {
            await ReceiveDataAsync(reader, stream, header).ConfigureAwait(false);
        }
        else
        {
            stream.OnWindowUpdate(header.Length);
        }

        if (header.HasFlag(YamuxFrameFlags.Rst))
        {
            stream.OnRemoteReset();
        }
        else if (header.HasFlag(YamuxFrameFlags.Fin))
        {
            stream.OnRemoteFin();
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveDataAsync(YamuxFrameReader reader, YamuxStream stream, YamuxFrameHeader header)
    {
        // Checked before reading the payload, so a hostile length never causes an allocation.
        if (!stream.TryReserveReceive(header.Length, out var available))
        {
            throw new YamuxProtocolException($"Data frame of {header.Length} bytes exceeds the {available}-byte receive window of stream {header.StreamId}.");
        }

        var length = (int)header.Length;
        if (length == 0)
        {
            return;
        }

        if (length <= CopiedPayloadMaxLength)
        {
            var payload = await reader.ReadBufferedPayloadAsync(length, _shutdownToken).ConfigureAwait(false);
            stream.OnData(payload.Span);
            return;
        }

        var destination = stream.BeginReceive(length);
        try
        {
            await reader.ReadPayloadAsync(destination, _shutdownToken).ConfigureAwait(false);
        }
        catch
        {
            stream.AbortReceive();
            throw;
        }

        stream.EndReceive(length);
    }

    private YamuxStream? FindStream(uint id)
    {
        lock (_streamsLock)
        {
            return _streams.GetValueOrDefault(id);
        }
    }

    /// <summary>Registers a stream the remote opened; null (after queuing a RST) if we refuse it.</summary>
    private YamuxStream? OpenInboundStream(uint id)
    {
        if ((id % 2 == 1) == _isClient)
        {
            throw new YamuxProtocolException($"The remote opened stream {id}, an id reserved for our side.");
        }

        YamuxStream stream;
        lock (_streamsLock)
        {
            if (_streamsClosed)
            {
                return null;
            }

            if (_streams.ContainsKey(id))
            {
                throw new YamuxProtocolException($"The remote opened stream {id} twice.");
            }

            stream = new YamuxStream(this, id, isInbound: true);
            if (_localGoAway || _inboundCount >= _options.MaxInboundStreams || !stream.TryReserveInitialWindow())
            {
                _logger.LogDebug("Refusing inbound yamux stream {StreamId} ({InboundCount} open, going away: {GoingAway})", id, _inboundCount, _localGoAway);
                EnqueueControlFrame(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Rst, id, 0));
                return null;
            }

            _streams.Add(id, stream);
            _inboundCount++;
        }

        _acceptQueue.Writer.TryWrite(stream);
        return stream;
    }

    private void HandlePing(YamuxFrameHeader header)
    {
        if (header.StreamId != 0)
        {
            throw new YamuxProtocolException($"Ping frame on stream {header.StreamId}.");
        }

        if (header.HasFlag(YamuxFrameFlags.Syn))
        {
            // A ping flood from a peer that does not read is bounded by the read loop's MaxPendingControlFrames check.
            EnqueueControlFrame(header with { Flags = YamuxFrameFlags.Ack });
            return;
        }

        if (!header.HasFlag(YamuxFrameFlags.Ack))
        {
            throw new YamuxProtocolException("Ping frame with neither SYN nor ACK.");
        }

        PendingPing? pending;
        lock (_pingsLock)
        {
            _pings.TryGetValue(header.Length, out pending);
        }

        if (pending is null)
        {
            _logger.LogDebug("Ignoring unsolicited yamux ping reply {Opaque}", header.Length);
            return;
        }

        var roundTrip = _time.GetElapsedTime(pending.StartTimestamp);
        Volatile.Write(ref _roundTripTicks, Math.Max(1, roundTrip.Ticks));
        pending.Reply.TrySetResult(roundTrip);
    }

    /// <exception cref="YamuxSessionClosedException">The remote went away with an error code.</exception>
    private void HandleGoAway(YamuxFrameHeader header)
    {
        if (header.StreamId != 0)
        {
            throw new YamuxProtocolException($"GoAway frame on stream {header.StreamId}.");
        }

        var code = (YamuxGoAwayCode)header.Length;
        if (code != YamuxGoAwayCode.Normal)
        {
            throw new YamuxSessionClosedException($"The remote peer sent GoAway({code}).");
        }

        bool drained;
        lock (_streamsLock)
        {
            _remoteGoAway = true;
            drained = _streams.Count == 0;
        }

        _logger.LogDebug("Remote peer sent GoAway(Normal); {StreamCount} streams remain", ActiveStreamCount);
        if (drained)
        {
            _ = CloseAsync(new YamuxSessionClosedException("The remote peer went away."), YamuxGoAwayCode.Normal);
        }
    }

    private async Task FlushLoopAsync()
    {
        try
        {
            var signal = _flushSignal.Reader;
            while (await signal.WaitToReadAsync(_shutdownToken).ConfigureAwait(false))
            {
                signal.TryRead(out _);
                await FlushControlFramesAsync(_shutdownToken).ConfigureAwait(false);
            }
        }
        catch (Exception) when (IsClosed)
        {
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Yamux control frame writer failed");
            await CloseAsync(ex, YamuxGoAwayCode.InternalError).ConfigureAwait(false);
        }
    }

    /// <summary>Measures the RTT once so stream windows can auto-tune; a peer that never answers just leaves it unknown.</summary>
    private async Task ProbeRoundTripAsync()
    {
        try
        {
            await PingAsync(_shutdownToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "Yamux RTT probe failed");
        }
    }

    private async Task KeepAliveLoopAsync(TimeSpan interval)
    {
        try
        {
            using var timer = new PeriodicTimer(interval, _time);
            while (await timer.WaitForNextTickAsync(_shutdownToken).ConfigureAwait(false))
            {
                using var deadline = new CancellationTokenSource(interval, _time);
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdownToken, deadline.Token);
                try
                {
                    await PingAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!_shutdownToken.IsCancellationRequested)
                {
                    _logger.LogInformation("Yamux keepalive ping not answered within {Interval}; closing the session", interval);
                    await CloseAsync(new TimeoutException($"The keepalive ping was not answered within {interval}."), YamuxGoAwayCode.Normal).ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (Exception) when (IsClosed)
        {
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Yamux keepalive failed");
            await CloseAsync(ex, YamuxGoAwayCode.InternalError).ConfigureAwait(false);
        }
    }

    /// <summary>Idempotent; the first caller's reason wins. Never faults and never waits on the read loop.</summary>
    private Task CloseAsync(Exception reason, YamuxGoAwayCode? goAway)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is not null)
        {
            return _completion.Task;
        }

        return CloseCoreAsync(goAway);
    }

    private async Task CloseCoreAsync(YamuxGoAwayCode? goAway)
    {
        try
        {
            YamuxStream[] streams;
            lock (_streamsLock)
            {
                _streamsClosed = true;
                streams = [.. _streams.Values];
                _streams.Clear();
                _inboundCount = 0;
                _outboundCount = 0;
            }

            foreach (var stream in streams)
            {
                stream.ReleaseWindow();
                stream.OnSessionClosed();
            }

            _acceptQueue.Writer.TryComplete();
            while (_acceptQueue.Reader.TryRead(out var unaccepted))
            {
                await unaccepted.DisposeAsync().ConfigureAwait(false);
            }

            FailPendingPings();
            if (goAway is not null)
            {
                await TryFlushFinalFramesAsync(Interlocked.Exchange(ref _goAwaySent, 1) == 0 ? goAway : null).ConfigureAwait(false);
            }

            await _shutdown.CancelAsync().ConfigureAwait(false);
            await _transport.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "Error while closing the yamux session");
        }
        finally
        {
            _completion.TrySetResult();
        }
    }

    private void FailPendingPings()
    {
        PendingPing[] pings;
        lock (_pingsLock)
        {
            _pingsClosed = true;
            pings = [.. _pings.Values];
        }

        foreach (var ping in pings)
        {
            ping.Reply.TrySetException(CreateClosedException());
        }
    }

    /// <summary>
    /// Writes queued control frames (FINs, RSTs, a queued GoAway) and <paramref name="goAway"/> if given.
    /// Best effort and bounded: a peer that stopped reading must not stall the close.
    /// </summary>
    private async Task TryFlushFinalFramesAsync(YamuxGoAwayCode? goAway)
    {
        using var timeout = new CancellationTokenSource(CloseTimeout, _time);
        try
        {
            await _writeLock.WaitAsync(timeout.Token).ConfigureAwait(false);
            try
            {
                var length = WriteControlFrames(_sendBuffer, out _);
                if (goAway is { } code)
                {
                    new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)code).Encode(_sendBuffer.AsSpan(length));
                    length += YamuxFrameHeader.Size;
                }

                if (length == 0)
                {
                    return;
                }

                await _transport.WriteAsync(_sendBuffer.AsMemory(0, length), timeout.Token).AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
                await _transport.FlushAsync(timeout.Token).WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "Could not send the final yamux frames (GoAway {Code})", goAway);
        }
    }

    private sealed class PendingPing(long startTimestamp)
    {
        public long StartTimestamp { get; } = startTimestamp;

        public TaskCompletionSource<TimeSpan> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
