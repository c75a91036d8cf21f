using Parley.Core.Multiformats;
using Parley.Dht.Keys;
using Parley.Dht.Routing;
using Parley.Testing;

namespace Parley.Dht.Tests.Routing;

public class NearestPeersTests
{
    private static readonly Multiaddr[] Loopback = [TestPeers.Tcp("127.0.0.1")];

    private static IEnumerable<KadId> Targets(RoutingTable table, IReadOnlyList<RoutingEntry> entries, Random rng)
    {
        yield return table.LocalId;
        yield return entries[0].Id;
        yield return entries[^1].Id;
        for (var cpl = 0; cpl <= 14; cpl++)
        {
            yield return KadId.RandomWithPrefix(table.LocalId, cpl, rng);
        }
        for (var i = 0; i < 30; i++)
        {
            yield return KadId.Random(rng);
        }
    }

    [Theory]
    [InlineData(20)]
    [InlineData(2000)]
    public void Nearest_peers_match_a_brute_force_sort_over_2000_random_peers(int bucketSize)
    {
        var rng = new Random(bucketSize);
        var table = new RoutingTable(TestPeers.Random(rng), new RoutingTableOptions { BucketSize = bucketSize }, new ManualTimeProvider());
        foreach (var peer in TestPeers.Many(2000, rng))
        {
            table.TryAdd(peer, Loopback);
        }
        var entries = table.Snapshot();
        Assert.Equal(bucketSize == 2000 ? 2000 : entries.Count, table.Count);

        foreach (var target in Targets(table, entries, rng))
        {
            foreach (var count in new[] { 1, 3, 20, 100, 5000 })
            {
                var expected = entries.OrderBy(e => e.Id ^ target).Take(count).Select(e => e.Peer);
                Assert.Equal(expected, table.NearestPeers(target, count).Select(e => e.Peer));
            }
        }
    }

    [Fact]
    public void Nothing_is_returned_for_an_empty_table_or_a_zero_count()
    {
        var rng = new Random(1);
        var table = new RoutingTable(TestPeers.Random(rng), new RoutingTableOptions(), new ManualTimeProvider());
        Assert.Empty(table.NearestPeers(KadId.Random(rng), 20));
        table.TryAdd(TestPeers.Random(rng), Loopback);
        Assert.Empty(table.NearestPeers(KadId.Random(rng), 0));
        Assert.Single(table.NearestPeers(KadId.Random(rng), 20));
    }
}
