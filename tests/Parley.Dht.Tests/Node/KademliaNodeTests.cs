using System.Text;
using Parley.Core.Identity;
using Parley.Dht.Keys;
using Parley.Dht.Records;
using Parley.Testing;

namespace Parley.Dht.Tests.Node;

public sealed class KademliaNodeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Lookups_find_the_true_closest_peers_in_a_network_of_200()
    {
        await using var network = await DhtTestNetwork.StartAsync(200);
        using var cts = new CancellationTokenSource(Timeout);
        var target = Encoding.UTF8.GetBytes("some key");
        var expected = network.Nodes
            .Select(n => n.Host.LocalPeerId)
            .OrderBy(p => p, Comparer<PeerId>.Create((a, b) => KadId.CompareDistance(KadId.FromKey(target), KadId.FromPeer(a), KadId.FromPeer(b))))
            .Take(20)
            .ToHashSet();
        var result = await network.Nodes[17].Node.FindClosestPeersAsync(target, cts.Token);
        var found = result.Closest.Select(p => p.Peer).ToHashSet();
        found.Add(network.Nodes[17].Host.LocalPeerId);
        Assert.True(expected.Count(found.Contains) >= 19, $"found {expected.Count(found.Contains)} of the 20 closest");
        Assert.InRange(result.Hops, 1, 6);
    }

    [Fact]
    public async Task Put_then_get_from_another_node()
    {
        await using var network = await DhtTestNetwork.StartAsync(50);
        using var cts = new CancellationTokenSource(Timeout);
        var owner = IdentityKey.Generate();
        var key = ParleyRecords.UserRecordKey(owner.PeerId, "greeting");
        var record = SignedRecord.Create(owner, key, "hello"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(1));

        var put = await network.Nodes[3].Node.PutValueAsync(key, record, cts.Token);
        Assert.True(put.Stored >= 15, $"stored at {put.Stored} of {put.Attempted}");

        var got = await network.Nodes[42].Node.GetValueAsync(key, cts.Token);
        Assert.Equal(record, got.Value);
    }

    [Fact]
    public async Task Get_returns_the_newest_record_and_repairs_stale_copies()
    {
        // A quorum as large as k: the reader hears every holder, so it must pick the newest and repair the rest.
        await using var network = await DhtTestNetwork.StartAsync(40, new DhtOptions { RunMaintenance = false, GetQuorum = 20, MinRequestTimeout = TimeSpan.FromSeconds(3) });
        using var cts = new CancellationTokenSource(Timeout);
        var owner = IdentityKey.Generate();
        var key = ParleyRecords.UserRecordKey(owner.PeerId, "status");
        var keyBytes = key.ToArray();
        var old = SignedRecord.Create(owner, key, "old"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(1));
        var current = SignedRecord.Create(owner, key, "new"u8.ToArray(), 2, DateTimeOffset.UtcNow.AddHours(1));
        await network.Nodes[1].Node.PutValueAsync(key, old, cts.Token);
        // Only some holders learn of the new record directly.
        var holders = network.Nodes.Where(n => n.Node.Records.Get(keyBytes) is not null).Take(5).ToList();
        foreach (var holder in holders)
        {
            holder.Node.Records.Put(keyBytes, current, owner.PeerId);
        }

        var staleBefore = network.Nodes.Count(n => n.Node.Records.Get(keyBytes)?.Value.SequenceEqual(old) == true);
        var got = await network.Nodes[30].Node.GetValueAsync(key, cts.Token);
        Assert.Equal(current, got.Value);
        var staleAfter = network.Nodes.Count(n => n.Node.Records.Get(keyBytes)?.Value.SequenceEqual(old) == true);
        Assert.True(staleAfter < staleBefore, $"stale copies: {staleBefore} before, {staleAfter} after");
    }

    [Fact]
    public async Task Provide_then_find_providers_from_another_node()
    {
        await using var network = await DhtTestNetwork.StartAsync(50);
        using var cts = new CancellationTokenSource(Timeout);
        var key = Core.Multiformats.Multihash.Sha256("content"u8).Bytes.ToArray();
        var provider = network.Nodes[8];
        Assert.True(await provider.Node.ProvideAsync(key, cts.Token) > 0);
        var providers = await network.Nodes[33].Node.FindProvidersAsync(key, 5, cts.Token);
        Assert.Contains(providers, p => p.Peer == provider.Host.LocalPeerId && p.Addresses.Count > 0);
    }

    [Fact]
    public async Task Find_peer_resolves_addresses()
    {
        await using var network = await DhtTestNetwork.StartAsync(60);
        using var cts = new CancellationTokenSource(Timeout);
        var wanted = network.Nodes[2].Host;
        var found = await network.Nodes[59].Node.FindPeerAsync(wanted.LocalPeerId, cts.Token);
        Assert.NotNull(found);
        Assert.Contains(wanted.Address, found.Addresses);
    }

    [Fact]
    public async Task A_node_with_no_live_peers_starts_alone_and_others_join_through_it()
    {
        await using var network = await DhtTestNetwork.StartAsync(0);
        var first = await network.AddNodeAsync(bootstrap: false);
        var dead = IdentityKey.Generate().PeerId;
        Assert.Equal(0, await first.BootstrapAsync([new DhtPeer(dead, [Core.Multiformats.Multiaddr.Parse("/ip4/127.9.9.9/tcp/1")])], CancellationToken.None));
        var second = await network.AddNodeAsync();
        Assert.Equal(1, second.RoutingTable.Count);
    }

    [Fact]
    public async Task Invalid_records_are_refused_everywhere()
    {
        await using var network = await DhtTestNetwork.StartAsync(20);
        using var cts = new CancellationTokenSource(Timeout);
        var owner = IdentityKey.Generate();
        var key = ParleyRecords.UserRecordKey(owner.PeerId, "x");
        var forged = SignedRecord.Create(IdentityKey.Generate(), key, "forged"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(1));
        await Assert.ThrowsAsync<RecordValidationException>(() => network.Nodes[0].Node.PutValueAsync(key, forged, cts.Token));
        Assert.All(network.Nodes, n => Assert.Equal(0, n.Node.Records.Count));
    }
}
