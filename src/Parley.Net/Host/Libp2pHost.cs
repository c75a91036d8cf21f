using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
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
using Parley.Net.Relay;
using Parley.Net.Resources;
using Parley.Net.Transport;
using Parley.Net.Yamux;

namespace Parley.Net.Host;

/// <summary>
/// A libp2p node over TCP and relayed circuits: connections are upgraded with multistream-select, Noise and yamux;
/// streams are negotiated with multistream-select and handed to the registered protocol handlers. One connection per
/// peer is reused for every stream (a direct one in preference to a relayed one); connection counts, pending
/// handshakes, streams and idle time are bounded. Outgoing TCP dials leave from the listen port, so that a NAT maps
/// them all to one public address that peers observe and a hole punch can aim at.
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
    private IReadOnlyList<Multiaddr> _interfaceAddresses = [];
    private IReadOnlyList<Multiaddr> _relayAddresses = [];
    private IReadOnlyList<Multiaddr> _mappedAddresses = [];
    private IReadOnlyList<Multiaddr> _advertised = [];
    private IPEndPoint? _reuseEndPointV4;
    private IPEndPoint? _reuseEndPointV6;
    private Reachability _reachability = Reachability.Unknown;
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
        // Trimming the connection to a relay would cut every relayed connection it carries.
        Protection.AddProtector(CarriesRelayedConnection);
        SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        Observed = new ObservedAddresses(_options.ObservedAddressThreshold);
        Observed.Changed += (_, _) => UpdateAdvertisedAddresses();
        Identify = new IdentifyService(this, identity, _options.AgentVersion, _options.IdentifyTimeout, _loggerFactory.CreateLogger<IdentifyService>());
        Identify.AddressObserved += (_, e) => Observed.Record(e.Observer, e.ObserverAddress, e.Observed);
        PeerDisconnected += (_, e) => Observed.Forget(e.Peer);
        Relay = new RelayClient(this, _loggerFactory.CreateLogger<RelayClient>());
        SetStreamHandler(CircuitRelay.StopProtocolId, Relay.HandleStopAsync);
    }

    public event EventHandler<PeerEventArgs>? PeerConnected;

    public event EventHandler<PeerEventArgs>? PeerDisconnected;

    /// <summary>Raised for every new connection, including a second one to a peer we are already connected to (a hole punch after a relay).</summary>
    public event EventHandler<ConnectionInfo>? ConnectionOpened;

    /// <summary>Raised when <see cref="ListenAddresses"/> (what we advertise) changed: new relay reservations, reachability, observed addresses.</summary>
    public event EventHandler? AddressesChanged;

    /// <summary>Circuit relay v2 client: reservations on relays, and dials through them.</summary>
    public RelayClient Relay { get; }

    /// <summary>How peers see us, from identify.</summary>
    public ObservedAddresses Observed { get; }

    /// <summary>Whether peers can dial us, as AutoNAT last found; Unknown until something says.</summary>
    public Reachability Reachability => _reachability;

    public PeerId LocalPeerId => _identity.PeerId;

    public IdentityKey Identity => _identity;

    public IdentifyService Identify { get; }

    public HostOptions Options => _options;

    /// <summary>
    /// What we advertise: the addresses we listen on, our router's port mapping and our observed public addresses once
    /// AutoNAT found we are reachable, and /p2p-circuit addresses on the relays that keep a reservation for us.
    /// </summary>
    public IReadOnlyList<Multiaddr> ListenAddresses => Volatile.Read(ref _advertised);

    /// <summary>The addresses bound on this host's interfaces, without observed or relay addresses.</summary>
    public IReadOnlyList<Multiaddr> InterfaceAddresses => _interfaceAddresses;

    /// <summary>Every open connection.</summary>
    public IReadOnlyList<ConnectionInfo> Connections => _connections.Values.SelectMany(c => c).Where(c => c.IsOpen).Select(c => c.Info).ToList();

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

    /// <summary>
    /// Peers whose connections stay open while idle: a relay reservation lives only as long as its connection, so the
    /// node holding it and the relay keeping it both hold that connection open (idle means no streams and no traffic).
    /// </summary>
    public PeerTags IdleProtection { get; } = new();

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
            var bound = (IPEndPoint)listener.LocalEndPoint!;
            reachable.AddRange(TcpTransport.ReachableAddresses(bound));
            if (_options.ReuseListenPort)
            {
                if (bound.AddressFamily == AddressFamily.InterNetwork)
                {
                    _reuseEndPointV4 ??= bound;
                }
                else
                {
                    _reuseEndPointV6 ??= bound;
                }
            }
            lock (_backgroundTasks)
            {
                _backgroundTasks.Add(AcceptLoopAsync(listener));
            }
        }
        _interfaceAddresses = reachable;
        UpdateAdvertisedAddresses();
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

    public Task<PeerStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken) =>
        OpenStreamAsync(peer, protocols, allowRelayed: true, cancellationToken);

    /// <summary>As <see cref="OpenStreamAsync(PeerId, IReadOnlyList{string}, CancellationToken)"/>; without <paramref name="allowRelayed"/> only over a direct connection.</summary>
    public async Task<PeerStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, bool allowRelayed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(protocols);
        var connection = FindOpenConnection(peer, allowRelayed) ?? await DialKnownAddressesAsync(peer, allowRelayed, cancellationToken).ConfigureAwait(false);
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
        if (protocols.Count == 1 && PeerStore.Get(peer)?.Protocols.Contains(protocols[0]) == true)
        {
            var lazy = new LazySelectStream(stream, protocols[0], stream.CloseWriteAsync);
            return new PeerStream(lazy, protocols[0], connection.RemotePeer, connection.RemoteAddress, lazy.CloseWriteAsync, stream.Reset,
                () => connection.Lease.CloseStream(inbound: false));
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

    /// <summary>Sets whether peers can dial us (AutoNAT's verdict); our observed addresses are advertised only when they can.</summary>
    public void SetReachability(Reachability reachability)
    {
        if (Interlocked.Exchange(ref _reachability, reachability) != reachability)
        {
            _logger.LogInformation("reachability: {Reachability}", reachability);
            UpdateAdvertisedAddresses();
        }
    }

    /// <summary>Raised when the port mapping on our router changed: whether peers can dial us may have changed with it.</summary>
    public event EventHandler? MappedAddressesChanged;

    /// <summary>The public addresses our router forwards to us (a port mapping); tested by AutoNAT, advertised once we are reachable.</summary>
    public IReadOnlyList<Multiaddr> MappedAddresses => Volatile.Read(ref _mappedAddresses);

    /// <summary>Sets the public addresses a port mapping on our router gives us.</summary>
    public void SetMappedAddresses(IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var mapped = addresses.Where(a => a.TryGetTcpEndPoint(out _)).Select(a => a.WithoutPeerId()).Distinct().ToList();
        if (!Volatile.Read(ref _mappedAddresses).SequenceEqual(mapped))
        {
            Volatile.Write(ref _mappedAddresses, mapped);
            UpdateAdvertisedAddresses();
            MappedAddressesChanged?.Invoke(this, EventArgs.Empty);
        }
    }

    /// <summary>Sets the /p2p-circuit addresses of the relays that hold a reservation for us.</summary>
    public void SetRelayAddresses(IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        Volatile.Write(ref _relayAddresses, addresses.Where(a => a.IsCircuit).Select(a => a.WithoutPeerId()).Distinct().ToList());
        UpdateAdvertisedAddresses();
    }

    /// <summary>
    /// Dials a new connection to <paramref name="address"/> (with /p2p) only to prove it can be dialled, then closes it;
    /// it never stands in for, or becomes, a connection to the peer. From an ephemeral port, so that only an address
    /// anyone can reach passes (AutoNAT's dial-back).
    /// </summary>
    public async Task<bool> TryDialBackAsync(Multiaddr address, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.PeerId is not { } expected || !address.TryGetTcpEndPoint(out _))
        {
            return false;
        }
        // A dial-back is an outbound connection for a moment: it takes an outbound slot, or is not made.
        using var dial = _resources.TryBeginOutbound();
        if (dial is null)
        {
            _logger.LogDebug("no dial-back to {Address}: the limit of outbound connections is reached", address);
            return false;
        }
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        limit.CancelAfter(timeout);
        try
        {
            var socket = await TcpTransport.DialAsync(address, limit.Token).ConfigureAwait(false);
            var connection = await UpgradeAsync(new NetworkStream(socket, ownsSocket: true), isInitiator: true, isInbound: false, expected, address, dial.Complete, CancellationToken.None).ConfigureAwait(false);
            await DiscardAsync(connection).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or NoiseHandshakeException or SocketException or OperationCanceledException)
        {
            _logger.LogDebug("dial-back to {Address} failed: {Reason}", address, e.Message);
            return false;
        }
    }

    /// <summary>
    /// Hole punching: dials <paramref name="peer"/> at each of <paramref name="addresses"/> at once, from our listen port,
    /// ignoring any connection we already have, and keeps the first that completes. In a TCP simultaneous open both
    /// ends dial; <paramref name="asInitiator"/> says which of them runs the handshakes as the dialer (DCUtR: the peer
    /// that opened the relayed connection).
    /// </summary>
    /// <exception cref="PeerConnectionException">No address led to a connection.</exception>
    public async Task<ConnectionInfo> DialDirectAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, bool asInitiator, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(addresses);
        var targets = addresses.Where(a => a.TryGetTcpEndPoint(out _)).Select(a => a.WithPeerId(peer)).Distinct().ToList();
        if (targets.Count == 0)
        {
            throw new PeerConnectionException($"no TCP address of {peer} to dial directly");
        }
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        race.CancelAfter(timeout);
        var attempts = targets.Select(address => PunchOnceAsync(address, peer, asInitiator, race.Token)).ToList();
        var failures = new List<Exception>();
        while (attempts.Count > 0)
        {
            var done = await Task.WhenAny(attempts).ConfigureAwait(false);
            attempts.Remove(done);
            try
            {
                var connection = await done.ConfigureAwait(false);
                await race.CancelAsync().ConfigureAwait(false);
                Register(connection);
                _ = DisposeLateWinnersAsync(attempts);
                return connection.Info;
            }
            catch (Exception e) when (e is IOException or NoiseHandshakeException or SocketException or OperationCanceledException)
            {
                failures.Add(e);
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        throw new PeerConnectionException($"no direct connection to {peer}: {failures[^1].Message}", new AggregateException(failures));
    }

    /// <summary>Closes our relayed connections to <paramref name="peer"/> once it has a direct one, each when its streams are quiet.</summary>
    public async Task CloseRelayedConnectionsAsync(PeerId peer, TimeSpan quietFor, TimeSpan maxWait, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + maxWait;
        while (_connections.TryGetValue(peer, out var list) && list.Any(c => c.IsOpen && !c.IsRelayed))
        {
            var relayed = list.Where(c => c.IsOpen && c.IsRelayed).ToList();
            if (relayed.Count == 0)
            {
                return;
            }
            var now = DateTimeOffset.UtcNow;
            foreach (var connection in relayed.Where(c => now - c.Session.LastActivity >= quietFor || now >= deadline))
            {
                _logger.LogDebug("closing the relayed connection to {Peer}: a direct one is open", peer);
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Admits a connection <paramref name="relay"/> offers to bring us from <paramref name="peer"/> into its handshake,
    /// or refuses it (null). It counts as an inbound connection and a pending handshake, but not toward the relay's
    /// address: that is not where the peer is (see <see cref="ResourceManager.TryBeginRelayedInbound"/>).
    /// </summary>
    internal PendingHandshake? TryBeginRelayedInbound(PeerId relay, PeerId peer) => _resources.TryBeginRelayedInbound(relay, peer);

    /// <summary>Upgrades the connection a relay brought us on <paramref name="stream"/>, admitted as <paramref name="pending"/>, and serves it until it closes.</summary>
    internal async Task AcceptRelayedAsync(Stream stream, PendingHandshake pending, PeerId source, Multiaddr remoteAddress, RelayLimit? limit, CancellationToken cancellationToken)
    {
        Connection connection;
        using (pending)
        {
            connection = await UpgradeAsync(stream, isInitiator: false, isInbound: true, source, remoteAddress, pending.Complete, pending.Displaced).ConfigureAwait(false);
        }
        _logger.LogDebug("relayed connection from {Peer} (limit {Limit})", source, limit);
        Register(connection);
        await connection.Session.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task DisposeLateWinnersAsync(List<Task<Connection>> attempts)
    {
        foreach (var attempt in attempts)
        {
            try
            {
                await DiscardAsync(await attempt.ConfigureAwait(false)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or NoiseHandshakeException or SocketException or OperationCanceledException)
            {
                // Lost the race; nothing to clean up.
            }
        }
    }

    /// <summary>A connection that was upgraded but never registered (a dial-back, a punch that lost the race): its lease is ours to release.</summary>
    private static async Task DiscardAsync(Connection connection)
    {
        await connection.DisposeAsync().ConfigureAwait(false);
        connection.Lease.Dispose();
    }

    /// <summary>Each attempt takes an outbound slot of its own, released when it fails or loses the race.</summary>
    private async Task<Connection> PunchOnceAsync(Multiaddr address, PeerId peer, bool asInitiator, CancellationToken cancellationToken)
    {
        using var dial = _resources.TryBeginOutbound()
            ?? throw new ConnectionLimitException($"the limit of {_options.Limits.MaxOutboundConnections} outbound connections is reached");
        var socket = await TcpTransport.DialAsync(address, cancellationToken, ReuseEndPointFor(address, always: true)).ConfigureAwait(false);
        var remote = Multiaddr.FromEndPoint((IPEndPoint)socket.RemoteEndPoint!);
        try
        {
            return await UpgradeAsync(new NetworkStream(socket, ownsSocket: true), asInitiator, isInbound: false, peer, remote, dial.Complete, CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The listen endpoint to dial from, or null for an ephemeral port. Loopback destinations get an ephemeral port:
    /// there is no NAT to map, and two local nodes dialling each other at once from their listen ports would meet in a
    /// TCP simultaneous open where both act as the dialer.
    /// </summary>
    private IPEndPoint? ReuseEndPointFor(Multiaddr address, bool always = false)
    {
        if (!address.TryGetTcpEndPoint(out var remote) || (!always && IPAddress.IsLoopback(remote.Address)))
        {
            return null;
        }
        var bound = remote.AddressFamily == AddressFamily.InterNetwork ? _reuseEndPointV4 : _reuseEndPointV6;
        return bound;
    }

    private void UpdateAdvertisedAddresses()
    {
        var observed = _reachability == Reachability.Public ? Volatile.Read(ref _mappedAddresses).Concat(Observed.Confirmed) : [];
        var advertised = _interfaceAddresses.Concat(observed).Concat(Volatile.Read(ref _relayAddresses)).Distinct().Take(IdentifyService.MaxListenAddresses).ToList();
        var previous = Interlocked.Exchange(ref _advertised, advertised);
        if (!previous.SequenceEqual(advertised))
        {
            _logger.LogDebug("advertising {Addresses}", string.Join(", ", advertised));
            AddressesChanged?.Invoke(this, EventArgs.Empty);
            PushIdentifyInBackground();
        }
    }

    private bool CarriesRelayedConnection(PeerId peer) =>
        _connections.Values.Any(list => list.Any(c => c.IsOpen && c.Relay == peer));

    private Connection? FindOpenConnection(PeerId peer, bool allowRelayed = true) =>
        _connections.TryGetValue(peer, out var list)
            ? list.Where(c => c.IsOpen && (allowRelayed || !c.IsRelayed)).OrderBy(c => c.IsRelayed).FirstOrDefault()
            : null;

    /// <summary>Dials the peer's known addresses in the staggered race of <see cref="DialRanking"/>; the first connection wins.</summary>
    private async Task<Connection> DialKnownAddressesAsync(PeerId peer, bool allowRelayed, CancellationToken cancellationToken)
    {
        var known = PeerStore.GetAddresses(peer);
        var relayed = allowRelayed ? known.Where(a => a.TryGetCircuit(out var relay, out _) && relay.PeerId != LocalPeerId) : [];
        var schedule = DialRanking.Schedule(known.Where(TcpTransport.CanDial), relayed);
        _logger.LogDebug("dialling {Peer}: {Schedule}", peer, string.Join(", ", schedule.Select(s => $"{s.Address} at {(int)s.Delay.TotalMilliseconds} ms")));
        var started = Stopwatch.GetTimestamp();
        try
        {
            var connection = await DialRanking.RaceAsync(peer, schedule, (address, ct) => GetOrDialAsync(address.WithPeerId(peer), ct), cancellationToken).ConfigureAwait(false);
            _logger.LogDebug("dialled {Peer} at {Address} in {Elapsed} ms", peer, connection.RemoteAddress, (int)Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            return connection;
        }
        catch (PeerConnectionException e)
        {
            _logger.LogDebug("dial of {Peer} failed after {Elapsed} ms: {Reason}", peer, (int)Stopwatch.GetElapsedTime(started).TotalMilliseconds, e.Message);
            throw;
        }
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
            // A relayed connection does not answer a dial of a direct address: the caller wants the direct path.
            if (FindOpenConnection(expected, allowRelayed: address.IsCircuit) is { } existing)
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
            ?? throw new ConnectionLimitException($"the limit of {_options.Limits.MaxOutboundConnections} outbound connections is reached");
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(_options.DialTimeout);
            var connection = address.IsCircuit
                ? await DialCircuitAsync(address, expected, dial, timeout.Token).ConfigureAwait(false)
                : await DialTcpAsync(address, expected, dial, timeout.Token).ConfigureAwait(false);
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
    }

    /// <summary>From our listen port when we can (see <see cref="ReuseEndPointFor"/>); from an ephemeral one when that port cannot reach the address.</summary>
    private async Task<Connection> DialTcpAsync(Multiaddr address, PeerId? expected, OutboundDial dial, CancellationToken cancellationToken)
    {
        var reuse = ReuseEndPointFor(address);
        while (true)
        {
            Socket? socket = null;
            try
            {
                socket = await TcpTransport.DialAsync(address, cancellationToken, reuse).ConfigureAwait(false);
                var remote = Multiaddr.FromEndPoint((IPEndPoint)socket.RemoteEndPoint!);
                var connection = await UpgradeAsync(new NetworkStream(socket, ownsSocket: true), isInitiator: true, isInbound: false, expected, remote, dial.Complete, CancellationToken.None).ConfigureAwait(false);
                socket = null;
                return connection;
            }
            catch (Exception e) when (reuse is not null && e is IOException or SocketException && e is not ConnectionLimitException && !cancellationToken.IsCancellationRequested)
            {
                // The 4-tuple may be taken (a connection in TIME_WAIT, or the peer dialling us from its own listen port at this moment).
                _logger.LogDebug("dial to {Address} from our listen port failed ({Reason}); retrying from an ephemeral port", address, e.Message);
                reuse = null;
            }
            finally
            {
                socket?.Dispose();
            }
        }
    }

    /// <summary>A relayed connection is an outbound connection like any other: it takes an outbound slot and counts toward its peer's connections.</summary>
    private async Task<Connection> DialCircuitAsync(Multiaddr address, PeerId? expected, OutboundDial dial, CancellationToken cancellationToken)
    {
        if (!address.TryGetCircuit(out var relay, out var target) || target is null || (expected is not null && expected != target))
        {
            throw new PeerConnectionException($"cannot dial {address}: a relayed address is <relay>/p2p/<relay id>/p2p-circuit/p2p/<peer id>");
        }
        var (stream, limit) = await Relay.ConnectAsync(relay, target, cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = await UpgradeAsync(stream, isInitiator: true, isInbound: false, target, address, dial.Complete, CancellationToken.None).ConfigureAwait(false);
            _logger.LogDebug("relayed connection to {Peer} through {Relay} (limit {Limit})", target, relay.PeerId, limit);
            return connection;
        }
        catch
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Secures and multiplexes <paramref name="raw"/>. <paramref name="isInitiator"/> is the handshake role (the dialer,
    /// except in a hole punch's simultaneous open), <paramref name="isInbound"/> the direction we report.
    /// </summary>
    /// <param name="admit">Asked once the remote proved who it is: its connection's lease, or null if a limit refuses it.</param>
    /// <param name="abandon">Fires when the handshake must stop early (its slot went to another).</param>
    private async Task<Connection> UpgradeAsync(Stream raw, bool isInitiator, bool isInbound, PeerId? expected, Multiaddr remoteAddress, Func<PeerId, ConnectionLease?> admit, CancellationToken abandon)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token, abandon);
        timeout.CancelAfter(_options.HandshakeTimeout);
        SecureChannel? channel = null;
        try
        {
            if (!isInitiator)
            {
                await MultistreamSelect.HandleAsync(raw, [NoiseSecurity.ProtocolId], timeout.Token).ConfigureAwait(false);
                channel = await NoiseSecurity.SecureInboundAsync(raw, _identity, _crypto, _options.Noise, timeout.Token).ConfigureAwait(false);
                if (expected is not null && channel.RemotePeer != expected)
                {
                    throw new NoiseHandshakeException($"expected {expected} but {channel.RemotePeer} answered");
                }
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
            throw new ConnectionLimitException($"connection with {channel.RemotePeer} at {remoteAddress} refused: a connection limit is reached");
        }
        var session = new YamuxSession(channel.Stream, isClient: isInitiator, _options.Yamux, _loggerFactory.CreateLogger<YamuxSession>(), lease);
        return new Connection(session, channel.RemotePeer, remoteAddress.WithPeerId(channel.RemotePeer), isInbound, lease);
    }

    private static async Task DisposeUpgradeAsync(Stream raw, SecureChannel? channel)
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
        ConnectionOpened?.Invoke(this, connection.Info);
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
            var connection = await UpgradeAsync(new NetworkStream(socket, ownsSocket: true), isInitiator: false, isInbound: true, null, remote, pending.Complete, pending.Displaced).ConfigureAwait(false);
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
                    if (connection.Session.ActiveStreamCount == 0 && now - connection.Session.LastActivity > _options.IdleTimeout
                        && !IdleProtection.IsProtected(connection.RemotePeer))

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
