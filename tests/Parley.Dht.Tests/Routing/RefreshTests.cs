using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;
using Parley.Dht.Routing;
using Parley.Testing;

namespace Parley.Dht.Tests.Routing;

public class RefreshTests
{
    private static readonly Multiaddr[] Loopback = [TestPeers.Tcp("127.0.0.1")];

    private readonly ManualTimeProvider _time = new();
    private readonly Random _rng = new(9);
    private readonly RoutingTable _table;

    public RefreshTests()
    {
        _table = new RoutingTable(TestPeers.Random(_rng), new RoutingTableOptions(), _time);
        foreach (var bucket in new[] { 0, 1, 3 })
        {
            _table.TryAdd(TestPeers.InBucket(_table.LocalId, bucket, _rng), Loopback);
        }
    }

    private TimeSpan Interval => _table.Options.RefreshInterval;

    [Fact]
    public void Buckets_fall_due_after_the_refresh_interval_and_not_before()
    {
        Assert.Empty(_table.BucketsDueForRefresh());
        _time.Advance(Interval - TimeSpan.FromSeconds(1));
        Assert.Empty(_table.BucketsDueForRefresh());
        _time.Advance(TimeSpan.FromSeconds(1));
        // Up to one past the deepest non-empty bucket, empty ones included.
        Assert.Equal([0, 1, 2, 3, 4], _table.BucketsDueForRefresh());
    }

    [Fact]
    public void A_lookup_in_a_bucket_resets_its_clock()
    {
        _time.Advance(Interval / 2);
        _table.MarkBucketUsed(_table.RandomIdForBucket(1, _rng));
        _table.MarkBucketUsed(_table.RandomIdForBucket(2, _rng));
        _time.Advance(Interval / 2);
        Assert.Equal([0, 3, 4], _table.BucketsDueForRefresh());
        _time.Advance(Interval / 2 - TimeSpan.FromSeconds(1));
        Assert.Equal([0, 3, 4], _table.BucketsDueForRefresh());
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([0, 1, 2, 3, 4], _table.BucketsDueForRefresh());
    }

    [Fact]
    public void A_target_deeper_than_any_peer_counts_for_the_bucket_past_the_deepest()
    {
        _time.Advance(Interval);
        _table.MarkBucketUsed(_table.LocalId);
        _table.MarkBucketUsed(_table.RandomIdForBucket(40, _rng));
        Assert.Equal([0, 1, 2, 3], _table.BucketsDueForRefresh());
    }

    [Fact]
    public void An_empty_table_refreshes_bucket_zero()
    {
        var empty = new RoutingTable(TestPeers.Random(_rng), new RoutingTableOptions(), _time);
        _time.Advance(Interval);
        Assert.Equal([0], empty.BucketsDueForRefresh());
    }

    [Fact]
    public void Random_ids_for_a_bucket_fall_in_it()
    {
        for (var bucket = 0; bucket < 256; bucket++)
        {
            Assert.Equal(bucket, _table.BucketIndexOf(_table.RandomIdForBucket(bucket, _rng)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => _table.RandomIdForBucket(256, _rng));
        Assert.Throws<ArgumentOutOfRangeException>(() => _table.RandomIdForBucket(-1, _rng));
    }

    [Fact]
    public void Random_keys_for_a_bucket_hash_into_it_and_are_valid_peer_ids()
    {
        for (var bucket = 0; bucket <= 10; bucket++)
        {
            Assert.True(_table.TryRandomKeyForBucket(bucket, _rng, out var key));
            Assert.Equal(bucket, _table.BucketIndexOf(KadId.FromKey(key)));
            Assert.Equal(KadId.FromKey(key), KadId.FromPeer(PeerId.FromBytes(key)));
        }
        Assert.False(_table.TryRandomKeyForBucket(200, _rng, out var none, maxAttempts: 1000));
        Assert.Null(none);
    }
}
