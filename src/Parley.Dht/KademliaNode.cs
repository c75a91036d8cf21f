using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;
using Parley.Dht.Protos;
using Parley.Dht.Query;
using Parley.Dht.Records;
using Parley.Dht.Routing;
using Parley.Dht.Wire;
using MessageType = Parley.Dht.Protos.Message.Types.MessageType;
using Peer = Parley.Dht.Protos.Message.Types.Peer;

namespace Parley.Dht;

/// <summary>
/// A Kademlia node on the libp2p kad protocol: answers FIND_NODE, GET_VALUE, PUT_VALUE, GET_PROVIDERS,
/// ADD_PROVIDER and PING, and runs iterative lookups, puts, gets and provider announcements of its own.
/// It reaches peers only through <see cref="IDhtMessenger"/> and takes all time from a <see cref="TimeProvider"/>,
/// so the same code runs over TCP and in the simulator under virtual time. (For that reason it never uses
/// ConfigureAwait(false): under the simulator's single-threaded context every continuation must come back to it.)
/// </summary>
public sealed class KademliaNode : IAsyncDisposable
{
    /// <summary>Keys longer than this are refused; real keys are multihashes or short paths.</summary>
    public const int MaxKeyLength = 1024;

    private const int MaxConsecutiveFailures = 2;
    private const int MaxTrackedFailures = 10_000;
    private static readonly TimeSpan ProbeDelay = TimeSpan.FromSeconds(1);

    private readonly IDhtMessenger _messenger;
    private readonly RecordValidatorRegistry _validators;
    private readonly DhtOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Random _random;
    private readonly RttEstimator _rtt;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly OriginatedRecords _originated;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<PeerId, byte> _probing = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<PeerId, int> _consecutiveFailures = new();
    private Task _maintenance = Task.CompletedTask;
    private DateTimeOffset _lastReplication;
    private DhtMode _mode;
    private bool _started;

    public KademliaNode(IDhtMessenger messenger, RecordValidatorRegistry validators, DhtOptions? options = null, TimeProvider? time = null, ILoggerFactory? loggerFactory = null, Random? random = null)
    {
        ArgumentNullException.ThrowIfNull(messenger);
        ArgumentNullException.ThrowIfNull(validators);
        _messenger = messenger;
        _validators = validators;
        _options = options ?? new DhtOptions();
        _time = time ?? TimeProvider.System;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<KademliaNode>();
        _random = random ?? new Random();
        _rtt = new RttEstimator(_options.MinRequestTimeout, _options.MaxRequestTimeout);
        LocalId = KadId.FromPeer(messenger.LocalPeer);
        RoutingTable = new RoutingTable(
            messenger.LocalPeer,
            new RoutingTableOptions { BucketSize = _options.K, RefreshInterval = _options.RefreshInterval, ReplacementCacheSize = _options.ReplacementCacheSize },
            _time);
        Records = new RecordStore(validators, _time);
        Providers = new ProviderStore(_time);
        _originated = new OriginatedRecords(_time);
        _lastReplication = _time.GetUtcNow();
        _mode = _options.Mode;
    }

    /// <summary>Server (answers queries, listed in routing tables) or client (only asks).</summary>
    public DhtMode Mode => _mode;

    public PeerId LocalPeer => _messenger.LocalPeer;

    public KadId LocalId { get; }

    public DhtOptions Options => _options;

    public RoutingTable RoutingTable { get; }

    public RecordStore Records { get; }

    public ProviderStore Providers { get; }

    /// <summary>Starts answering requests and, unless disabled, the maintenance loop.</summary>
    public void Start()
    {
        _started = true;
        _messenger.SetHandler(_mode == DhtMode.Server ? HandleRequestAsync : null);
        if (_options.RunMaintenance)
        {
            _maintenance = MaintenanceLoopAsync(_shutdown.Token);
        }
    }

    /// <summary>
    /// Switches between server and client mode (go-libp2p-kad-dht's automatic mode follows reachability this way). A
    /// client stops answering and advertising the kad protocol; identify tells connected peers, which drop it from their
    /// routing tables.
    /// </summary>
    public void SetMode(DhtMode mode)
    {
        if (_mode == mode)
        {
            return;
        }
        _mode = mode;
        _logger.LogInformation("DHT {Mode} mode", mode == DhtMode.Server ? "server" : "client");
        if (_started)
        {
            _messenger.SetHandler(mode == DhtMode.Server ? HandleRequestAsync : null);
        }
    }

    /// <summary>
    /// Joins the network through <paramref name="knownPeers"/> (any of which may be dead): each that answers enters the
    /// routing table; then a lookup of our own id fills the buckets near us. With no live peer, the node starts a new
    /// network on its own and waits for others. Returns the routing table size.
    /// </summary>
    public async Task<int> BootstrapAsync(IEnumerable<DhtPeer> knownPeers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(knownPeers);
        var contacts = knownPeers.Where(p => p.Peer != LocalPeer).DistinctBy(p => p.Peer).ToList();
        var probes = contacts.Select(async peer =>
        {
            var response = await TryRequestAsync(peer.Peer, peer.Addresses, FindNodeRequest(LocalPeer.Bytes.ToArray()), cancellationToken);
            return response is not null;
        });
        var answered = (await Task.WhenAll(probes)).Count(ok => ok);
        _logger.LogInformation("bootstrap: {Answered} of {Total} known peers answered", answered, contacts.Count);
        if (RoutingTable.Count > 0)
        {
            await FindClosestPeersAsync(LocalPeer.Bytes.ToArray(), cancellationToken);
        }
        return RoutingTable.Count;
    }

    /// <summary>The k closest peers to <paramref name="key"/> that answered, found by an iterative FIND_NODE lookup.</summary>
    public async Task<LookupResult> FindClosestPeersAsync(byte[] key, CancellationToken cancellationToken)
    {
        var run = await RunLookupAsync(key, () => FindNodeRequest(key), onResponse: null, cancellationToken);
        return run.ToResult();
    }

    /// <summary>Where <paramref name="peer"/> can be reached, or null when no one knows.</summary>
    public async Task<DhtPeer?> FindPeerAsync(PeerId peer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (RoutingTable.Find(peer) is { } known && known.Addresses.Count > 0)
        {
            return new DhtPeer(peer, known.Addresses);
        }
        DhtPeer? found = null;
        var key = peer.Bytes.ToArray();
        await RunLookupAsync(key, () => FindNodeRequest(key), (from, response, addresses) =>
        {
            if (from == peer && addresses.Count > 0)
            {
                found = new DhtPeer(peer, addresses);
                return true;
            }
            foreach (var closer in KadPeerInfo.ParsePeers(response.CloserPeers, 2 * _options.K))
            {
                if (closer.Peer == peer && closer.Addresses.Count > 0)
                {
                    found = new DhtPeer(peer, closer.Addresses);
                    return true;
                }
            }
            return false;
        }, cancellationToken);
        return found;
    }

    /// <summary>Validates and stores the record here and at the k closest peers to its key.</summary>
    /// <exception cref="RecordValidationException">The record is not valid for its namespace.</exception>
    public async Task<PutValueResult> PutValueAsync(RecordKey recordKey, byte[] value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recordKey);
        ArgumentNullException.ThrowIfNull(value);
        _validators.Validate(recordKey, value);
        var key = recordKey.ToArray();
        // From nobody: our own records do not count against the per-peer limit meant for others.
        Records.Put(key, value, from: null);
        _originated.TrackRecord(key, value);
        var started = _time.GetTimestamp();
        var result = await ReplicateAsync(key, value, cancellationToken);
        _logger.LogDebug("put {Key}: stored at {Stored} of {Attempted} peers in {Elapsed} ms", recordKey, result.Stored, result.Attempted, (int)_time.GetElapsedTime(started).TotalMilliseconds);
        return result;
    }

    /// <summary>The best valid record for <paramref name="key"/> among this node and the peers closest to it.</summary>
    public Task<GetValueResult> GetValueAsync(RecordKey key, CancellationToken cancellationToken) =>
        GetValueAsync(key, _options.GetQuorum, cancellationToken);

    /// <summary>
    /// The best valid record for <paramref name="key"/> among this node and the peers closest to it; for a merging namespace,
    /// the merge of every valid copy seen, folded into the one its selector ranks first. The lookup stops early once
    /// <paramref name="quorum"/> valid copies are in. Peers whose copy lacks something of the result are sent the result.
    /// </summary>
    public async Task<GetValueResult> GetValueAsync(RecordKey recordKey, int quorum, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recordKey);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(quorum);
        var key = recordKey.ToArray();
        var candidates = new List<(byte[] Value, PeerId? From)>();
        if (Records.Get(key) is { } local)
        {
            candidates.Add((local.Value, null));
        }
        var valid = candidates.Count;
        var run = await RunLookupAsync(key, () => new Message { Type = MessageType.GetValue, Key = ByteString.CopyFrom(key) }, (from, response, _) =>
        {
            if (response.Record is { } record && record.Key.Span.SequenceEqual(key))
            {
                var value = record.Value.ToByteArray();
                try
                {
                    _validators.Validate(recordKey, value);
                    candidates.Add((value, from));
                    valid++;
                }
                catch (RecordValidationException e)
                {
                    _logger.LogDebug("{Peer} returned an invalid record: {Reason}", from, e.Message);
                }
            }
            return valid >= quorum;
        }, cancellationToken);
        _logger.LogDebug("get {Key}: {Copies} copies from {Queried} peers queried, {Hops} hops, in {Elapsed} ms", recordKey, valid, run.Queried, run.Hops, (int)run.Elapsed.TotalMilliseconds);
        if (candidates.Count == 0)
        {
            return new GetValueResult(null, 0, run.Hops, run.Elapsed);
        }
        var best = candidates[_validators.Select(recordKey, candidates.Select(c => c.Value).ToList())].Value;
        var merging = _validators.IsMerging(recordKey);
        if (merging)
        {
            // Fold the others into the copy the selector ranks first, so the order it holds is kept.
            var first = best;
            best = candidates.Where(c => !ReferenceEquals(c.Value, first)).Aggregate(first, (merged, c) => _validators.Merge(recordKey, merged, c.Value));
        }
        // A copy is stale when it differs from the result and, for a merging namespace, lacks something of it.
        var stale = candidates
            .Where(c => c.From is not null && !c.Value.AsSpan().SequenceEqual(best) && (!merging || !_validators.Merge(recordKey, c.Value, best).AsSpan().SequenceEqual(c.Value)))
            .Select(c => c.From!)
            .Distinct()
            .ToList();
        if (stale.Count > 0)
        {
            // Correct peers that served an outdated record, so the next reader finds the current one.
            await Task.WhenAll(stale.Select(peer => TryRequestAsync(peer, run.AddressesOf(peer), PutValueRequest(key, best), cancellationToken)));
        }
        return new GetValueResult(best, valid, run.Hops, run.Elapsed);
    }

    /// <summary>Announces this node as a provider of <paramref name="key"/> to the k closest peers; returns how many were told.</summary>
    public async Task<int> ProvideAsync(byte[] key, CancellationToken cancellationToken)
    {
        CheckKey(key);
        Providers.Add(key, LocalPeer, _messenger.LocalAddresses);
        _originated.TrackProvider(key);
        return await AnnounceProviderAsync(key, cancellationToken);
    }

    /// <summary>Up to <paramref name="max"/> providers of <paramref name="key"/>, from this node and a GET_PROVIDERS lookup.</summary>
    public async Task<IReadOnlyList<DhtPeer>> FindProvidersAsync(byte[] key, int max, CancellationToken cancellationToken)
    {
        CheckKey(key);
        var found = new Dictionary<PeerId, DhtPeer>();
        foreach (var provider in Providers.Get(key, max))
        {
            found.TryAdd(provider.Provider, new DhtPeer(provider.Provider, provider.Addresses));
        }
        if (found.Count < max)
        {
            await RunLookupAsync(key, () => new Message { Type = MessageType.GetProviders, Key = ByteString.CopyFrom(key) }, (_, response, _) =>
            {
                foreach (var provider in KadPeerInfo.ParsePeers(response.ProviderPeers, max))
                {
                    found.TryAdd(provider.Peer, new DhtPeer(provider.Peer, provider.Addresses));
                }
                return found.Count >= max;
            }, cancellationToken);
        }
        return found.Values.Take(max).ToList();
    }

    /// <summary>One round of upkeep: refresh stale buckets, republish what we originated, re-replicate what we hold, drop what expired.</summary>
    public async Task RunMaintenanceOnceAsync(CancellationToken cancellationToken)
    {
        foreach (var bucket in RoutingTable.BucketsDueForRefresh())
        {
            // Peers hash whatever key we send, so the refresh key must be a preimage that hashes into the bucket.
            // Buckets that deep are reached by the lookup of our own id instead.
            var key = RoutingTable.TryRandomKeyForBucket(bucket, _random, out var preimage, maxAttempts: 1 << 16) ? preimage! : LocalPeer.Bytes.ToArray();
            await RunLookupAsync(key, () => FindNodeRequest(key), null, cancellationToken);
        }
        foreach (var item in _originated.DueForRepublish())
        {
            if (item.Kind == OriginatedKind.Provider)
            {
                _originated.TrackProvider(item.Key);
                await AnnounceProviderAsync(item.Key, cancellationToken);
            }
            else if (item.Value is not null)
            {
                try
                {
                    _validators.Validate(RecordKey.Parse(item.Key), item.Value);
                }
                catch (RecordValidationException)
                {
                    // Expired: the owner must publish a fresh record; stop spreading this one.
                    _originated.Untrack(OriginatedKind.Record, item.Key);
                    continue;
                }
                _originated.TrackRecord(item.Key, item.Value);
                await ReplicateAsync(item.Key, item.Value, cancellationToken);
            }
        }
        var now = _time.GetUtcNow();
        if (now - _lastReplication >= _options.ReplicationInterval)
        {
            _lastReplication = now;
            foreach (var record in Records.All().Where(r => r.From is not null))
            {
                await ReplicateAsync(record.Key, record.Value, cancellationToken);
            }
        }
        Records.RemoveExpired();
        Providers.RemoveExpired();
    }

    public async ValueTask DisposeAsync()
    {
        _shutdown.Cancel();
        try
        {
            await _maintenance;
        }
        catch (OperationCanceledException)
        {
            // Shutdown.
        }
        _shutdown.Dispose();
    }

    private async Task MaintenanceLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.MaintenanceInterval, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                await RunMaintenanceOnceAsync(cancellationToken);
            }
            catch (Exception e) when (e is IOException or DhtRequestException)
            {
                _logger.LogDebug("maintenance round failed: {Reason}", e.Message);
            }
        }
    }

    private async Task<PutValueResult> ReplicateAsync(byte[] key, byte[] value, CancellationToken cancellationToken)
    {
        var closest = await FindClosestPeersAsync(key, cancellationToken);
        var request = PutValueRequest(key, value);
        var results = await Task.WhenAll(closest.Closest.Select(peer => TryRequestAsync(peer.Peer, peer.Addresses, request, cancellationToken)));
        return new PutValueResult(results.Count(r => r is not null && r.Type == MessageType.PutValue), closest.Closest.Count);
    }

    private async Task<int> AnnounceProviderAsync(byte[] key, CancellationToken cancellationToken)
    {
        var closest = await FindClosestPeersAsync(key, cancellationToken);
        var message = new Message { Type = MessageType.AddProvider, Key = ByteString.CopyFrom(key) };
        message.ProviderPeers.Add(ToProto(LocalPeer, _messenger.LocalAddresses));
        var sent = await Task.WhenAll(closest.Closest.Select(async peer =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(_rtt.Timeout, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
                await _messenger.SendAsync(peer.Peer, peer.Addresses, message, linked.Token);
                return true;
            }
            catch (Exception e) when (e is DhtRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                return false;
            }
        }));
        return sent.Count(ok => ok);
    }

    /// <summary>
    /// Drives a <see cref="ClosestPeersLookup"/>: keeps alpha requests in flight per path to the closest candidates, lets a
    /// slow request (older than <see cref="RttEstimator.SlowThreshold"/>) or one to a farther peer be overtaken, and stops
    /// when the state machine says the k closest have answered or <paramref name="onResponse"/> says done.
    /// </summary>
    private Task<LookupRun> RunLookupAsync(byte[] key, Func<Message> request, Func<PeerId, Message, IReadOnlyList<Multiaddr>, bool>? onResponse, CancellationToken cancellationToken) =>
        RunLookupAsync(KadId.FromKey(key), request, onResponse, cancellationToken);

    private async Task<LookupRun> RunLookupAsync(KadId target, Func<Message> request, Func<PeerId, Message, IReadOnlyList<Multiaddr>, bool>? onResponse, CancellationToken cancellationToken)
    {
        RoutingTable.MarkBucketUsed(target);
        var started = _time.GetTimestamp();
        var run = new LookupRun();
        var seeds = RoutingTable.NearestPeers(target, _options.K);
        foreach (var seed in seeds)
        {
            run.Addresses[seed.Peer] = seed.Addresses;
        }
        var lookup = new ClosestPeersLookup(target, seeds.Select(s => s.Peer), new LookupOptions
        {
            K = _options.K,
            Alpha = _options.Alpha,
            DisjointPaths = _options.DisjointPaths,
            LocalPeer = LocalPeer,
            SubnetsOf = peer => SubnetGroups.Of(run.AddressesOf(peer), RoutingTable.Options.DiversityExempt),
            MaxPerSubnet = RoutingTable.Options.MaxPerSubnetPerBucket,
            OvertakeFartherRequests = true,
        });
        using var deadline = new CancellationTokenSource(_options.LookupTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        var inFlight = new Dictionary<Task<Message?>, (PeerId Peer, long Started, bool Slow)>();
        try
        {
            while (!linked.IsCancellationRequested)
            {
                foreach (var peer in lookup.TakeNextToQuery())
                {
                    inFlight[TryRequestAsync(peer, run.AddressesOf(peer), request(), linked.Token)] = (peer, _time.GetTimestamp(), false);
                }
                if (lookup.IsFinished || inFlight.Count == 0)
                {
                    break;
                }
                var slowAfter = _rtt.SlowThreshold;
                using var slowWait = CancellationTokenSource.CreateLinkedTokenSource(linked.Token);
                var waitForSlow = DelayAsync(UntilNextSlow(inFlight.Values, slowAfter), slowWait.Token);
                var completed = await Task.WhenAny(inFlight.Keys.Cast<Task>().Append(waitForSlow));
                slowWait.Cancel();
                if (completed is not Task<Message?> answered)
                {
                    MarkSlowRequests(lookup, inFlight, slowAfter);
                    continue;
                }
                var from = inFlight[answered].Peer;
                inFlight.Remove(answered);
                var response = await answered;
                run.Queried++;
                if (response is null)
                {
                    lookup.OnFailure(from);
                    continue;
                }
                var closer = KadPeerInfo.ParsePeers(response.CloserPeers, 2 * _options.K);
                foreach (var peer in closer)
                {
                    if (!run.Addresses.ContainsKey(peer.Peer) && peer.Addresses.Count > 0)
                    {
                        run.Addresses[peer.Peer] = peer.Addresses;
                    }
                }
                // A peer we have no address for cannot be asked; it is not a candidate.
                lookup.OnSuccess(from, closer.Where(p => run.Addresses.ContainsKey(p.Peer)).Select(p => p.Peer));
                if (onResponse is not null && onResponse(from, response, run.AddressesOf(from)))
                {
                    lookup.Stop();
                }
            }
        }
        finally
        {
            // Requests still out were not needed; cancelling them says nothing about those peers. Cancel, not
            // CancelAsync: the callbacks must run here, on the caller's context, for the simulator's sake.
            linked.Cancel();
        }
        cancellationToken.ThrowIfCancellationRequested();
        if (deadline.IsCancellationRequested)
        {
            _logger.LogDebug("lookup for {Target} hit its deadline", target);
        }
        run.Closest = lookup.ClosestResponded;
        run.Hops = lookup.Hops;
        run.Elapsed = _time.GetElapsedTime(started);
        return run;
    }

    /// <summary>
    /// Task.Delay with a TimeProvider completes with RunContinuationsAsynchronously, which makes Task.WhenAny finish on the
    /// thread pool; awaiting it inside an async method brings the completion back to the caller's context (which the
    /// simulator relies on). Cancellation just ends the wait.
    /// </summary>
    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The wait was cut short; nothing to report.
        }
    }

    /// <summary>
    /// How long until the first request not yet slow becomes slow, counted from each request's start. Rounded up to
    /// whole milliseconds, the resolution of timers: a wait that a timer rounds down would end before the request is
    /// slow, and the loop would spin without time passing.
    /// </summary>
    private TimeSpan UntilNextSlow(IEnumerable<(PeerId Peer, long Started, bool Slow)> inFlight, TimeSpan slowAfter)
    {
        var wait = slowAfter;
        foreach (var request in inFlight)
        {
            if (!request.Slow)
            {
                var left = slowAfter - _time.GetElapsedTime(request.Started);
                wait = left < wait ? left : wait;
            }
        }
        return TimeSpan.FromMilliseconds(Math.Ceiling(Math.Max(0, wait.TotalMilliseconds)));
    }

    private void MarkSlowRequests(ClosestPeersLookup lookup, Dictionary<Task<Message?>, (PeerId Peer, long Started, bool Slow)> inFlight, TimeSpan slowAfter)
    {
        foreach (var (task, state) in inFlight.ToList())
        {
            if (!state.Slow && _time.GetElapsedTime(state.Started) >= slowAfter)
            {
                inFlight[task] = state with { Slow = true };
                lookup.OnSlow(state.Peer);
            }
        }
    }

    /// <summary>One request with the adaptive timeout; null on any failure. A peer that answers enters the routing table.</summary>
    private async Task<Message?> TryRequestAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Message request, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        try
        {
            using var timeout = new CancellationTokenSource(_rtt.Timeout, _time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            var response = await _messenger.RequestAsync(peer, addresses, request, linked.Token);
            _rtt.Observe(_time.GetElapsedTime(started));
            _consecutiveFailures.TryRemove(peer, out _);
            OnPeerAnswered(peer, addresses);
            return response;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The caller gave up (or the lookup finished without this answer): nothing learned about the peer.
            return null;
        }
        catch (Exception e) when (e is DhtRequestException or IOException or OperationCanceledException)
        {
            _logger.LogDebug("{Type} to {Peer} failed: {Reason}", request.Type, peer, e.Message);
            // One lost packet is not a dead peer; two failures in a row are (go-libp2p drops a peer at the first).
            if (_consecutiveFailures.Count > MaxTrackedFailures)
            {
                // Peers named once by junk responses and never seen again would otherwise pile up here.
                _consecutiveFailures.Clear();
            }
            if (_consecutiveFailures.AddOrUpdate(peer, 1, (_, n) => n + 1) >= MaxConsecutiveFailures)
            {
                _consecutiveFailures.TryRemove(peer, out _);
                RoutingTable.Remove(peer);
            }
            return null;
        }
    }

    private void OnPeerAnswered(PeerId peer, IReadOnlyList<Multiaddr> addresses)
    {
        var known = _messenger.AddressesOf(peer);
        // Routing tables hold only peers that can be dialled: one reachable only through a relay is asked, never listed.
        var candidates = known.Count > 0 ? known : addresses;
        var direct = candidates.Where(a => !a.IsCircuit).ToList();
        if (candidates.Count > 0 && direct.Count == 0)
        {
            return;
        }
        var result = RoutingTable.TryAdd(peer, direct);
        if (result.Outcome == AddOutcome.PendingLivenessCheck && result.EvictionCandidate is { } candidate)
        {
            _ = CheckLivenessAsync(candidate);
        }
    }

    private async Task CheckLivenessAsync(RoutingEntry candidate)
    {
        var answer = await TryRequestAsync(candidate.Peer, candidate.Addresses, new Message { Type = MessageType.Ping }, _shutdown.Token);
        RoutingTable.ReportLiveness(candidate.Peer, answer is not null);
    }

    /// <summary>
    /// A peer that asks us something may be a DHT server we do not know yet. It enters the routing table only if it
    /// answers a query of ours, so clients and unreachable peers never do; one probe per peer at a time, and none
    /// when its bucket is full of peers heard from lately.
    /// </summary>
    private async Task ProbeAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses)
    {
        if (RoutingTable.Find(peer) is not null || !RoutingTable.HasRoomFor(peer) || !_probing.TryAdd(peer, 0))
        {
            return;
        }
        try
        {
            if (addresses.Count == 0)
            {
                // Identify may still be under way on a new connection; a peer whose listen addresses we never learn
                // could not be handed to anyone else, so it stays out.
                await Task.Delay(ProbeDelay, _time, _shutdown.Token);
                addresses = _messenger.AddressesOf(peer);
                if (addresses.Count == 0)
                {
                    return;
                }
            }
            await TryRequestAsync(peer, addresses, new Message { Type = MessageType.Ping }, _shutdown.Token);
        }
        catch (OperationCanceledException)
        {
            // Shutting down.
        }
        finally
        {
            _probing.TryRemove(peer, out _);
        }
    }

    private Task<Message?> HandleRequestAsync(PeerId from, IReadOnlyList<Multiaddr> fromAddresses, Message request, CancellationToken cancellationToken)
    {
        if (!_shutdown.IsCancellationRequested)
        {
            _ = ProbeAsync(from, fromAddresses);
        }
        if (request.Key.Length > MaxKeyLength)
        {
            return Task.FromResult<Message?>(null);
        }
        var key = request.Key.ToByteArray();
        Message? response = request.Type switch
        {
            MessageType.FindNode => AnswerFindNode(request, key, from),
            MessageType.GetValue => AnswerGetValue(request, key, from),
            MessageType.PutValue => AnswerPutValue(request, key, from),
            MessageType.GetProviders => AnswerGetProviders(request, key, from),
            MessageType.AddProvider => AcceptProvider(request, key, from, fromAddresses),
            MessageType.Ping => new Message { Type = MessageType.Ping },
            _ => null,
        };
        return Task.FromResult(response);
    }

    private Message AnswerFindNode(Message request, byte[] key, PeerId from)
    {
        var response = new Message { Type = MessageType.FindNode, Key = request.Key };
        if (key.AsSpan().SequenceEqual(LocalPeer.Bytes))
        {
            // Asked for ourselves: we are the answer, as go and js answer too.
            response.CloserPeers.Add(ToProto(LocalPeer, _messenger.LocalAddresses));
        }
        return WithCloserPeers(response, key, from);
    }

    private Message AnswerGetValue(Message request, byte[] key, PeerId from)
    {
        var response = WithCloserPeers(new Message { Type = MessageType.GetValue, Key = request.Key }, key, from);
        if (Records.Get(key) is { } record)
        {
            response.Record = new Record { Key = request.Key, Value = ByteString.CopyFrom(record.Value) };
        }
        return response;
    }

    private Message? AnswerPutValue(Message request, byte[] key, PeerId from)
    {
        if (request.Record is null || !request.Record.Key.Span.SequenceEqual(key))
        {
            return null;
        }
        var outcome = Records.Put(key, request.Record.Value.ToByteArray(), from);
        if (outcome.Status == PutStatus.Rejected)
        {
            _logger.LogDebug("rejected a record from {Peer}: {Reason}", from, outcome.Reason);
            return null;
        }
        // The spec's acknowledgement is the request echoed back.
        return request;
    }

    private Message AnswerGetProviders(Message request, byte[] key, PeerId from)
    {
        var response = WithCloserPeers(new Message { Type = MessageType.GetProviders, Key = request.Key }, key, from);
        foreach (var provider in Providers.Get(key, _options.K))
        {
            response.ProviderPeers.Add(ToProto(provider.Provider, provider.Addresses));
        }
        return response;
    }

    private Message? AcceptProvider(Message request, byte[] key, PeerId from, IReadOnlyList<Multiaddr> fromAddresses)
    {
        // A peer may only announce itself: provider entries for anyone else are ignored, as go-libp2p does.
        foreach (var provider in KadPeerInfo.ParsePeers(request.ProviderPeers, 4))
        {
            if (provider.Peer == from)
            {
                var addresses = provider.Addresses.Count > 0 ? provider.Addresses : fromAddresses;
                if (addresses.Count > 0)
                {
                    Providers.Add(key, from, addresses);
                }
            }
        }
        return null;
    }

    private Message WithCloserPeers(Message response, byte[] key, PeerId requester)
    {
        foreach (var entry in RoutingTable.NearestPeers(KadId.FromKey(key), _options.K + 1))
        {
            if (entry.Peer != requester && response.CloserPeers.Count < _options.K)
            {
                response.CloserPeers.Add(ToProto(entry.Peer, entry.Addresses));
            }
        }
        return response;
    }

    private static Message FindNodeRequest(byte[] key) => new() { Type = MessageType.FindNode, Key = ByteString.CopyFrom(key) };

    private static Message PutValueRequest(byte[] key, byte[] value) => new()
    {
        Type = MessageType.PutValue,
        Key = ByteString.CopyFrom(key),
        Record = new Record { Key = ByteString.CopyFrom(key), Value = ByteString.CopyFrom(value) },
    };

    private static Peer ToProto(PeerId peer, IReadOnlyList<Multiaddr> addresses)
    {
        var proto = new Peer { Id = ByteString.CopyFrom(peer.Bytes) };
        foreach (var address in addresses)
        {
            proto.Addrs.Add(ByteString.CopyFrom(address.Bytes));
        }
        return proto;
    }

    private static void CheckKey(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length is 0 or > MaxKeyLength)
        {
            throw new ArgumentException($"a DHT key is 1 to {MaxKeyLength} bytes", nameof(key));
        }
    }

    /// <summary>What one lookup learned: addresses of every peer it heard of, and its outcome.</summary>
    private sealed class LookupRun
    {
        public Dictionary<PeerId, IReadOnlyList<Multiaddr>> Addresses { get; } = [];

        public IReadOnlyList<PeerId> Closest { get; set; } = [];

        public int Hops { get; set; }

        public int Queried { get; set; }

        public TimeSpan Elapsed { get; set; }

        public IReadOnlyList<Multiaddr> AddressesOf(PeerId peer) => Addresses.TryGetValue(peer, out var addresses) ? addresses : [];

        public LookupResult ToResult() =>
            new(Closest.Select(p => new DhtPeer(p, AddressesOf(p))).ToList(), Hops, Queried, Elapsed);
    }
}
