using Parley.Core.Identity;
using Parley.Dht.Keys;
using Parley.Dht.Routing;
using Parley.Testing;

namespace Parley.Dht.Tests.Routing;

public class RefreshKeyTableTests
{
    private readonly Random _rng = new(17);

    [Fact]
    public void Keys_hash_into_the_bucket_asked_for_and_are_valid_peer_ids()
    {
        var table = new RefreshKeyTable();
        var local = KadId.FromPeer(TestPeers.Random(_rng));
        for (var bucket = 0; bucket < 14; bucket++)
        {
            Assert.True(table.TryFind(local, bucket, _rng, 1 << 20, out var key));
            Assert.Equal(bucket, local.CommonPrefixLength(KadId.FromKey(key)));
            Assert.Equal(KadId.FromKey(key), KadId.FromPeer(PeerId.FromBytes(key)));
        }
    }

    [Fact]
    public void A_key_found_by_trial_is_filed_and_served_again_without_hashing()
    {
        var table = new RefreshKeyTable();
        var local = KadId.FromPeer(TestPeers.Random(_rng));
        Assert.False(table.TryFind(local, 15, _rng, maxAttempts: 0, out _));

        Assert.True(table.TryFind(local, 15, _rng, 1 << 22, out var searched));
        // Bucket 15 is a single slot of the table: the key the search found is the one filed there.
        Assert.True(table.TryFind(local, 15, _rng, maxAttempts: 0, out var filed));
        Assert.Equal(searched, filed);
        Assert.Equal(15, local.CommonPrefixLength(KadId.FromKey(filed)));
    }

    [Fact]
    public void Trial_hashes_serve_other_nodes_buckets_as_well()
    {
        var table = new RefreshKeyTable();
        var first = KadId.FromPeer(TestPeers.Random(_rng));
        Assert.True(table.TryFind(first, 15, _rng, 1 << 22, out _));
        // The search filed tens of thousands of hashes: most of another node's shallow buckets need no hashing.
        var other = KadId.FromPeer(TestPeers.Random(_rng));
        var served = Enumerable.Range(0, 8).Count(bucket => table.TryFind(other, bucket, _rng, maxAttempts: 0, out var key)
            && other.CommonPrefixLength(KadId.FromKey(key)) == bucket);
        Assert.Equal(8, served);
    }

    [Fact]
    public void Buckets_deeper_than_the_table_are_searched_by_trial_only()
    {
        var table = new RefreshKeyTable();
        var local = KadId.FromPeer(TestPeers.Random(_rng));
        Assert.False(table.TryFind(local, 40, _rng, maxAttempts: 1000, out var none));
        Assert.Null(none);
    }
}
