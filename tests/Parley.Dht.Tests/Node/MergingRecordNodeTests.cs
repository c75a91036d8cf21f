using Parley.Dht.Records;
using Parley.Dht.Tests.Records;
using Parley.Testing;

namespace Parley.Dht.Tests.Node;

/// <summary>Records of a merging namespace (<see cref="UnionValidator"/>) across a network.</summary>
public sealed class MergingRecordNodeTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Get_returns_the_merge_of_every_copy_and_writes_it_back_to_incomplete_holders()
    {
        await using var network = await StartAsync(40);
        using var cts = new CancellationTokenSource(Timeout);
        var key = UnionValidator.Key("members");
        var bytes = key.ToArray();
        await network.Nodes[1].Node.PutValueAsync(key, UnionValidator.Value("ann"), cts.Token);
        // Two groups of holders each hear of a different newcomer.
        var holders = network.Nodes.Where(n => n.Node.Records.Get(bytes) is not null).ToList();
        Assert.True(holders.Count >= 15, $"{holders.Count} holders");
        foreach (var holder in holders.Take(4))
        {
            holder.Node.Records.Put(bytes, UnionValidator.Value("bo"), network.Nodes[1].Host.LocalPeerId);
        }
        foreach (var holder in holders.Skip(4).Take(4))
        {
            holder.Node.Records.Put(bytes, UnionValidator.Value("cy"), network.Nodes[1].Host.LocalPeerId);
        }
        var reader = network.Nodes.First(n => n.Node.Records.Get(bytes) is null).Node;

        var got = await reader.GetValueAsync(key, quorum: 20, cts.Token);

        Assert.Equal(["ann", "bo", "cy"], UnionValidator.Words(got.Value).Order(StringComparer.Ordinal));
        var complete = holders.Count(h => UnionValidator.Words(h.Node.Records.Get(bytes)!.Value).Length == 3);
        Assert.True(complete >= 10, $"{complete} of {holders.Count} holders have the merge");
    }

    [Fact]
    public async Task Re_replication_merges_a_holders_copy_into_the_others()
    {
        await using var network = await StartAsync(30, new DhtOptions { RunMaintenance = false, ReplicationInterval = TimeSpan.Zero, MinRequestTimeout = TimeSpan.FromSeconds(3) });
        using var cts = new CancellationTokenSource(Timeout);
        var key = UnionValidator.Key("members");
        var bytes = key.ToArray();
        await network.Nodes[1].Node.PutValueAsync(key, UnionValidator.Value("ann"), cts.Token);
        var holders = network.Nodes.Where(n => n.Node.Records.Get(bytes) is not null).ToList();
        var informed = holders[0];
        informed.Node.Records.Put(bytes, UnionValidator.Value("bo"), network.Nodes[2].Host.LocalPeerId);

        await informed.Node.RunMaintenanceOnceAsync(cts.Token);

        var merged = UnionValidator.Value("ann", "bo");
        var complete = holders.Count(h => h.Node.Records.Get(bytes)!.Value.SequenceEqual(merged));
        Assert.True(complete >= 10, $"{complete} of {holders.Count} holders have the merge");
    }

    [Fact]
    public async Task A_quorum_must_be_positive()
    {
        await using var network = await StartAsync(2);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => network.Nodes[0].Node.GetValueAsync(UnionValidator.Key("x"), quorum: 0, CancellationToken.None));
    }

    private static Task<DhtTestNetwork> StartAsync(int count, DhtOptions? options = null) =>
        DhtTestNetwork.StartAsync(count, options, validators: () =>
        {
            var registry = ParleyRecords.CreateValidators(TimeProvider.System);
            registry.Register(UnionValidator.Namespace, new UnionValidator());
            return registry;
        });
}
