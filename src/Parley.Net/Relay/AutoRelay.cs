using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Parley.Core.Identity;
using Parley.Net.Host;

namespace Parley.Net.Relay;

public sealed class AutoRelayOptions
{
    /// <summary>Relays to hold reservations on; one more is kept when spare candidates exist, so losing one leaves two.</summary>
    public int DesiredRelays { get; init; } = 2;

    public int MaxRelays { get; init; } = 3;

    /// <summary>A reservation is renewed when less than this much of it is left.</summary>
    public TimeSpan RenewBefore { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>A relay that refused or failed is not asked again for this long.</summary>
    public TimeSpan Backoff { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often reservations are checked even when nothing happened.</summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// Keeps a node that cannot be dialled reachable: holds reservations on 2 or 3 relays (candidates: connected peers
/// that speak hop, then whatever <c>findCandidates</c> returns, the DHT's routing table), renews them before they
/// expire, replaces a lost one as soon as its connection drops, and advertises their /p2p-circuit addresses.
/// </summary>
public sealed class AutoRelay : IAsyncDisposable
{
    private const string ReservationTag = "relay reservation";
    private readonly Libp2pHost _host;
    private readonly Func<CancellationToken, Task<IReadOnlyList<PeerId>>> _findCandidates;
    private readonly AutoRelayOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<PeerId, RelayReservation> _reservations = new();
    private readonly ConcurrentDictionary<PeerId, DateTimeOffset> _backoff = new();
    private readonly SemaphoreSlim _wake = new(0, int.MaxValue);
    private readonly CancellationTokenSource _shutdown = new();
    private Task _loop = Task.CompletedTask;
    private volatile bool _enabled;

    public AutoRelay(Libp2pHost host, Func<CancellationToken, Task<IReadOnlyList<PeerId>>> findCandidates, AutoRelayOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(findCandidates);
        _host = host;
        _findCandidates = findCandidates;
        _options = options ?? new AutoRelayOptions();
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _host.PeerDisconnected += OnPeerDisconnected;
    }

    /// <summary>Raised when the set of reservations changed (the advertised addresses changed with it).</summary>
    public event EventHandler? ReservationsChanged;

    public IReadOnlyList<RelayReservation> Reservations => _reservations.Values.ToList();

    public bool IsEnabled => _enabled;

    public void Start()
    {
        _loop = RunAsync(_shutdown.Token);
    }

    /// <summary>On when the node is not publicly reachable; off drops every reservation.</summary>
    public void SetEnabled(bool enabled)
    {
        if (_enabled == enabled)
        {
            return;
        }
        _enabled = enabled;
        _logger.LogInformation("relay reservations {State}", enabled ? "wanted" : "not needed");
        if (!enabled)
        {
            foreach (var relay in _reservations.Keys)
            {
                Drop(relay);
            }
            Publish();
        }
        Wake();
    }

    public async ValueTask DisposeAsync()
    {
        _host.PeerDisconnected -= OnPeerDisconnected;
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

    private void OnPeerDisconnected(object? sender, PeerEventArgs e)
    {
        if (_reservations.ContainsKey(e.Peer))
        {
            _logger.LogInformation("lost the connection to relay {Relay}", e.Peer);
            Drop(e.Peer);
            Publish();
            Wake();
        }
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

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            if (_enabled)
            {
                try
                {
                    await MaintainAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException && !cancellationToken.IsCancellationRequested)
                {
                    _logger.LogDebug("relay upkeep failed: {Reason}", e.Message);
                }
            }
            // Without enough relays, look again soon; otherwise at the check interval or when something changes.
            var wait = _enabled && _reservations.Count < _options.DesiredRelays ? TimeSpan.FromSeconds(2) : _options.CheckInterval;
            await _wake.WaitAsync(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task MaintainAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        var changed = false;
        foreach (var (relay, reservation) in _reservations)
        {
            if (reservation.Expires - now > _options.RenewBefore)
            {
                continue;
            }
            if (!(await TryReserveAsync(relay, cancellationToken).ConfigureAwait(false)).Ok)
            {
                changed |= Drop(relay);
            }
        }
        if (_reservations.Count < _options.MaxRelays)
        {
            var candidates = await CandidatesAsync(cancellationToken).ConfigureAwait(false);
            // Reserve in parallel up to the desired count, then one spare if there is a candidate left.
            var wanted = Math.Max(_options.DesiredRelays - _reservations.Count, 0);
            while (wanted > 0 && candidates.Count > 0)
            {
                var batch = candidates.Take(wanted).ToList();
                candidates.RemoveRange(0, batch.Count);
                var results = await Task.WhenAll(batch.Select(r => TryReserveAsync(r, cancellationToken))).ConfigureAwait(false);
                changed |= results.Any(r => r.IsNew);
                wanted = Math.Max(_options.DesiredRelays - _reservations.Count, 0);
            }
            if (_reservations.Count < _options.MaxRelays && candidates.Count > 0)
            {
                changed |= (await TryReserveAsync(candidates[0], cancellationToken).ConfigureAwait(false)).IsNew;
            }
        }
        if (changed)
        {
            Publish();
        }
    }

    private async Task<List<PeerId>> CandidatesAsync(CancellationToken cancellationToken)
    {
        var now = DateTimeOffset.UtcNow;
        bool Usable(PeerId p) => p != _host.LocalPeerId && !_reservations.ContainsKey(p) && !(_backoff.TryGetValue(p, out var until) && until > now);
        var connected = _host.ConnectedPeers
            .Where(p => _host.PeerStore.Get(p)?.Protocols.Contains(CircuitRelay.HopProtocolId) == true)
            .Where(Usable)
            .ToList();
        if (connected.Count >= _options.MaxRelays)
        {
            return connected;
        }
        IReadOnlyList<PeerId> found;
        try
        {
            found = await _findCandidates(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            _logger.LogDebug("finding relay candidates failed: {Reason}", e.Message);
            found = [];
        }
        return connected.Concat(found.Where(Usable).OrderBy(_ => Random.Shared.Next())).Distinct().ToList();
    }

    private async Task<(bool Ok, bool IsNew)> TryReserveAsync(PeerId relay, CancellationToken cancellationToken)
    {
        try
        {
            var reservation = await _host.Relay.ReserveAsync(relay, cancellationToken).ConfigureAwait(false);
            if (reservation.CircuitAddresses.Count == 0)
            {
                throw new PeerConnectionException($"{relay} gave no address to be reached through");
            }
            var isNew = !_reservations.ContainsKey(relay);
            _reservations[relay] = reservation;
            // The reservation lasts as long as this connection: never closed when idle, never trimmed.
            _host.Protection.Protect(relay, ReservationTag);
            _host.IdleProtection.Protect(relay, ReservationTag);
            // Turned off while the request was on its way (AutoNAT found us public): SetEnabled dropped the others
            // after clearing the flag, so this one is dropped here; set first, checked after, none is left behind.
            if (!_enabled)
            {
                Drop(relay);
                return (false, false);
            }
            if (isNew)
            {
                _logger.LogInformation("reserved a slot on relay {Relay} until {Expires}", relay, reservation.Expires);
            }
            return (true, isNew);
        }
        catch (PeerConnectionException e)
        {
            _logger.LogDebug("no reservation on {Relay}: {Reason}", relay, e.Message);
            _backoff[relay] = DateTimeOffset.UtcNow + _options.Backoff;
            return (false, false);
        }
    }

    private bool Drop(PeerId relay)
    {
        _host.Protection.Unprotect(relay, ReservationTag);
        _host.IdleProtection.Unprotect(relay, ReservationTag);
        return _reservations.TryRemove(relay, out _);
    }

    private void Publish()
    {
        _host.SetRelayAddresses(_reservations.Values.SelectMany(r => r.CircuitAddresses).ToList());
        ReservationsChanged?.Invoke(this, EventArgs.Empty);
    }
}
