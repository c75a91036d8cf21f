using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;
using Parley.Dht.Routing;
using Parley.Testing;

namespace Parley.Dht.Tests.Routing;

public class RoutingTableTests
{
    private static readonly Multiaddr[] Loopback = [TestPeers.Tcp("127.0.0.1")];

    private readonly ManualTimeProvider _time = new();
    private readonly Random _rng = new(42);
    private readonly PeerId _local;

    public RoutingTableTests()
    {
        _local = TestPeers.Random(_rng);
    }

    private RoutingTable NewTable(RoutingTableOptions? options = null) => new(_local, options ?? new RoutingTableOptions(), _time);

    /// <summary>
    /// Fills bucket <paramref name="index"/> with k peers, one second apart, so the first is least recently seen, then
    /// lets <see cref="RoutingTableOptions.GoodFor"/> pass, so a newcomer asks for a liveness check.
    /// </summary>
    private List<PeerId> FillBucket(RoutingTable table, int index)
    {
        var peers = new List<PeerId>();
        for (var i = 0; i < table.Options.BucketSize; i++)
        {
            var peer = TestPeers.InBucket(table.LocalId, index, _rng);
            Assert.Equal(AddOutcome.Added, table.TryAdd(peer, Loopback).Outcome);
            peers.Add(peer);
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        _time.Advance(table.Options.GoodFor);
        return peers;
    }

    [Fact]
    public void The_local_peer_is_rejected()
    {
        var table = NewTable();
        var result = table.TryAdd(_local, Loopback);
        Assert.Equal(AddOutcome.Rejected, result.Outcome);
        Assert.Equal(AddRejection.Self, result.Reason);
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void Peers_land_in_the_bucket_of_their_common_prefix_length()
    {
        var table = NewTable();
        foreach (var cpl in new[] { 0, 1, 2, 5, 9 })
        {
            var peer = TestPeers.InBucket(table.LocalId, cpl, _rng);
            Assert.Equal(AddOutcome.Added, table.TryAdd(peer, Loopback).Outcome);
            var entry = table.Find(peer);
            Assert.NotNull(entry);
            Assert.Equal(KadId.FromPeer(peer), entry.Id);
            Assert.Equal(cpl, table.BucketIndexOf(entry.Id));
            Assert.Equal(_time.GetUtcNow(), entry.AddedAt);
            Assert.Equal(_time.GetUtcNow(), entry.LastSeen);
        }
        Assert.Equal(5, table.Count);
        Assert.Null(table.Find(TestPeers.Random(_rng)));
    }

    [Fact]
    public void Deep_buckets_admit_k_peers_each_as_go_kbucket_splitting_does()
    {
        // In go-libp2p-kbucket these all start in the last (catch-all) bucket, which splits as it fills: every
        // peer is admitted as long as its own prefix length holds fewer than k.
        var table = NewTable();
        for (var cpl = 3; cpl <= 6; cpl++)
        {
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(AddOutcome.Added, table.TryAdd(TestPeers.InBucket(table.LocalId, cpl, _rng), Loopback).Outcome);
            }
        }
        Assert.Equal(80, table.Count);
        _time.Advance(table.Options.GoodFor);
        Assert.Equal(AddOutcome.PendingLivenessCheck, table.TryAdd(TestPeers.InBucket(table.LocalId, 4, _rng), Loopback).Outcome);
    }

    [Fact]
    public void Addresses_are_normalised_bounded_and_merged_newest_first()
    {
        var table = NewTable(new RoutingTableOptions { MaxAddressesPerPeer = 3 });
        var peer = TestPeers.InBucket(table.LocalId, 0, _rng);
        var withId = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/1/p2p/{peer}");
        var bare = Multiaddr.Parse($"/p2p/{peer}");
        table.TryAdd(peer, [withId, bare, TestPeers.Tcp("127.0.0.1", 1), TestPeers.Tcp("127.0.0.1", 2)]);
        Assert.Equal(["/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/tcp/2"], table.Find(peer)!.Addresses.Select(a => a.ToString()));

        _time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(AddOutcome.Updated, table.TryAdd(peer, [TestPeers.Tcp("127.0.0.1", 3), TestPeers.Tcp("127.0.0.1", 4)]).Outcome);
        var entry = table.Find(peer)!;
        Assert.Equal(["/ip4/127.0.0.1/tcp/3", "/ip4/127.0.0.1/tcp/4", "/ip4/127.0.0.1/tcp/1"], entry.Addresses.Select(a => a.ToString()));
        Assert.Equal(_time.GetUtcNow(), entry.LastSeen);
        Assert.Equal(_time.GetUtcNow() - TimeSpan.FromSeconds(5), entry.AddedAt);

        // A huge address list costs bounded work and keeps the bound.
        var flood = Enumerable.Range(1, 10_000).Select(port => TestPeers.Tcp("127.0.0.1", port)).ToArray();
        var other = TestPeers.InBucket(table.LocalId, 1, _rng);
        table.TryAdd(other, flood);
        Assert.Equal(3, table.Find(other)!.Addresses.Count);
    }

    [Fact]
    public void Known_peers_are_updated_and_become_most_recently_seen()
    {
        var table = NewTable();
        var peers = FillBucket(table, 0);
        Assert.Equal(AddOutcome.Updated, table.TryAdd(peers[0], Loopback).Outcome);
        Assert.Equal(peers[0], table.Snapshot()[^1].Peer);
        Assert.Equal(peers[1], table.Snapshot()[0].Peer);

        table.MarkSeen(peers[1]);
        Assert.Equal(peers[1], table.Snapshot()[^1].Peer);
        Assert.Equal(_time.GetUtcNow(), table.Find(peers[1])!.LastSeen);
        table.MarkSeen(TestPeers.Random(_rng));
        Assert.Equal(20, table.Count);
    }

    [Fact]
    public void A_full_bucket_asks_for_a_liveness_check_of_its_least_recently_seen_peer()
    {
        var table = NewTable();
        var peers = FillBucket(table, 0);
        table.MarkSeen(peers[0]);

        var newcomer = TestPeers.InBucket(table.LocalId, 0, _rng);
        var result = table.TryAdd(newcomer, Loopback);
        Assert.Equal(AddOutcome.PendingLivenessCheck, result.Outcome);
        Assert.Equal(peers[1], result.EvictionCandidate!.Peer);
        Assert.Null(table.Find(newcomer));
        Assert.Equal(20, table.Count);

        // While that check runs, further newcomers just wait.
        var second = TestPeers.InBucket(table.LocalId, 0, _rng);
        Assert.Equal(new AddResult(AddOutcome.Queued), table.TryAdd(second, Loopback));

        // A check whose result never came back stops reserving the bucket.
        _time.Advance(table.Options.LivenessCheckTimeout);
        var third = table.TryAdd(TestPeers.InBucket(table.LocalId, 0, _rng), Loopback);
        Assert.Equal(AddOutcome.PendingLivenessCheck, third.Outcome);
        Assert.Equal(peers[1], third.EvictionCandidate!.Peer);
    }

    [Fact]
    public void A_newcomer_to_a_full_bucket_of_peers_heard_from_lately_waits_without_a_liveness_check()
    {
        var table = NewTable();
        var peers = FillBucket(table, 0);
        peers.ForEach(table.MarkSeen);
        _time.Advance(table.Options.GoodFor - TimeSpan.FromSeconds(1));

        var newcomer = TestPeers.InBucket(table.LocalId, 0, _rng);
        Assert.False(table.HasRoomFor(newcomer));
        Assert.Equal(new AddResult(AddOutcome.Queued), table.TryAdd(newcomer, Loopback));
        Assert.Null(table.Find(newcomer));
        Assert.True(table.HasRoomFor(TestPeers.InBucket(table.LocalId, 1, _rng)));

        // Once the least recently seen peer has been quiet for that long, it is worth asking about.
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(table.HasRoomFor(newcomer));
        var result = table.TryAdd(TestPeers.InBucket(table.LocalId, 0, _rng), Loopback);
        Assert.Equal(AddOutcome.PendingLivenessCheck, result.Outcome);
        Assert.Equal(peers[0], result.EvictionCandidate!.Peer);
    }

    [Fact]
    public void A_dead_candidate_is_replaced_by_the_most_recent_waiting_peer()
    {
        var table = NewTable();
        var peers = FillBucket(table, 0);
        var older = TestPeers.InBucket(table.LocalId, 0, _rng);
        var candidate = table.TryAdd(older, Loopback).EvictionCandidate!;
        _time.Advance(TimeSpan.FromSeconds(1));
        var newer = TestPeers.InBucket(table.LocalId, 0, _rng);
        Assert.Equal(AddOutcome.Queued, table.TryAdd(newer, Loopback).Outcome);

        var added = new List<PeerId>();
        var removed = new List<PeerId>();
        table.PeerAdded += (_, e) => added.Add(e.Peer);
        table.PeerRemoved += (_, e) => removed.Add(e.Peer);
        table.ReportLiveness(candidate.Peer, alive: false);

        Assert.Null(table.Find(peers[0]));
        Assert.NotNull(table.Find(newer));
        Assert.Null(table.Find(older));
        Assert.Equal(20, table.Count);
        Assert.Equal([peers[0]], removed);
        Assert.Equal([newer], added);
        var promoted = table.Find(newer)!;
        Assert.Equal(_time.GetUtcNow(), promoted.AddedAt);
        Assert.Equal(newer, table.Snapshot()[^1].Peer);

        // The next newcomer gets the next least recently seen peer to check.
        Assert.Equal(peers[1], table.TryAdd(TestPeers.InBucket(table.LocalId, 0, _rng), Loopback).EvictionCandidate!.Peer);
    }

    [Fact]
    public void An_alive_candidate_stays_and_the_newcomer_keeps_waiting()
    {
        var table = NewTable();
        var peers = FillBucket(table, 0);
        var newcomer = TestPeers.InBucket(table.LocalId, 0, _rng);
        Assert.Equal(peers[0], table.TryAdd(newcomer, Loopback).EvictionCandidate!.Peer);

        table.ReportLiveness(peers[0], alive: true);
        Assert.NotNull(table.Find(peers[0]));
        Assert.Equal(peers[0], table.Snapshot()[^1].Peer);
        Assert.Null(table.Find(newcomer));

        // Another newcomer triggers a check of the next one.
        _time.Advance(TimeSpan.FromSeconds(1));
        var second = TestPeers.InBucket(table.LocalId, 0, _rng);
        Assert.Equal(peers[1], table.TryAdd(second, Loopback).EvictionCandidate!.Peer);

        // Both wait; as places free up the more recent newcomer goes in first.
        Assert.True(table.Remove(peers[5]));
        Assert.NotNull(table.Find(second));
        Assert.Null(table.Find(newcomer));
        Assert.True(table.Remove(peers[6]));
        Assert.NotNull(table.Find(newcomer));
        Assert.Equal(20, table.Count);
    }

    [Fact]
    public void Removing_a_peer_promotes_a_waiting_one_and_unknown_removals_are_ignored()
    {
        var table = NewTable();
        var peers = FillBucket(table, 2);
        var waiting = TestPeers.InBucket(table.LocalId, 2, _rng);
        table.TryAdd(waiting, Loopback);

        Assert.False(table.Remove(TestPeers.Random(_rng)));
        Assert.True(table.Remove(peers[7]));
        Assert.False(table.Remove(peers[7]));
        Assert.NotNull(table.Find(waiting));
        Assert.Equal(20, table.Count);

        // Nothing is waiting any more: the bucket shrinks.
        Assert.True(table.Remove(peers[8]));
        Assert.Equal(19, table.Count);
    }

    [Fact]
    public void The_replacement_cache_is_bounded_and_keeps_the_most_recent()
    {
        var table = NewTable(new RoutingTableOptions { ReplacementCacheSize = 3 });
        var peers = FillBucket(table, 0);
        var waiting = new List<PeerId>();
        for (var i = 0; i < 5; i++)
        {
            waiting.Add(TestPeers.InBucket(table.LocalId, 0, _rng));
            table.TryAdd(waiting[^1], Loopback);
            _time.Advance(TimeSpan.FromSeconds(1));
        }
        for (var i = 0; i < 4; i++)
        {
            table.Remove(peers[i]);
        }
        Assert.Equal(19, table.Count);
        Assert.NotNull(table.Find(waiting[4]));
        Assert.NotNull(table.Find(waiting[3]));
        Assert.NotNull(table.Find(waiting[2]));
        Assert.Null(table.Find(waiting[1]));
        Assert.Null(table.Find(waiting[0]));
    }

    [Fact]
    public void A_dead_report_for_a_waiting_peer_drops_it_from_the_cache()
    {
        var table = NewTable();
        var peers = FillBucket(table, 0);
        var waiting = TestPeers.InBucket(table.LocalId, 0, _rng);
        table.TryAdd(waiting, Loopback);
        table.ReportLiveness(waiting, alive: false);
        table.Remove(peers[3]);
        Assert.Null(table.Find(waiting));
        Assert.Equal(19, table.Count);
    }

    [Fact]
    public void Seeded_entries_keep_their_last_seen_time_and_are_the_first_eviction_candidates()
    {
        var previous = NewTable();
        var old = FillBucket(previous, 1).Take(3).ToList();
        var saved = previous.Snapshot();

        _time.Advance(TimeSpan.FromHours(1));
        var table = NewTable();
        var fresh = new List<PeerId>();
        for (var i = 0; i < 17; i++)
        {
            fresh.Add(TestPeers.InBucket(table.LocalId, 1, _rng));
            table.TryAdd(fresh[^1], Loopback);
        }
        var extraSaved = new RoutingEntry(TestPeers.InBucket(table.LocalId, 1, _rng), default, Loopback, _time.GetUtcNow() - TimeSpan.FromDays(1), default);
        var fromTheFuture = new RoutingEntry(TestPeers.InBucket(table.LocalId, 3, _rng), default, Loopback, _time.GetUtcNow() + TimeSpan.FromDays(1), default);
        var junk = new RoutingEntry(_local, default, Loopback, default, default);

        var added = table.Seed([.. saved.Take(3), extraSaved, fromTheFuture, junk, saved[0]]);

        Assert.Equal(4, added);
        Assert.Equal(21, table.Count);
        var snapshot = table.Snapshot().Where(e => table.BucketIndexOf(e.Id) == 1).ToList();
        Assert.Equal(old, snapshot.Take(3).Select(e => e.Peer));
        Assert.Equal(saved[0].LastSeen, table.Find(old[0])!.LastSeen);
        Assert.Equal(_time.GetUtcNow(), table.Find(old[0])!.AddedAt);
        Assert.Equal(KadId.FromPeer(old[0]), table.Find(old[0])!.Id);
        Assert.Equal(_time.GetUtcNow(), table.Find(fromTheFuture.Peer)!.LastSeen);
        // The bucket was full, so the extra saved peer waits; the oldest saved peer is checked first.
        Assert.Null(table.Find(extraSaved.Peer));
        Assert.Equal(old[0], table.TryAdd(TestPeers.InBucket(table.LocalId, 1, _rng), Loopback).EvictionCandidate!.Peer);
    }

    [Fact]
    public void A_snapshot_seeds_an_equivalent_table()
    {
        var table = NewTable();
        foreach (var peer in TestPeers.Many(300, _rng))
        {
            table.TryAdd(peer, Loopback);
        }
        var copy = NewTable();
        Assert.Equal(table.Count, copy.Seed(table.Snapshot()));
        Assert.Equal(table.Snapshot().Select(e => e.Peer).Order(Comparer<PeerId>.Create((a, b) => string.CompareOrdinal(a.ToString(), b.ToString()))),
            copy.Snapshot().Select(e => e.Peer).Order(Comparer<PeerId>.Create((a, b) => string.CompareOrdinal(a.ToString(), b.ToString()))));
    }

    [Fact]
    public void Events_are_raised_outside_the_lock()
    {
        var table = NewTable();
        var counts = new List<int>();
        table.PeerAdded += (_, _) =>
        {
            // Another thread can take the table's lock while the handler runs.
            var count = Task.Run(() => table.Count);
            Assert.True(count.Wait(TimeSpan.FromSeconds(10)));
            counts.Add(count.Result);
        };
        table.TryAdd(TestPeers.Random(_rng), Loopback);
        table.TryAdd(TestPeers.Random(_rng), Loopback);
        Assert.Equal([1, 2], counts);
    }

    [Fact]
    public void Concurrent_callers_keep_the_table_consistent()
    {
        var table = NewTable();
        var peers = TestPeers.Many(4000, _rng);
        Parallel.For(0, peers.Count, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            table.TryAdd(peers[i], Loopback);
            if (i % 3 == 0)
            {
                table.Remove(peers[i / 2]);
            }
            table.NearestPeers(KadId.FromPeer(peers[i]), 20);
            table.MarkSeen(peers[i]);
        });
        var snapshot = table.Snapshot();
        Assert.Equal(snapshot.Count, table.Count);
        Assert.Equal(snapshot.Count, snapshot.Select(e => e.Peer).Distinct().Count());
        Assert.All(snapshot.GroupBy(e => table.BucketIndexOf(e.Id)), bucket => Assert.True(bucket.Count() <= 20));
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => NewTable(new RoutingTableOptions { BucketSize = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => NewTable(new RoutingTableOptions { RefreshInterval = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => NewTable(new RoutingTableOptions { MaxPerSubnetInTable = 0 }));
    }
}
