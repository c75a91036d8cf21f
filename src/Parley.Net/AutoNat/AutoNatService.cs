using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Host;
using Parley.Net.Protos.AutoNat;
using Parley.Net.Transport;
using ResponseStatus = Parley.Net.Protos.AutoNat.Message.Types.ResponseStatus;

namespace Parley.Net.AutoNat;

public sealed class AutoNatOptions
{
    /// <summary>Answer other peers' dial requests (public nodes do; it costs a dial per request, rate-limited below).</summary>
    public bool Server { get; init; } = true;

    /// <summary>How long the server's dial-back may take; a NAT that drops the SYN makes it run to the end.</summary>
    public TimeSpan DialBackTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>go-libp2p's server limits: dial requests served per peer and in total, per minute.</summary>
    public int MaxRequestsPerPeerPerMinute { get; init; } = 3;

    public int MaxRequestsPerMinute { get; init; } = 30;

    /// <summary>Addresses of one request the server dials at most.</summary>
    public int MaxAddressesPerRequest { get; init; } = 16;

    /// <summary>Wait after start (and after a network change) before the first probe, so identify has told us how peers see us.</summary>
    public TimeSpan FirstProbeDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Probe interval while the verdict is not yet confirmed by <see cref="MaxConfidence"/> results.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Probe interval once the verdict is confirmed.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Agreeing results needed before a contrary one no longer flips the verdict (go-libp2p: 3).</summary>
    public int MaxConfidence { get; init; } = 3;

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// AutoNAT v1 (<c>/libp2p/autonat/1.0.0</c>), client and server. As a server it dials a requester back only at addresses
/// on the IP its request came from (never over a relay), from a fresh connection, within per-peer and total rate limits.
/// As a client it asks connected peers to dial it back and turns their answers into a reachability verdict: the first
/// answer decides an unknown state, later ones move a confidence counter (as go-libp2p does), and a new address seen
/// by our peers (the network changed) drops the confidence so that one contrary answer changes our mind. Answers
/// from peers that see us on a wider network (the internet rather than a LAN or loopback) override narrower ones.
/// </summary>
public sealed class AutoNatService : IAsyncDisposable
{
    public const string ProtocolId = "/libp2p/autonat/1.0.0";
    internal const int MaxMessageSize = 4096;

    private readonly Libp2pHost _host;
    private readonly AutoNatOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<PeerId, (long Minute, int Count)> _requestsByPeer = new();
    private readonly ConcurrentDictionary<PeerId, DateTimeOffset> _askedAt = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _shutdown = new();
    private readonly object _gate = new();
    private (long Minute, int Count) _requestsTotal;
    private AddressScope _scope = AddressScope.Loopback;
    private int _confidence;
    private Task _loop = Task.CompletedTask;

    public AutoNatService(Libp2pHost host, AutoNatOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new AutoNatOptions();
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>Raised when the verdict changed (the host's <see cref="Libp2pHost.Reachability"/> changed with it).</summary>
    public event EventHandler<Reachability>? ReachabilityChanged;

    public Reachability Reachability => _host.Reachability;

    /// <summary>Probes answered since start: dialled back, not dialled back.</summary>
    public (int Reachable, int Unreachable) Answers { get; private set; }

    public void Start()
    {
        if (_options.Server)
        {
            _host.SetStreamHandler(ProtocolId, HandleDialRequestAsync);
        }
        _host.ConnectionOpened += OnConnectionOpened;
        _host.Observed.NewAddressSeen += OnNetworkChanged;
        _host.MappedAddressesChanged += OnNetworkChanged;
        System.Net.NetworkInformation.NetworkChange.NetworkAddressChanged += OnNetworkChanged;
        _loop = ProbeLoopAsync(_shutdown.Token);
    }

    /// <summary>Asks one peer to dial us back now; null when it could not say (refused, unreachable, no autonat).</summary>
    public async Task<bool?> ProbeAsync(PeerId server, CancellationToken cancellationToken)
    {
        _askedAt[server] = DateTimeOffset.UtcNow;
        var addresses = OwnDialableAddresses();
        var request = new Message
        {
            Type = Message.Types.MessageType.Dial,
            Dial = new Message.Types.Dial { Peer = new Message.Types.PeerInfo { Id = ByteString.CopyFrom(_host.LocalPeerId.Bytes) } },
        };
        request.Dial.Peer.Addrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.ToBytes())));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        Message response;
        try
        {
            await using var stream = await _host.OpenStreamAsync(server, [ProtocolId], allowRelayed: false, timeout.Token).ConfigureAwait(false);
            await LengthPrefixed.WriteMessageAsync(stream, request.ToByteArray(), timeout.Token).ConfigureAwait(false);
            var bytes = await LengthPrefixed.ReadMessageAsync(stream, MaxMessageSize, timeout.Token).ConfigureAwait(false)
                ?? throw new PeerConnectionException("no answer");
            response = Message.Parser.ParseFrom(bytes);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidProtocolBufferException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            _logger.LogDebug("autonat probe via {Server} failed: {Reason}", server, e.Message);
            return null;
        }
        var status = response.DialResponse?.Status;
        bool? reachable = status switch
        {
            ResponseStatus.Ok => true,
            ResponseStatus.EDialError => false,
            _ => null,
        };
        _logger.LogDebug("autonat via {Server}: {Status} {Text}", server, status, response.DialResponse?.StatusText);
        if (reachable is { } verdict)
        {
            Record(server, verdict);
        }
        return reachable;
    }

    public async ValueTask DisposeAsync()
    {
        _host.ConnectionOpened -= OnConnectionOpened;
        _host.Observed.NewAddressSeen -= OnNetworkChanged;
        _host.MappedAddressesChanged -= OnNetworkChanged;
        System.Net.NetworkInformation.NetworkChange.NetworkAddressChanged -= OnNetworkChanged;
        if (_options.Server)
        {
            _host.RemoveStreamHandler(ProtocolId);
        }
        await _shutdown.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        _shutdown.Dispose();
        _wake.Dispose();
    }

    /// <summary>Our addresses worth testing: our router's port mapping, listen and confirmed observed addresses, never relayed ones.</summary>
    private List<Multiaddr> OwnDialableAddresses() =>
        _host.MappedAddresses.Concat(_host.InterfaceAddresses).Concat(_host.Observed.Confirmed).Where(a => a.TryGetTcpEndPoint(out _)).Distinct().Take(_options.MaxAddressesPerRequest).ToList();

    private void Record(PeerId server, bool reachable)
    {
        // The scope the server sees us in: an answer from across the internet outranks one from our LAN or loopback.
        var scope = _host.Observed.ObservedBy(server) is { } seen ? AddressScopes.Of(seen) ?? AddressScope.Loopback : AddressScope.Loopback;
        Reachability? changed = null;
        lock (_gate)
        {
            if (scope < _scope)
            {
                return;
            }
            var current = _host.Reachability;
            if (scope > _scope)
            {
                _scope = scope;
                current = Reachability.Unknown;
                _confidence = 0;
            }
            var verdict = reachable ? Reachability.Public : Reachability.Private;
            Answers = reachable ? (Answers.Reachable + 1, Answers.Unreachable) : (Answers.Reachable, Answers.Unreachable + 1);
            if (current == verdict)
            {
                _confidence = Math.Min(_confidence + 1, _options.MaxConfidence);
            }
            else if (current != Reachability.Unknown && _confidence > 0)
            {
                _confidence--;
            }
            else
            {
                _confidence = 0;
                changed = verdict;
            }
        }
        if (changed is { } next && next != _host.Reachability)
        {
            _host.SetReachability(next);
            ReachabilityChanged?.Invoke(this, next);
        }
    }

    private void OnConnectionOpened(object? sender, ConnectionInfo e)
    {
        if (_host.Reachability == Reachability.Unknown && !e.IsRelayed)
        {
            Wake();
        }
    }

    private void OnNetworkChanged(object? sender, EventArgs e)
    {
        lock (_gate)
        {
            _confidence = 0;
        }
        _askedAt.Clear();
        _logger.LogDebug("the network may have changed; checking reachability again");
        Wake();
    }

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (ObjectDisposedException)
        {
            // Shutting down.
        }
    }

    private async Task ProbeLoopAsync(CancellationToken cancellationToken)
    {
        var wait = _options.FirstProbeDelay;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (await _wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false))
            {
                // Something changed: give identify a moment on the new connection before asking.
                await Task.Delay(_options.FirstProbeDelay, cancellationToken).ConfigureAwait(false);
                while (_wake.Wait(0, CancellationToken.None))
                {
                    // Coalesce wake-ups.
                }
            }
            var server = PickServer();
            if (server is not null)
            {
                await ProbeAsync(server, cancellationToken).ConfigureAwait(false);
            }
            bool confident;
            lock (_gate)
            {
                confident = _confidence >= _options.MaxConfidence;
            }
            wait = server is null ? _options.RefreshInterval : confident ? _options.RefreshInterval : _options.RetryInterval;
        }
    }

    /// <summary>A directly connected peer that serves AutoNAT and was asked least recently; those seeing us on the widest network first.</summary>
    private PeerId? PickServer()
    {
        var direct = _host.Connections.Where(c => !c.IsRelayed).Select(c => c.Peer).ToHashSet();
        return direct
            .Where(p => _host.PeerStore.Get(p)?.Protocols.Contains(ProtocolId) == true)
            .OrderByDescending(p => _host.Observed.ObservedBy(p) is { } seen ? AddressScopes.Of(seen) ?? AddressScope.Loopback : AddressScope.Loopback)
            .ThenBy(p => _askedAt.TryGetValue(p, out var at) ? at : DateTimeOffset.MinValue)
            .FirstOrDefault();
    }

    private async Task HandleDialRequestAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        Message request;
        try
        {
            var bytes = await LengthPrefixed.ReadMessageAsync(stream, MaxMessageSize, timeout.Token).ConfigureAwait(false);
            if (bytes is null)
            {
                return;
            }
            request = Message.Parser.ParseFrom(bytes);
        }
        catch (Exception e) when (e is InvalidDataException or InvalidProtocolBufferException)
        {
            await RespondAsync(stream, ResponseStatus.EBadRequest, "malformed request", null, timeout.Token).ConfigureAwait(false);
            return;
        }
        var (status, text, dialled) = await ServeAsync(stream, request, timeout.Token).ConfigureAwait(false);
        await RespondAsync(stream, status, text, dialled, timeout.Token).ConfigureAwait(false);
    }

    private async Task<(ResponseStatus Status, string Text, Multiaddr? Dialled)> ServeAsync(PeerStream stream, Message request, CancellationToken cancellationToken)
    {
        var (refusal, reason, targets) = DialBackTargets(request, stream.RemotePeer, stream.RemoteAddress, _options.MaxAddressesPerRequest);
        if (refusal is { } status)
        {
            return (status, reason, null);
        }
        if (!WithinRateLimits(stream.RemotePeer))
        {
            return (ResponseStatus.EDialRefused, "too many dial requests", null);
        }
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var attempts = targets.Select(async address => (Address: address, Ok: await _host.TryDialBackAsync(address, _options.DialBackTimeout, race.Token).ConfigureAwait(false))).ToList();
        while (attempts.Count > 0)
        {
            var done = await Task.WhenAny(attempts).ConfigureAwait(false);
            attempts.Remove(done);
            var (address, ok) = await done.ConfigureAwait(false);
            if (ok)
            {
                await race.CancelAsync().ConfigureAwait(false);
                _logger.LogDebug("autonat: dialled {Peer} back at {Address}", stream.RemotePeer, address);
                return (ResponseStatus.Ok, "dialled back", address.WithoutPeerId());
            }
        }
        _logger.LogDebug("autonat: could not dial {Peer} back at any of {Count} addresses", stream.RemotePeer, targets.Count);
        return (ResponseStatus.EDialError, "dial back failed", null);
    }

    /// <summary>
    /// Reads a dial request that came from <paramref name="requester"/> at <paramref name="observed"/>: the addresses to
    /// dial back (with /p2p), or why it is refused. The spec: never over a relay, and only the IP the request came from,
    /// so we cannot be turned against a third party. No I/O.
    /// </summary>
    internal static (ResponseStatus? Refusal, string Reason, List<Multiaddr> Targets) DialBackTargets(Message request, PeerId requester, Multiaddr? observed, int maxAddresses)
    {
        if (request.Type != Message.Types.MessageType.Dial || request.Dial?.Peer is not { } peer)
        {
            return (ResponseStatus.EBadRequest, "expected a dial request", []);
        }
        if (peer.HasId && !peer.Id.Span.SequenceEqual(requester.Bytes))
        {
            return (ResponseStatus.EBadRequest, "a peer may only ask to be dialled itself", []);
        }
        if (observed is null || observed.IsCircuit || !observed.TryGetTcpEndPoint(out var observedEndPoint))
        {
            return (ResponseStatus.EDialRefused, "dial requests are not served over relayed connections", []);
        }
        var candidates = new List<Multiaddr> { observed.WithoutPeerId() };
        foreach (var bytes in peer.Addrs)
        {
            try
            {
                var address = Multiaddr.FromBytes(bytes.Span);
                if (address.TryGetTcpEndPoint(out var endPoint) && endPoint.Address.Equals(observedEndPoint.Address))
                {
                    candidates.Add(address.WithoutPeerId());
                }
            }
            catch (FormatException)
            {
                // An unreadable address is not dialled.
            }
        }
        return (null, "", candidates.Distinct().Take(maxAddresses).Select(a => a.WithPeerId(requester)).ToList());
    }

    private bool WithinRateLimits(PeerId peer)
    {
        var minute = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60;
        lock (_gate)
        {
            if (_requestsByPeer.Count > 10_000)
            {
                _requestsByPeer.Clear();
            }
            var mine = _requestsByPeer.TryGetValue(peer, out var p) && p.Minute == minute ? p.Count : 0;
            var total = _requestsTotal.Minute == minute ? _requestsTotal.Count : 0;
            if (mine >= _options.MaxRequestsPerPeerPerMinute || total >= _options.MaxRequestsPerMinute)
            {
                return false;
            }
            _requestsByPeer[peer] = (minute, mine + 1);
            _requestsTotal = (minute, total + 1);
            return true;
        }
    }

    private static async Task RespondAsync(PeerStream stream, ResponseStatus status, string text, Multiaddr? dialled, CancellationToken cancellationToken)
    {
        var response = new Message
        {
            Type = Message.Types.MessageType.DialResponse,
            DialResponse = new Message.Types.DialResponse { Status = status, StatusText = text },
        };
        if (dialled is not null)
        {
            response.DialResponse.Addr = ByteString.CopyFrom(dialled.ToBytes());
        }
        try
        {
            await LengthPrefixed.WriteMessageAsync(stream, response.ToByteArray(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The requester left.
        }
    }
}
