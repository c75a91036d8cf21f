using Parley.Core.Identity;
using Parley.Dht.Keys;

namespace Parley.Dht.Query;

/// <summary>
/// The iterative Kademlia lookup for the peers closest to a target, as a state machine with no I/O and no clock:
/// the caller sends a request to every peer <see cref="TakeNextToQuery"/> hands out and reports how each ended
/// (<see cref="OnSuccess"/>, <see cref="OnFailure"/>, and <see cref="OnSlow"/> when a request outlives its soft
/// timeout), until <see cref="IsFinished"/>. With <see cref="LookupOptions.OvertakeFartherRequests"/>, a request
/// stops holding one of the alpha places as soon as alpha closer candidates are waited on. Not thread-safe: the caller serializes the calls.
/// <para>
/// A path ends when the <see cref="LookupOptions.K"/> closest candidates it knows of that have not failed have all
/// answered, or when nothing is left to ask. Peer-supplied input costs bounded work and memory: each response's
/// closer peers are read up to a bound, each path keeps a bounded window of candidates, and junk (the responder
/// itself, the local peer, duplicates, nulls) is skipped.
/// </para>
/// </summary>
public sealed class ClosestPeersLookup
{
    private readonly Dictionary<PeerId, Candidate> _known = [];
    private readonly PathState[] _paths;
    private readonly List<Candidate> _responded = [];
    private readonly int _k;
    private readonly int _alpha;
    private readonly int _maxCandidates;
    private readonly int _maxCloserPeers;
    private readonly PeerId? _local;
    private readonly bool _widenWhenStalled;
    private readonly Func<PeerId, long[]>? _subnetsOf;
    private readonly int _maxPerSubnet;
    private readonly bool _overtake;
    private int _firstPath;
    private bool _stopped;

    public ClosestPeersLookup(KadId target, IEnumerable<PeerId> seeds, LookupOptions options)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.K, 1, nameof(options.K));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Alpha, 1, nameof(options.Alpha));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.DisjointPaths, 1, nameof(options.DisjointPaths));
        _k = options.K;
        _alpha = options.Alpha;
        _maxCandidates = options.MaxCandidatesPerPath ?? 10 * options.K;
        _maxCloserPeers = options.MaxCloserPeersPerResponse ?? 2 * options.K;
        ArgumentOutOfRangeException.ThrowIfLessThan(_maxCandidates, options.K, nameof(options.MaxCandidatesPerPath));
        ArgumentOutOfRangeException.ThrowIfNegative(_maxCloserPeers, nameof(options.MaxCloserPeersPerResponse));
        _local = options.LocalPeer;
        _widenWhenStalled = options.WidenWhenStalled;
        _subnetsOf = options.SubnetsOf;
        _maxPerSubnet = options.MaxPerSubnet;
        ArgumentOutOfRangeException.ThrowIfLessThan(_maxPerSubnet, 1, nameof(options.MaxPerSubnet));
        _overtake = options.OvertakeFartherRequests;
        Target = target;

        _paths = new PathState[options.DisjointPaths];
        for (var i = 0; i < _paths.Length; i++)
        {
            _paths[i] = new PathState();
        }
        // Dealing the seeds nearest first gives every path a share of the best starting points.
        var ordered = new List<Candidate>();
        var distinct = new HashSet<PeerId>();
        foreach (var seed in seeds)
        {
            if (seed is not null && seed != _local && distinct.Add(seed))
            {
                ordered.Add(new Candidate(seed, KadId.FromPeer(seed) ^ target, path: 0, hops: 1, SubnetsOf(seed)));
            }
        }
        ordered.Sort(static (a, b) => a.Distance.CompareTo(b.Distance));
        for (var i = 0; i < ordered.Count; i++)
        {
            var candidate = ordered[i];
            candidate.Path = i % _paths.Length;
            TryInsert(_paths[candidate.Path], candidate);
        }
        foreach (var path in _paths)
        {
            UpdateFinished(path);
        }
    }

    public KadId Target { get; }

    /// <summary>Stopped, or every path has ended. Requests still in flight can then be abandoned.</summary>
    public bool IsFinished => _stopped || Array.TrueForAll(_paths, path => path.Finished);

    /// <summary>Requests handed out and not yet reported as answered or failed, slow ones included.</summary>
    public int InFlightCount { get; private set; }

    /// <summary>Peers handed out by <see cref="TakeNextToQuery"/> so far.</summary>
    public int QueriedCount { get; private set; }

    /// <summary>
    /// Peers the lookup holds state for: the candidate windows plus every peer ever queried (so that none is asked
    /// twice), at most paths × <see cref="LookupOptions.MaxCandidatesPerPath"/> + <see cref="QueriedCount"/>.
    /// </summary>
    public int KnownPeerCount => _known.Count;

    /// <summary>The hop count of the closest peer that answered (0 before any answer).</summary>
    public int Hops => _responded.Count > 0 ? _responded[0].Hops : 0;

    /// <summary>Up to K peers that answered, over all paths, nearest to the target first (at most
    /// <see cref="LookupOptions.MaxPerSubnet"/> of one subnet when subnets are known).</summary>
    public IReadOnlyList<PeerId> ClosestResponded
    {
        get
        {
            var diverse = new SubnetCounter(this);
            return _responded.Where(diverse.Admit).Take(_k).Select(candidate => candidate.Peer).ToList();
        }
    }

    /// <summary>Seeds are hop 1; a peer first learned from the answer of a hop-n peer is hop n + 1; 0 for unknown peers.</summary>
    public int HopsTo(PeerId peer) => peer is not null && _known.TryGetValue(peer, out var candidate) ? candidate.Hops : 0;

    /// <summary>The disjoint path a peer belongs to (the first that learned of it), or -1 for unknown peers.</summary>
    public int PathOf(PeerId peer) => peer is not null && _known.TryGetValue(peer, out var candidate) ? candidate.Path : -1;

    /// <summary>The peers to send a request to now, nearest first within each path; each is marked in flight.</summary>
    public IReadOnlyList<PeerId> TakeNextToQuery()
    {
        if (IsFinished)
        {
            return [];
        }
        var next = new List<PeerId>();
        for (var n = 0; n < _paths.Length; n++)
        {
            TakeFrom(_paths[(_firstPath + n) % _paths.Length], next);
        }
        // Rotate which path goes first so that none is favoured.
        _firstPath = (_firstPath + 1) % _paths.Length;
        return next;
    }

    /// <summary>
    /// <paramref name="from"/> answered with <paramref name="closerPeers"/>. Answers from peers the lookup is not
    /// waiting for are ignored; after the lookup is finished an answer still counts, but its peers are not followed.
    /// </summary>
    /// <returns>True when the answer was expected.</returns>
    public bool OnSuccess(PeerId from, IEnumerable<PeerId> closerPeers)
    {
        ArgumentNullException.ThrowIfNull(closerPeers);
        if (!TryCompleteRequest(from, out var responder))
        {
            return false;
        }
        responder.State = CandidateState.Responded;
        InsertResponded(responder);
        var path = _paths[responder.Path];
        if (path.Finished || _stopped)
        {
            return true;
        }

        var window = path.Window;
        var hadEnough = window.Count >= _k;
        var closestBefore = window.Count > 0 ? window[0] : null;
        var read = 0;
        foreach (var peer in closerPeers)
        {
            if (++read > _maxCloserPeers)
            {
                break;
            }
            if (peer is null || peer == from || peer == _local || _known.ContainsKey(peer))
            {
                continue;
            }
            TryInsert(path, new Candidate(peer, KadId.FromPeer(peer) ^ Target, responder.Path, responder.Hops + 1, SubnetsOf(peer)));
        }
        var progress = !hadEnough || (window.Count > 0 && window[0] != closestBefore);
        path.ResponsesWithoutProgress = progress ? 0 : path.ResponsesWithoutProgress + 1;
        UpdateFinished(path);
        return true;
    }

    /// <summary>The request to <paramref name="from"/> failed (error, hard timeout, refused): it no longer counts as a candidate.</summary>
    /// <returns>True when a request to the peer was in flight.</returns>
    public bool OnFailure(PeerId from)
    {
        if (!TryCompleteRequest(from, out var failed))
        {
            return false;
        }
        failed.State = CandidateState.Failed;
        UpdateFinished(_paths[failed.Path]);
        return true;
    }

    /// <summary>
    /// The request to <paramref name="peer"/> outlived its soft timeout: it stays in flight (its answer is still
    /// welcome and the lookup still waits for it if it is among the closest) but frees its place among the
    /// <see cref="LookupOptions.Alpha"/> so that another peer can be asked meanwhile.
    /// </summary>
    /// <returns>True when the request was in flight and not already slow.</returns>
    public bool OnSlow(PeerId peer)
    {
        if (peer is null || !_known.TryGetValue(peer, out var candidate) || candidate.State != CandidateState.InFlight)
        {
            return false;
        }
        candidate.State = CandidateState.Slow;
        _paths[candidate.Path].Active--;
        return true;
    }

    /// <summary>Ends the lookup now, e.g. when a value lookup has what it needs; the results so far stay readable.</summary>
    public void Stop() => _stopped = true;

    private void TakeFrom(PathState path, List<PeerId> next)
    {
        if (path.Finished)
        {
            return;
        }
        var stalled = _widenWhenStalled && path.ResponsesWithoutProgress >= _alpha;
        var limit = stalled ? Math.Max(_k, _alpha) : _alpha;
        var responded = 0;
        var diverse = new SubnetCounter(this);
        // Overtaking: only requests to the closest candidates still waited on hold a place.
        var waitedOn = 0;
        foreach (var candidate in path.Window)
        {
            if (_overtake ? waitedOn >= limit : path.Active >= limit)
            {
                return;
            }
            if (!diverse.Admit(candidate))
            {
                continue;
            }
            if (candidate.State == CandidateState.InFlight)
            {
                waitedOn++;
                continue;
            }
            if (candidate.State == CandidateState.Responded && ++responded >= _k)
            {
                // Peers beyond the K closest that answered cannot change the result.
                return;
            }
            if (candidate.State == CandidateState.NotContacted)
            {
                candidate.State = CandidateState.InFlight;
                path.Active++;
                waitedOn++;
                InFlightCount++;
                QueriedCount++;
                next.Add(candidate.Peer);
            }
        }
    }

    private bool TryCompleteRequest(PeerId peer, out Candidate candidate)
    {
        if (peer is null || !_known.TryGetValue(peer, out candidate!) || candidate.State is not (CandidateState.InFlight or CandidateState.Slow))
        {
            candidate = null!;
            return false;
        }
        if (candidate.State == CandidateState.InFlight)
        {
            _paths[candidate.Path].Active--;
        }
        InFlightCount--;
        return true;
    }

    /// <summary>
    /// Adds a candidate to the path's window, which is sorted by distance and holds at most the configured number:
    /// beyond that the farthest entry not in flight leaves it. A peer that was queried stays known, so that it is
    /// never asked twice; one that was not is forgotten, and may come back if someone names it again.
    /// </summary>
    private void TryInsert(PathState path, Candidate candidate)
    {
        var window = path.Window;
        if (window.Count >= _maxCandidates && candidate.Distance >= window[^1].Distance)
        {
            return;
        }
        window.Insert(LowerBound(window, candidate.Distance), candidate);
        _known.Add(candidate.Peer, candidate);
        if (window.Count <= _maxCandidates)
        {
            return;
        }
        for (var i = window.Count - 1; i >= 0; i--)
        {
            var evicted = window[i];
            if (evicted.State is CandidateState.InFlight or CandidateState.Slow)
            {
                continue;
            }
            window.RemoveAt(i);
            if (evicted.State == CandidateState.NotContacted)
            {
                _known.Remove(evicted.Peer);
            }
            return;
        }
    }

    private void InsertResponded(Candidate candidate)
    {
        _responded.Insert(LowerBound(_responded, candidate.Distance), candidate);
        // Room beyond K for peers the subnet limit leaves out of the result.
        if (_responded.Count > (_subnetsOf is null ? _k : 4 * _k))
        {
            _responded.RemoveAt(_responded.Count - 1);
        }
    }

    private void UpdateFinished(PathState path)
    {
        if (path.Finished)
        {
            return;
        }
        var responded = 0;
        var diverse = new SubnetCounter(this);
        foreach (var candidate in path.Window)
        {
            if (!diverse.Admit(candidate))
            {
                continue;
            }
            switch (candidate.State)
            {
                case CandidateState.Responded when ++responded >= _k:
                    path.Finished = true;
                    return;
                case CandidateState.NotContacted or CandidateState.InFlight or CandidateState.Slow:
                    return;
            }
        }
        // Every candidate has answered or failed and fewer than K answered: nothing is left to try.
        path.Finished = true;
    }

    private static int LowerBound(List<Candidate> sorted, KadId distance)
    {
        int low = 0, high = sorted.Count;
        while (low < high)
        {
            var middle = (low + high) >>> 1;
            if (sorted[middle].Distance < distance)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }
        return low;
    }

    private enum CandidateState
    {
        NotContacted,
        InFlight,
        Slow,
        Responded,
        Failed,
    }

    private long[] SubnetsOf(PeerId peer) => _subnetsOf?.Invoke(peer) ?? [];

    /// <summary>Walks candidates nearest first and admits those whose subnets are all below the limit; a failed
    /// candidate neither counts nor is admitted.</summary>
    private readonly struct SubnetCounter(ClosestPeersLookup lookup)
    {
        private readonly Dictionary<long, int>? _counts = lookup._subnetsOf is null ? null : [];

        public bool Admit(Candidate candidate)
        {
            if (_counts is null || candidate.Subnets.Length == 0)
            {
                return true;
            }
            if (candidate.State == CandidateState.Failed)
            {
                return false;
            }
            foreach (var subnet in candidate.Subnets)
            {
                if (_counts.GetValueOrDefault(subnet) >= lookup._maxPerSubnet)
                {
                    return false;
                }
            }
            foreach (var subnet in candidate.Subnets)
            {
                _counts[subnet] = _counts.GetValueOrDefault(subnet) + 1;
            }
            return true;
        }
    }

    private sealed class Candidate(PeerId peer, KadId distance, int path, int hops, long[] subnets)
    {
        /// <summary>The subnets of its addresses, for the diversity limit; empty when unknown or exempt.</summary>
        public long[] Subnets { get; } = subnets;

        public PeerId Peer { get; } = peer;

        /// <summary>XOR distance to the target.</summary>
        public KadId Distance { get; } = distance;

        public int Path { get; set; } = path;

        public int Hops { get; } = hops;

        public CandidateState State { get; set; }
    }

    private sealed class PathState
    {
        /// <summary>Candidates nearest first, at most the configured bound.</summary>
        public List<Candidate> Window { get; } = [];

        /// <summary>Requests in flight and not slow: what <see cref="LookupOptions.Alpha"/> limits.</summary>
        public int Active { get; set; }

        public int ResponsesWithoutProgress { get; set; }

        public bool Finished { get; set; }
    }
}
