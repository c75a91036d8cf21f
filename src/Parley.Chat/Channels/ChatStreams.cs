using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Channels;

/// <summary>
/// <see cref="IPeerChannels"/> over libp2p streams of <c>/parley/chat/1.0.0</c>. Sending: one stream per recipient
/// device, kept open while it is used, on which requests are pipelined (written without waiting) and answered in order;
/// a broken stream fails every request waiting on it, and the next send opens a new one. Serving: each request on an
/// inbound stream is answered, in order, once the handler has stored it.
/// </summary>
public sealed class ChatStreams : IPeerChannels
{
    private readonly IPeerNetwork _network;
    private readonly ChatOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<PeerId, Lazy<Task<Channel>>> _channels = new();
    private readonly CancellationTokenSource _stopping = new();
    private EnvelopeHandler? _handler;

    public ChatStreams(IPeerNetwork network, ChatOptions options, TimeProvider time, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        _network = network;
        _options = options;
        _time = time;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ChatStreams>();
    }

    public PeerId LocalDevice => _network.LocalPeerId;

    public IReadOnlyList<Multiaddr> ListenAddresses => _network.ListenAddresses;

    public void Serve(EnvelopeHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        _handler = handler;
        _network.SetStreamHandler(ChatOptions.ChatProtocolId, ServeStreamAsync);
    }

    public void StopServing()
    {
        if (_handler is not null)
        {
            _network.RemoveStreamHandler(ChatOptions.ChatProtocolId);
            _handler = null;
        }
    }

    /// <summary>Sends one envelope to <paramref name="device"/> and waits for its answer.</summary>
    /// <exception cref="PeerConnectionException">The device cannot be reached, or the stream broke before it answered.</exception>
    /// <exception cref="OperationCanceledException">No answer within <see cref="ChatOptions.DirectTimeout"/>, or cancelled.</exception>
    public async Task<ChatResponse> SendAsync(PeerId device, IReadOnlyList<Multiaddr> addresses, Envelope envelope, CancellationToken cancellationToken)
    {
        using var deadline = new CancellationTokenSource(_options.DirectTimeout, _time);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        // A stream the other side closed for idleness is replaced once; a second failure is the device's.
        for (var attempt = 0; ; attempt++)
        {
            // The factory takes its state as an argument, so a send on an open channel allocates no closure.
            var lazy = _channels.GetOrAdd(device, static (peer, state) => new Lazy<Task<Channel>>(() => state.Streams.OpenAsync(peer, state.Addresses)), (Streams: this, Addresses: addresses));
            Channel channel;
            try
            {
                channel = await lazy.Value.WaitAsync(timeout.Token);
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                _channels.TryRemove(KeyValuePair.Create(device, lazy));
                throw new PeerConnectionException($"cannot reach device {device}: {e.Message}", e);
            }
            if (channel.IsClosed && attempt == 0)
            {
                _channels.TryRemove(KeyValuePair.Create(device, lazy));
                await channel.DisposeAsync();
                continue;
            }
            try
            {
                return await channel.SendAsync(envelope, timeout.Token);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ObjectDisposedException)
            {
                _channels.TryRemove(KeyValuePair.Create(device, lazy));
                await channel.DisposeAsync();
                throw new PeerConnectionException($"chat stream to {device} broke: {e.Message}", e);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        StopServing();
        await _stopping.CancelAsync();
        foreach (var entry in _channels.Values.ToList())
        {
            if (entry.IsValueCreated && entry.Value.IsCompletedSuccessfully)
            {
                await (await entry.Value).DisposeAsync();
            }
        }
        _channels.Clear();
        _stopping.Dispose();
    }

    /// <summary>Serves one inbound stream: each request is answered, in order, once it is stored.</summary>
    private async Task ServeStreamAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        // One idle timer for the stream, re-armed before each request rather than a new timer per request.
        using var idleTimer = new CancellationTokenSource(_options.StreamIdleTimeout, _time);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token, idleTimer.Token);
        while (_handler is { } handler)
        {
            ChatRequest? request;
            string? malformed = null;
            idleTimer.CancelAfter(_options.StreamIdleTimeout);
            try
            {
                request = await LengthPrefixed.ReadMessageAsync(stream, ChatRequest.Parser, _options.MaxEnvelopeBytes + 1024, idle.Token);
                if (request is null)
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (InvalidDataException e)
            {
                ChatLog.ClosingChatStream(_logger, stream.RemotePeer, e.Message);
                stream.Reset();
                return;
            }
            catch (InvalidProtocolBufferException e)
            {
                // The request was read whole, so the stream is still in step: it is refused, the next one served.
                request = null;
                malformed = $"malformed request: {e.Message}";
            }
            // Handling the request is not idleness.
            idleTimer.CancelAfter(Timeout.InfiniteTimeSpan);
            ChatResponse response;
            try
            {
                response = request?.Envelope is { } envelope
                    ? await handler(envelope, cancellationToken)
                    : new ChatResponse { Status = ChatResponse.Types.Status.Refused, Reason = malformed ?? "request without an envelope" };
            }
            catch (InvalidProtocolBufferException e)
            {
                response = new ChatResponse { Status = ChatResponse.Types.Status.Refused, Reason = $"malformed request: {e.Message}" };
            }
            await LengthPrefixed.WriteMessageAsync(stream, response, cancellationToken);
        }
    }

    private async Task<Channel> OpenAsync(PeerId device, IReadOnlyList<Multiaddr> addresses)
    {
        _network.PeerStore.AddAddresses(device, addresses);
        // Not the caller's token: the stream outlives the send that opened it; the dial has its own timeout.
        using var dial = new CancellationTokenSource(_options.DirectTimeout, _time);
        var stream = await _network.OpenStreamAsync(device, [ChatOptions.ChatProtocolId], dial.Token);
        return new Channel(stream, _options, _logger);
    }

    private sealed class Channel : IAsyncDisposable
    {
        private readonly PeerStream _stream;
        private readonly ChatOptions _options;
        private readonly ILogger _logger;
        private readonly SemaphoreSlim _writeGate = new(1, 1);
        private readonly ConcurrentQueue<TaskCompletionSource<ChatResponse>> _waiting = new();
        private readonly CancellationTokenSource _closed = new();
        private readonly Task _reader;

        public Channel(PeerStream stream, ChatOptions options, ILogger logger)
        {
            _stream = stream;
            _options = options;
            _logger = logger;
            _reader = ReadResponsesAsync(_closed.Token);
        }

        public async Task<ChatResponse> SendAsync(Envelope envelope, CancellationToken cancellationToken)
        {
            // Completed by the response reader, which then runs this send's continuation itself instead of handing it to
            // another thread: that continuation only awaits (it never blocks), so at worst it delays reading the next
            // answer on this stream, and answers are taken in order anyway.
            var answer = new TaskCompletionSource<ChatResponse>();
            await _writeGate.WaitAsync(cancellationToken);
            try
            {
                ObjectDisposedException.ThrowIf(_closed.IsCancellationRequested, this);
                // Queued before writing, so the reader always finds the request a response belongs to.
                _waiting.Enqueue(answer);
                await LengthPrefixed.WriteMessageAsync(_stream, new ChatRequest { Envelope = envelope }, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // A request cut off mid-write leaves the stream unusable: later answers could not be matched.
                Close();
                throw;
            }
            finally
            {
                _writeGate.Release();
            }
            return await answer.Task.WaitAsync(cancellationToken);
        }

        public bool IsClosed => _closed.IsCancellationRequested;

        public async ValueTask DisposeAsync()
        {
            Close();
            try
            {
                await _reader;
            }
            catch (OperationCanceledException)
            {
                // Closing.
            }
            await _stream.DisposeAsync();
            _closed.Dispose();
            _writeGate.Dispose();
        }

        private void Close()
        {
            if (!_closed.IsCancellationRequested)
            {
                _closed.Cancel();
                _stream.Reset();
            }
        }

        private async Task ReadResponsesAsync(CancellationToken cancellationToken)
        {
            Exception failure;
            try
            {
                while (true)
                {
                    var response = await LengthPrefixed.ReadMessageAsync(_stream, ChatResponse.Parser, 4096, cancellationToken)
                        ?? throw new EndOfStreamException("the recipient closed the chat stream");
                    if (!_waiting.TryDequeue(out var waiter))
                    {
                        throw new InvalidDataException("the recipient answered a request that was never sent");
                    }
                    waiter.TrySetResult(response);
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or InvalidProtocolBufferException or OperationCanceledException or ObjectDisposedException)
            {
                failure = e is OperationCanceledException ? new ObjectDisposedException("chat stream closed") : new IOException(e.Message, e);
                ChatLog.ChatStreamEnded(_logger, _stream.RemotePeer, e.Message);
            }
            _closed.Cancel();
            while (_waiting.TryDequeue(out var waiter))
            {
                waiter.TrySetException(failure);
            }
        }
    }
}
