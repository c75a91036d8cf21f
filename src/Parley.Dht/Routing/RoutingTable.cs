using System.Diagnostics.CodeAnalysis;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;

namespace Parley.Dht.Routing;

/// <summary>
/// The Kademlia routing table: k-buckets indexed by the common prefix length (CPL) of a peer's id with the local id.
/// <para>
/// go-libp2p-kbucket keeps a growing list whose last bucket holds every CPL at or above its index and splits when
/// full. Admitting a peer there succeeds exactly when its own CPL holds fewer than k peers, so one bucket per CPL
/// (as rust-libp2p has) admits the same peers with no split bookkeeping; buckets are created as they are first needed.
/// </para>
/// <para>
/// Only peers that answered us belong here (the caller ensures it). A full bucket never drops a peer on its own:
/// the newcomer waits in the bucket's replacement cache and the caller pings the least-recently-seen peer; only a
/// failed check (<see cref="ReportLiveness"/>) or <see cref="Remove"/> frees the place. Thread-safe; the events
/// are raised after the table's lock is released.
/// </para>
/// </summary>
public sealed class RoutingTable
{
    private const int MaxBuckets = KadId.Bits;

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _createdAt;
    private readonly Dictionary<long, int> _subnetCounts = [];
    private Bucket?[] _buckets = new Bucket?[8];
    private int _count;

    public RoutingTable(PeerId local, RoutingTableOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        options.Validate();
        LocalPeer = local;
        LocalId = KadId.FromPeer(local);
        Options = options;
        _time = time;
        _createdAt = time.GetUtcNow();
    }

    public event EventHandler<RoutingEntry>? PeerAdded;

    public event EventHandler<RoutingEntry>? PeerRemoved;

    public PeerId LocalPeer { get; }

    public KadId LocalId { get; }

    public RoutingTableOptions Options { get; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _count;
            }
        }
    }

    /// <summary>The bucket a peer with this id belongs in: its common prefix length with the local id (0..255).</summary>
    public int BucketIndexOf(KadId id) => Math.Min(LocalId.CommonPrefixLength(id), MaxBuckets - 1);

    /// <summary>
    /// Records that <paramref name="peer"/> answered a query from <paramref name="addresses"/> (include the address
    /// the connection came from: the subnet limits can only judge IP addresses).
    /// </summary>
    public AddResult TryAdd(PeerId peer, IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(addresses);
        if (peer == LocalPeer)
        {
            return new AddResult(AddOutcome.Rejected, Reason: AddRejection.Self);
        }
        var id = KadId.FromPeer(peer);
        var fresh = NormalizeAddresses(addresses, Options.MaxAddressesPerPeer);
        var now = _time.GetUtcNow();
        Changes changes = default;
        AddResult result;
        lock (_gate)
        {
            result = TryAddLocked(peer, id, fresh, now, ref changes);
        }
        changes.Raise(this);
        return result;
    }

    /// <summary>
    /// The outcome of the liveness check asked for by <see cref="AddOutcome.PendingLivenessCheck"/>. Alive: the peer
    /// becomes the most recently seen of its bucket. Dead: it is removed and the most recent waiting peer that passes
    /// the subnet limits takes its place.
    /// </summary>
    public void ReportLiveness(PeerId candidate, bool alive)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        var id = KadId.FromPeer(candidate);
        var now = _time.GetUtcNow();
        Changes changes = default;
        lock (_gate)
        {
            var bucket = ExistingBucket(BucketIndexOf(id));
            if (bucket is null)
            {
                return;
            }
            if (bucket.CheckPending?.Peer == candidate)
            {
                bucket.CheckPending = null;
            }
            var position = bucket.IndexOf(candidate, id);
            if (alive)
            {
                if (position >= 0)
                {
                    MoveToMostRecent(bucket, position, now);
                }
                return;
            }
            bucket.RemoveReplacement(candidate, id);
            if (position >= 0)
            {
                RemoveAt(bucket, position, ref changes);
                Promote(bucket, now, ref changes);
            }
        }
        changes.Raise(this);
    }

    /// <summary>
    /// False when <paramref name="peer"/> could only wait in a replacement cache: its bucket is full and even the
    /// least recently seen peer in it was heard from lately. Asking such a peer whether it is a server is wasted.
    /// </summary>
    public bool HasRoomFor(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var index = BucketIndexOf(KadId.FromPeer(peer));
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            return ExistingBucket(index) is not { } bucket || bucket.Entries.Count < Options.BucketSize || !IsGood(bucket.Entries[0], now);
        }
    }

    /// <summary>Drops a peer (one that failed queries repeatedly), from the table and from the replacement caches.</summary>
    /// <returns>True when it was in the table.</returns>
    public bool Remove(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var id = KadId.FromPeer(peer);
        var now = _time.GetUtcNow();
        Changes changes = default;
        bool removed;
        lock (_gate)
        {
            var bucket = ExistingBucket(BucketIndexOf(id));
            if (bucket is null)
            {
                return false;
            }
            bucket.RemoveReplacement(peer, id);
            var position = bucket.IndexOf(peer, id);
            removed = position >= 0;
            if (removed)
            {
                if (bucket.CheckPending?.Peer == peer)
                {
                    bucket.CheckPending = null;
                }
                RemoveAt(bucket, position, ref changes);
                Promote(bucket, now, ref changes);
            }
        }
        changes.Raise(this);
        return removed;
    }

    /// <summary>The peer answered us: it becomes the most recently seen of its bucket. No effect for peers not in the table.</summary>
    public void MarkSeen(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var id = KadId.FromPeer(peer);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            var bucket = ExistingBucket(BucketIndexOf(id));
            var position = bucket?.IndexOf(peer, id) ?? -1;
            if (position >= 0)
            {
                MoveToMostRecent(bucket!, position, now);
            }
        }
    }

    public RoutingEntry? Find(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var id = KadId.FromPeer(peer);
        lock (_gate)
        {
            var bucket = ExistingBucket(BucketIndexOf(id));
            var position = bucket?.IndexOf(peer, id) ?? -1;
            return position >= 0 ? bucket!.Entries[position] : null;
        }
    }

    /// <summary>Every entry, by bucket and least recently seen first within a bucket: what to persist.</summary>
    public IReadOnlyList<RoutingEntry> Snapshot()
    {
        lock (_gate)
        {
            var all = new List<RoutingEntry>(_count);
            foreach (var bucket in _buckets)
            {
                if (bucket is not null)
                {
                    all.AddRange(bucket.Entries);
                }
            }
            return all;
        }
    }

    /// <summary>
    /// Imports entries saved by a previous run. They keep their last-seen time, so being older than anything heard
    /// in this run they are the first eviction candidates until they answer again. Entries that fail the subnet
    /// limits are skipped; entries for full buckets wait in the replacement cache.
    /// </summary>
    /// <returns>How many entered the table.</returns>
    public int Seed(IEnumerable<RoutingEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var now = _time.GetUtcNow();
        var added = 0;
        Changes changes = default;
        foreach (var saved in entries)
        {
            if (saved?.Peer is null || saved.Addresses is null || saved.Peer == LocalPeer)
            {
                continue;
            }
            // Recompute what the file claims: the id from the peer, the address list within bounds.
            var id = KadId.FromPeer(saved.Peer);
            var addresses = NormalizeAddresses(saved.Addresses, Options.MaxAddressesPerPeer);
            var groups = SubnetGroups.Of(addresses, Options.DiversityExempt);
            var entry = new RoutingEntry(saved.Peer, id, addresses, saved.LastSeen > now ? now : saved.LastSeen, now);
            lock (_gate)
            {
                var bucket = GetOrCreateBucket(BucketIndexOf(id));
                if (bucket.IndexOf(saved.Peer, id) >= 0 || CheckDiversity(bucket, groups) != AddRejection.None)
                {
                    continue;
                }
                if (bucket.Entries.Count < Options.BucketSize)
                {
                    Insert(bucket, entry, groups, ref changes);
                    added++;
                }
                else
                {
                    bucket.AddReplacement(entry, Options.ReplacementCacheSize);
                }
            }
        }
        changes.Raise(this);
        return added;
    }

    /// <summary>The <paramref name="count"/> entries closest to <paramref name="target"/> by XOR distance, nearest first. Exact.</summary>
    public IReadOnlyList<RoutingEntry> NearestPeers(KadId target, int count)
    {
        if (count <= 0)
        {
            return [];
        }
        var cpl = LocalId.CommonPrefixLength(target);
        var found = new List<RoutingEntry>(count + Options.BucketSize);
        lock (_gate)
        {
            // Bucket cpl is nearest to the target (its peers share cpl + 1 bits with it). All buckets above cpl
            // come next, at distances in one power-of-two range; then each bucket below cpl is a range farther
            // than the one above it. Whole ranges are taken until there are enough, then sorted: that is exact.
            if (cpl < MaxBuckets)
            {
                AddEntries(found, cpl, cpl + 1);
                if (found.Count < count)
                {
                    AddEntries(found, cpl + 1, _buckets.Length);
                }
            }
            for (var i = Math.Min(cpl, _buckets.Length) - 1; i >= 0 && found.Count < count; i--)
            {
                AddEntries(found, i, i + 1);
            }
        }
        var distances = new KadId[found.Count];
        for (var i = 0; i < distances.Length; i++)
        {
            distances[i] = found[i].Id ^ target;
        }
        var sorted = found.ToArray();
        Array.Sort(distances, sorted);
        return sorted.Length <= count ? sorted : sorted[..count];
    }

    /// <summary>
    /// A lookup for <paramref name="target"/> was made: its bucket counts as used for refresh. Targets deeper than
    /// any peer count for the bucket just past the deepest non-empty one, the deepest that refresh looks at.
    /// </summary>
    public void MarkBucketUsed(KadId target)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            var index = Math.Min(BucketIndexOf(target), HighestNonEmptyBucket() + 1);
            GetOrCreateBucket(index).LastUsed = now;
        }
    }

    /// <summary>
    /// Buckets from 0 to one past the deepest non-empty bucket (as go-libp2p-kbucket) that no lookup has used for
    /// <see cref="RoutingTableOptions.RefreshInterval"/>; the table's creation counts as a use.
    /// </summary>
    public IReadOnlyList<int> BucketsDueForRefresh()
    {
        var now = _time.GetUtcNow();
        var due = new List<int>();
        lock (_gate)
        {
            var last = Math.Min(HighestNonEmptyBucket() + 1, MaxBuckets - 1);
            for (var i = 0; i <= last; i++)
            {
                var lastUsed = ExistingBucket(i)?.LastUsed ?? _createdAt;
                if (now - lastUsed >= Options.RefreshInterval)
                {
                    due.Add(i);
                }
            }
        }
        return due;
    }

    /// <summary>A random id in bucket <paramref name="index"/>, as a lookup target for refreshing it.</summary>
    public KadId RandomIdForBucket(int index, Random rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, MaxBuckets);
        return KadId.RandomWithPrefix(LocalId, index, rng);
    }

    /// <summary>
    /// A random FIND_NODE key (a sha2-256 multihash, so also a valid peer id) whose SHA-256 falls in bucket
    /// <paramref name="index"/>: peers hash the key they receive, so refreshing a bucket over the wire needs a
    /// preimage, not just an id. Buckets below 16 usually take one from the process's <see cref="RefreshKeyTable"/>;
    /// otherwise a search by trial takes about 2^(index+1) hashes; false when <paramref name="maxAttempts"/> found none
    /// (a self-lookup covers the deepest buckets).
    /// </summary>
    public bool TryRandomKeyForBucket(int index, Random rng, [NotNullWhen(true)] out byte[]? key, int maxAttempts = 1 << 20)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, MaxBuckets);
        ArgumentNullException.ThrowIfNull(rng);
        return RefreshKeyTable.Shared.TryFind(LocalId, index, rng, maxAttempts, out key);
    }

    private AddResult TryAddLocked(PeerId peer, KadId id, IReadOnlyList<Multiaddr> fresh, DateTimeOffset now, ref Changes changes)
    {
        var bucket = GetOrCreateBucket(BucketIndexOf(id));
        var position = bucket.IndexOf(peer, id);
        if (position >= 0)
        {
            var existing = bucket.Entries[position];
            var merged = MergeAddresses(fresh, existing.Addresses, Options.MaxAddressesPerPeer);
            if (!ReferenceEquals(merged, existing.Addresses))
            {
                // A known peer is not rejected for new addresses, but they count from now on.
                CountSubnets(bucket, SubnetGroups.Of(existing.Addresses, Options.DiversityExempt), -1);
                CountSubnets(bucket, SubnetGroups.Of(merged, Options.DiversityExempt), +1);
            }
            bucket.Entries.RemoveAt(position);
            bucket.Entries.Add(existing with { Addresses = merged, LastSeen = now });
            if (bucket.CheckPending?.Peer == peer)
            {
                bucket.CheckPending = null;
            }
            return new AddResult(AddOutcome.Updated);
        }

        // Most calls are for known peers; only newcomers pay for reading their subnets.
        var groups = SubnetGroups.Of(fresh, Options.DiversityExempt);
        var rejection = CheckDiversity(bucket, groups);
        if (rejection != AddRejection.None)
        {
            return new AddResult(AddOutcome.Rejected, Reason: rejection);
        }
        var entry = new RoutingEntry(peer, id, fresh, now, now);
        if (bucket.Entries.Count < Options.BucketSize)
        {
            bucket.RemoveReplacement(peer, id);
            Insert(bucket, entry, groups, ref changes);
            return new AddResult(AddOutcome.Added);
        }

        bucket.AddReplacement(entry, Options.ReplacementCacheSize);
        if (IsGood(bucket.Entries[0], now))
        {
            return new AddResult(AddOutcome.Queued);
        }
        var pendingStillThere = bucket.CheckPending is { } pending && bucket.IndexOf(pending.Peer, pending.Id) >= 0;
        if (pendingStillThere && now - bucket.CheckStarted < Options.LivenessCheckTimeout)
        {
            return new AddResult(AddOutcome.Queued);
        }
        var candidate = bucket.Entries[0];
        bucket.CheckPending = candidate;
        bucket.CheckStarted = now;
        return new AddResult(AddOutcome.PendingLivenessCheck, candidate);
    }

    private bool IsGood(RoutingEntry entry, DateTimeOffset now) => now - entry.LastSeen < Options.GoodFor;

    private AddRejection CheckDiversity(Bucket bucket, long[] groups)
    {
        foreach (var group in groups)
        {
            if (bucket.SubnetCounts is not null && bucket.SubnetCounts.GetValueOrDefault(group) >= Options.MaxPerSubnetPerBucket)
            {
                return AddRejection.SubnetLimitInBucket;
            }
            if (_subnetCounts.GetValueOrDefault(group) >= Options.MaxPerSubnetInTable)
            {
                return AddRejection.SubnetLimitInTable;
            }
        }
        return AddRejection.None;
    }

    private void Insert(Bucket bucket, RoutingEntry entry, long[] groups, ref Changes changes)
    {
        bucket.InsertByLastSeen(entry);
        CountSubnets(bucket, groups, +1);
        _count++;
        changes.Add(entry, added: true);
    }

    private void RemoveAt(Bucket bucket, int position, ref Changes changes)
    {
        var entry = bucket.Entries[position];
        bucket.Entries.RemoveAt(position);
        CountSubnets(bucket, SubnetGroups.Of(entry.Addresses, Options.DiversityExempt), -1);
        _count--;
        changes.Add(entry, added: false);
    }

    /// <summary>Fills a freed place with the most recent waiting peer that passes the subnet limits.</summary>
    private void Promote(Bucket bucket, DateTimeOffset now, ref Changes changes)
    {
        var waiting = bucket.Replacements;
        if (waiting is null || bucket.Entries.Count >= Options.BucketSize)
        {
            return;
        }
        for (var i = 0; i < waiting.Count; i++)
        {
            var groups = SubnetGroups.Of(waiting[i].Addresses, Options.DiversityExempt);
            if (CheckDiversity(bucket, groups) == AddRejection.None)
            {
                var promoted = waiting[i] with { AddedAt = now };
                waiting.RemoveAt(i);
                Insert(bucket, promoted, groups, ref changes);
                return;
            }
        }
    }

    private static void MoveToMostRecent(Bucket bucket, int position, DateTimeOffset now)
    {
        var entry = bucket.Entries[position];
        bucket.Entries.RemoveAt(position);
        bucket.Entries.Add(entry with { LastSeen = now });
    }

    private void CountSubnets(Bucket bucket, long[] groups, int delta)
    {
        foreach (var group in groups)
        {
            bucket.SubnetCounts ??= [];
            Adjust(bucket.SubnetCounts, group, delta);
            Adjust(_subnetCounts, group, delta);
        }
    }

    private static void Adjust(Dictionary<long, int> counts, long group, int delta)
    {
        var value = counts.GetValueOrDefault(group) + delta;
        if (value > 0)
        {
            counts[group] = value;
        }
        else
        {
            counts.Remove(group);
        }
    }

    private void AddEntries(List<RoutingEntry> found, int from, int to)
    {
        for (var i = from; i < Math.Min(to, _buckets.Length); i++)
        {
            if (_buckets[i] is { } bucket)
            {
                found.AddRange(bucket.Entries);
            }
        }
    }

    private int HighestNonEmptyBucket()
    {
        for (var i = _buckets.Length - 1; i >= 0; i--)
        {
            if (_buckets[i] is { Entries.Count: > 0 })
            {
                return i;
            }
        }
        return -1;
    }

    private Bucket? ExistingBucket(int index) => index < _buckets.Length ? _buckets[index] : null;

    private Bucket GetOrCreateBucket(int index)
    {
        if (index >= _buckets.Length)
        {
            Array.Resize(ref _buckets, Math.Min(MaxBuckets, Math.Max(index + 1, _buckets.Length * 2)));
        }
        return _buckets[index] ??= new Bucket(_createdAt);
    }

    /// <summary>
    /// At most <paramref name="max"/> distinct addresses, in the order given, without <c>/p2p</c> suffixes; a bare
    /// <c>/p2p/…</c> says nothing about where the peer is and is dropped. Looks at a bounded number of inputs.
    /// </summary>
    private static Multiaddr[] NormalizeAddresses(IReadOnlyList<Multiaddr> addresses, int max)
    {
        var kept = new List<Multiaddr>(Math.Min(addresses.Count, max));
        var examined = Math.Min(addresses.Count, 4 * max);
        for (var i = 0; i < examined && kept.Count < max; i++)
        {
            var address = addresses[i];
            if (address is null || (address.PeerId is not null && address.Components.Count == 1))
            {
                continue;
            }
            var stripped = address.WithoutPeerId();
            if (!kept.Contains(stripped))
            {
                kept.Add(stripped);
            }
        }
        return kept.Count == 0 ? [] : kept.ToArray();
    }

    /// <summary>The fresh addresses first, then the known ones; the known list itself when nothing changed.</summary>
    private static IReadOnlyList<Multiaddr> MergeAddresses(IReadOnlyList<Multiaddr> fresh, IReadOnlyList<Multiaddr> known, int max)
    {
        if (fresh.Count == 0)
        {
            return known;
        }
        var merged = new List<Multiaddr>(max);
        foreach (var address in fresh.Concat(known))
        {
            if (merged.Count == max)
            {
                break;
            }
            if (!merged.Contains(address))
            {
                merged.Add(address);
            }
        }
        return merged.SequenceEqual(known) ? known : merged.ToArray();
    }

    /// <summary>Added and removed entries collected under the lock and announced after it is released.</summary>
    private struct Changes
    {
        private List<(RoutingEntry Entry, bool Added)>? _items;

        public void Add(RoutingEntry entry, bool added) => (_items ??= []).Add((entry, added));

        public readonly void Raise(RoutingTable table)
        {
            if (_items is null)
            {
                return;
            }
            foreach (var (entry, added) in _items)
            {
                (added ? table.PeerAdded : table.PeerRemoved)?.Invoke(table, entry);
            }
        }
    }
}
