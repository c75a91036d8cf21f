using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Multistream;
using Parley.Net.Noise;
using Parley.Net.Protocols;
using Parley.Net.Resources;
using Parley.Net.Transport;
using Parley.Net.Yamux;

namespace Parley.Net.Host;

/// <summary>
/// A libp2p node over TCP: connections are upgraded with multistream-select, Noise and yamux; streams are
/// negotiated with multistream-select and handed to the registered protocol handlers. One connection per peer
/// is reused for every stream; connection counts, pending handshakes, streams and idle time are bounded.
/// </summary>
public sealed class Libp2pHost : IPeerNetwork
{
    private readonly HostOptions _options;
    private readonly IdentityKey _identity;
    private readonly ICryptoProvider _crypto;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggerFactory;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<PeerId, ImmutableList<Connection>> _connections = new();
    // Keyed by address (with /p2p), not by peer: a dial to a peer's stale address must not stand in for a dial to its
    // current one made at the same time (a restarted node's old address from the routing table, its new one from presence).
    private readonly ConcurrentDictionary<Multiaddr, Task<Connection>> _pendingDials = new();
    private readonly ResourceManager _resources;
    private readonly List<Socket> _listeners = [];
    private readonly List<Task> _backgroundTasks = [];
    private ImmutableDictionary<string, StreamHandler> _handlers = ImmutableDictionary<string, StreamHandler>.Empty;
    private IReadOnlyList<Multiaddr> _listenAddresses = [];
    private int _started;
    private int _disposed;

    public Libp2pHost(IdentityKey identity, HostOptions? options = null, ILoggerFactory? loggerFactory = null, ICryptoProvider? crypto = null)
    {
        ArgumentNullException.ThrowIfNull(identity);
        _identity = identity;
        _options = options ?? new HostOptions();
        _crypto = crypto ?? DefaultCryptoProvider.Instance;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<Libp2pHost>();
        _resources = new ResourceManager(_options.Limits);
        SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        Identify = new IdentifyService(this, identity, _options.AgentVersion, _options.IdentifyTimeout, _loggerFactory.CreateLogger<IdentifyService>());
    }

    public event EventHandler<PeerEventArgs>? PeerConnected;

    public event EventHandler<PeerEventArgs>? PeerDisconnected;

    public PeerId LocalPeerId => _identity.PeerId;

    public IdentityKey Identity => _identity;

    public IdentifyService Identify { get; }

    public HostOptions Options => _options;

    public IReadOnlyList<Multiaddr> ListenAddresses => _listenAddresses;

    public PeerStore PeerStore { get; } = new();

    public IReadOnlyCollection<string> Protocols => _handlers.Keys.ToList();

    public IReadOnlyCollection<PeerId> ConnectedPeers => _connections.Where(c => c.Value.Any(x => x.IsOpen)).Select(c => c.Key).ToList();

    /// <summary>Open connections right now, inbound and outbound.</summary>
    public int ConnectionCount => _connections.Values.Sum(list => list.Count);

    /// <summary>What the host holds and what it refused, by <see cref="ResourceLimits"/>.</summary>
    public ResourceUsage ResourceUsage => _resources.Usage;

    /// <summary>Protections and tags that decide which connections the connection manager trims.</summary>
    public PeerTags Protection { get; } = new();

    IPeerProtection IPeerNetwork.Protection => Protection;

    /// <summary>Binds every listen address and starts accepting.</summary>
    /// <exception cref="SocketException">An address could not be bound (in use, not local).</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1)
        {
            throw new InvalidOperationException("the host is already started");
        }
        cancellationToken.ThrowIfCancellationRequested();
        var reachable = new List<Multiaddr>();
        foreach (var address in _options.ListenAddresses)
        {
            var listener = TcpTransport.Listen(address);
            _listeners.Add(listener);
            reachable.AddRange(TcpTransport.ReachableAddresses((IPEndPoint)listener.LocalEndPoint!));
            lock (_backgroundTasks)
            {
                _backgroundTasks.Add(AcceptLoopAsync(listener));
            }
        }
        _listenAddresses = reachable;
        lock (_backgroundTasks)
        {
            _backgroundTasks.Add(IdleSweepLoopAsync());
        }
        foreach (var address in reachable)
        {
            _logger.LogInformation("listening on {Address}/p2p/{Peer}", address, LocalPeerId);
        }
        return Task.CompletedTask;
    }

    public void SetStreamHandler(string protocol, StreamHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        ImmutableInterlocked.Update(ref _handlers, h => h.SetItem(protocol, handler));
        PushIdentifyInBackground();
    }

    public void RemoveStreamHandler(string protocol)
    {
        ImmutableInterlocked.Update(ref _handlers, h => h.Remove(protocol));
        PushIdentifyInBackground();
    }

    public async Task<PeerId> ConnectAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        var connection = await GetOrDialAsync(address, cancellationToken).ConfigureAwait(false);
        return connection.RemotePeer;
    }

    public async Task<PeerStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(protocols);
        var connection = FindOpenConnection(peer) ?? await DialKnownAddressesAsync(peer, cancellationToken).ConfigureAwait(false);
        if (!connection.Lease.TryOpenStream(inbound: false))
        {
            throw new PeerConnectionException($"cannot open a stream to {peer}: the limit of streams we open is reached");
        }
        YamuxStream stream;
        try
        {
            stream = await connection.Session.OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            connection.Lease.CloseStream(inbound: false);
            throw new PeerConnectionException($"cannot open a stream to {peer}: {e.Message}", e);
        }
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.StreamNegotiationTimeout);
            var protocol = await MultistreamSelect.SelectAsync(stream, protocols, timeout.Token).ConfigureAwait(false);
            return WrapStream(stream, protocol, connection, () => connection.Lease.CloseStream(inbound: false));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            connection.Lease.CloseStream(inbound: false);
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            throw new PeerConnectionException($"{peer} did not accept any of {string.Join(", ", protocols)}: {e.Message}", e);
        }
    }

    public async Task DisconnectAsync(PeerId peer, CancellationToken cancellationToken)
    {
        if (_connections.TryGetValue(peer, out var list))
        {
            foreach (var connection in list)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        await _shutdown.CancelAsync().ConfigureAwait(false);
        foreach (var listener in _listeners)
        {
            listener.Dispose();
        }
        foreach (var connection in _connections.Values.SelectMany(c => c))
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        Task[] background;
        lock (_backgroundTasks)
        {
            background = [.. _backgroundTasks];
        }
        try
        {
            await Task.WhenAll(background).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Loops end by cancellation on shutdown.
        }
        Identify.Dispose();
        _shutdown.Dispose();
    }

    private Connection? FindOpenConnection(PeerId peer) =>
        _connections.TryGetValue(peer, out var list) ? list.FirstOrDefault(c => c.IsOpen) : null;

    private async Task<Connection> DialKnownAddressesAsync(PeerId peer, CancellationToken cancellationToken)
    {
        var addresses = PeerStore.GetAddresses(peer).Where(TcpTransport.CanDial).ToList();
        if (addresses.Count == 0)
        {
            throw new PeerConnectionException($"no known address for {peer}");
        }
        var failures = new List<Exception>();
        foreach (var address in addresses)
        {
            try
            {
                return await GetOrDialAsync(address.WithPeerId(peer), cancellationToken).ConfigureAwait(false);
            }
            catch (PeerConnectionException e)
            {
                failures.Add(e);
            }
        }
        throw new PeerConnectionException($"cannot reach {peer} at any of {addresses.Count} addresses: {failures[^1].Message}", new AggregateException(failures));
    }

    private async Task<Connection> GetOrDialAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed == 1, this);
        var expected = address.PeerId;
        if (expected is not null)
        {
            if (expected == LocalPeerId)
            {
                throw new PeerConnectionException("refusing to dial ourselves");
            }
            if (FindOpenConnection(expected) is { } existing)
            {
                return existing;
            }
            var dial = _pendingDials.GetOrAdd(address, _ => DialAndForgetAsync(address, expected));
            return await dial.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        return await DialAsync(address, null).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<Connection> DialAndForgetAsync(Multiaddr address, PeerId expected)
    {
        try
        {
            // Never completes synchronously, so the finally below runs after GetOrAdd stored this task and removes it.
            await Task.Yield();
            return await DialAsync(address, expected).ConfigureAwait(false);
        }
        finally
        {
            _pendingDials.TryRemove(address, out _);
        }
    }

    /// <summary>Runs on the host's own lifetime, not the caller's, because concurrent callers share the dial.</summary>
    private async Task<Connection> DialAsync(Multiaddr address, PeerId? expected)
    {
        // Outbound connections have their own budget: peers filling the inbound side cannot block our dials.
        using var dial = _resources.TryBeginOutbound()
            ?? throw new PeerConnectionException($"the limit of {_options.Limits.MaxOutboundConnections} outbound connections is reached");
        Socket? socket = null;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(_options.DialTimeout);
            socket = await TcpTransport.DialAsync(address, timeout.Token).ConfigureAwait(false);
            var remote = Multiaddr.FromEndPoint((IPEndPoint)socket.RemoteEndPoint!);
            var connection = await UpgradeAsync(new NetworkStream(socket, ownsSocket: true), isInbound: false, expected, remote, dial.Complete, CancellationToken.None).ConfigureAwait(false);
            socket = null;
            Register(connection);
            return connection;
        }
        catch (OperationCanceledException e) when (!_shutdown.IsCancellationRequested)
        {
            throw new PeerConnectionException($"dial to {address} timed out", e);
        }
        catch (Exception e) when (e is IOException or NoiseHandshakeException or SocketException)
        {
            throw e as PeerConnectionException ?? new PeerConnectionException($"dial to {address} failed: {e.Message}", e);
        }
        finally
        {
            socket?.Dispose();
        }
    }

    /// <param name="admit">Asked once the remote proved who it is: its connection's lease, or null if a limit refuses it.</param>
    /// <param name="abandon">Fires when the handshake must stop early (its slot went to another).</param>
    private async Task<Connection> UpgradeAsync(NetworkStream raw, bool isInbound, PeerId? expected, Multiaddr remoteAddress, Func<PeerId, ConnectionLease?> admit, CancellationToken abandon)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token, abandon);
        timeout.CancelAfter(_options.HandshakeTimeout);
        SecureChannel? channel = null;
        try
        {
            if (isInbound)
            {
                await MultistreamSelect.HandleAsync(raw, [NoiseSecurity.ProtocolId], timeout.Token).ConfigureAwait(false);
                channel = await NoiseSecurity.SecureInboundAsync(raw, _identity, _crypto, _options.Noise, timeout.Token).ConfigureAwait(false);
                await MultistreamSelect.HandleAsync(channel.Stream, [YamuxOptions.ProtocolId], timeout.Token).ConfigureAwait(false);
            }
            else
            {
                await MultistreamSelect.SelectAsync(raw, [NoiseSecurity.ProtocolId], timeout.Token).ConfigureAwait(false);
                channel = await NoiseSecurity.SecureOutboundAsync(raw, _identity, expected, _crypto, _options.Noise, timeout.Token).ConfigureAwait(false);
                await MultistreamSelect.SelectAsync(channel.Stream, [YamuxOptions.ProtocolId], timeout.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException e) when (!_shutdown.IsCancellationRequested)
        {
            await DisposeUpgradeAsync(raw, channel).ConfigureAwait(false);
            throw new PeerConnectionException(abandon.IsCancellationRequested
                ? $"handshake with {remoteAddress} gave its slot to a connection from a less busy source"
                : $"handshake with {remoteAddress} timed out", e);
        }
        catch
        {
            await DisposeUpgradeAsync(raw, channel).ConfigureAwait(false);
            throw;
        }
        if (admit(channel.RemotePeer) is not { } lease)
        {
            await DisposeUpgradeAsync(raw, channel).ConfigureAwait(false);
            throw new PeerConnectionException($"connection with {channel.RemotePeer} at {remoteAddress} refused: a connection limit is reached");
        }
        var session = new YamuxSession(channel.Stream, isClient: !isInbound, _options.Yamux, _loggerFactory.CreateLogger<YamuxSession>(), lease);
        return new Connection(session, channel.RemotePeer, remoteAddress.WithPeerId(channel.RemotePeer), isInbound, lease);
    }

    private static async Task DisposeUpgradeAsync(NetworkStream raw, SecureChannel? channel)
    {
        if (channel is not null)
        {
            await channel.DisposeAsync().ConfigureAwait(false);
        }
        await raw.DisposeAsync().ConfigureAwait(false);
    }

    private void Register(Connection connection)
    {
        var peer = connection.RemotePeer;
        var isFirst = false;
        _connections.AddOrUpdate(
            peer,
            _ =>
            {
                isFirst = true;
                return [connection];
            },
            (_, list) =>
            {
                var open = list.Where(c => c.IsOpen).ToImmutableList();
                isFirst = open.IsEmpty;
                return open.Add(connection);
            });
        if (!connection.IsInbound)
        {
            PeerStore.AddAddresses(peer, [connection.RemoteAddress]);
        }
        connection.Session.Start();
        var acceptLoop = AcceptStreamsAsync(connection);
        lock (_backgroundTasks)
        {
            _backgroundTasks.RemoveAll(t => t.IsCompleted);
            _backgroundTasks.Add(acceptLoop);
        }
        _logger.LogDebug("{Direction} connection to {Peer} at {Address}", connection.IsInbound ? "inbound" : "outbound", peer, connection.RemoteAddress);
        if (isFirst)
        {
            PeerConnected?.Invoke(this, new PeerEventArgs(peer, connection.RemoteAddress));
        }
    }

    private async Task AcceptStreamsAsync(Connection connection)
    {
        try
        {
            while (true)
            {
                var stream = await connection.Session.AcceptStreamAsync(_shutdown.Token).ConfigureAwait(false);
                if (!connection.Lease.TryOpenStream(inbound: true))
                {
                    stream.Reset();
                    await stream.DisposeAsync().ConfigureAwait(false);
                    continue;
                }
                _ = ServeStreamAsync(connection, stream);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("connection to {Peer} closed: {Reason}", connection.RemotePeer, connection.Session.CloseReason?.Message ?? e.Message);
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            Unregister(connection);
        }
    }

    private void Unregister(Connection connection)
    {
        connection.Lease.Dispose();
        var peer = connection.RemotePeer;
        var lastGone = false;
        while (_connections.TryGetValue(peer, out var list))
        {
            var remaining = list.Remove(connection);
            if (remaining.IsEmpty)
            {
                if (_connections.TryRemove(new KeyValuePair<PeerId, ImmutableList<Connection>>(peer, list)))
                {
                    lastGone = true;
                    break;
                }
            }
            else if (_connections.TryUpdate(peer, remaining, list))
            {
                lastGone = !remaining.Any(c => c.IsOpen);
                break;
            }
        }
        if (lastGone)
        {
            PeerDisconnected?.Invoke(this, new PeerEventArgs(peer, connection.RemoteAddress));
        }
    }

    private async Task ServeStreamAsync(Connection connection, YamuxStream stream)
    {
        string protocol;
        StreamHandler? handler;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(_options.StreamNegotiationTimeout);
            var handlers = _handlers;
            protocol = await MultistreamSelect.HandleAsync(stream, handlers.Keys.ToList(), timeout.Token).ConfigureAwait(false);
            handler = handlers[protocol];
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or InvalidDataException)
        {
            _logger.LogDebug("stream from {Peer} not negotiated: {Reason}", connection.RemotePeer, e.Message);
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            connection.Lease.CloseStream(inbound: true);
            return;
        }
        if (!connection.Lease.TryOpenProtocolStream(protocol))
        {
            _logger.LogDebug("stream of {Protocol} from {Peer} refused: the protocol's stream limit is reached", protocol, connection.RemotePeer);
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            connection.Lease.CloseStream(inbound: true);
            return;
        }
        var peerStream = WrapStream(stream, protocol, connection, () =>
        {
            connection.Lease.CloseProtocolStream(protocol);
            connection.Lease.CloseStream(inbound: true);
        });
        try
        {
            await handler(peerStream, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A handler failing on one peer's input must not take the node down; the stream is reset.
            _logger.LogDebug("{Protocol} handler for {Peer} failed: {Reason}", protocol, connection.RemotePeer, e.Message);
            peerStream.Reset();
        }
        finally
        {
            await peerStream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static PeerStream WrapStream(YamuxStream stream, string protocol, Connection connection, Action released) =>
        new(stream, protocol, connection.RemotePeer, connection.RemoteAddress, stream.CloseWriteAsync, stream.Reset, released);

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                _logger.LogWarning("accept failed: {Reason}", e.SocketErrorCode);
                continue;
            }
            _ = HandleInboundAsync(socket);
        }
    }

    private async Task HandleInboundAsync(Socket socket)
    {
        var remoteEndPoint = (IPEndPoint)socket.RemoteEndPoint!;
        var remote = Multiaddr.FromEndPoint(remoteEndPoint);
        // Refused before any work is done for it: too many from its address or subnet, or no handshake slot.
        using var pending = _resources.TryBeginInbound(remoteEndPoint.Address);
        if (pending is null)
        {
            _logger.LogDebug("refused {Remote}: a limit on inbound connections or pending handshakes is reached", remote);
            socket.Dispose();
            return;
        }
        try
        {
            socket.NoDelay = true;
            var connection = await UpgradeAsync(new NetworkStream(socket, ownsSocket: true), isInbound: true, null, remote, pending.Complete, pending.Displaced).ConfigureAwait(false);
            Register(connection);
        }
        catch (Exception e) when (e is IOException or NoiseHandshakeException or SocketException or OperationCanceledException or InvalidDataException)
        {
            _logger.LogInformation("inbound connection from {Remote} failed its handshake: {Reason}", remote, e.Message);
            socket.Dispose();
        }
    }

    /// <summary>Closes idle connections, and trims the least useful ones when there are more than the high watermark.</summary>
    private async Task IdleSweepLoopAsync()
    {
        var period = TimeSpan.FromTicks(Math.Clamp(_options.IdleTimeout.Ticks / 4, TimeSpan.FromMilliseconds(100).Ticks, TimeSpan.FromSeconds(10).Ticks));
        using var timer = new PeriodicTimer(period);
        try
        {
            while (await timer.WaitForNextTickAsync(_shutdown.Token).ConfigureAwait(false))
            {
                var now = DateTimeOffset.UtcNow;
                var open = _connections.Values.SelectMany(c => c).Where(c => c.IsOpen).ToList();
                foreach (var connection in open)
                {
                    if (connection.Session.ActiveStreamCount == 0 && now - connection.Session.LastActivity > _options.IdleTimeout)
                    {
                        _logger.LogDebug("closing idle connection to {Peer}", connection.RemotePeer);
                        await connection.DisposeAsync().ConfigureAwait(false);
                    }
                }
                await TrimAsync(open.Where(c => c.IsOpen).ToList(), now).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Shutdown.
        }
    }

    private async Task TrimAsync(List<Connection> open, DateTimeOffset now)
    {
        var candidates = open.Select(c => new TrimCandidate(c, c.RemotePeer, c.OpenedAt, c.Session.ActiveStreamCount, c.Session.LastActivity)).ToList();
        foreach (var chosen in ConnectionTrimmer.Choose(candidates, Protection, _options.Limits, now))
        {
            var connection = (Connection)chosen.Connection;
            _logger.LogDebug("trimming the connection to {Peer}: {Count} connections are over the high watermark", connection.RemotePeer, open.Count);
            _resources.Count(Refusal.Trimmed);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void PushIdentifyInBackground()
    {
        if (_started == 0 || _disposed == 1 || _connections.IsEmpty)
        {
            return;
        }
        _ = Identify.PushAsync(_shutdown.Token);
    }
}
