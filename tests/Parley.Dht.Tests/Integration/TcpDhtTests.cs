using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Records;
using Parley.Net.Host;

namespace Parley.Dht.Tests.Integration;

/// <summary>Thirty Parley nodes on 127.0.0.1 over the real libp2p stack (TCP, Noise, yamux) and the kad protocol.</summary>
public sealed class TcpDhtTests : IAsyncLifetime
{
    private const int NodeCount = 30;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly List<(Libp2pHost Host, KademliaNode Node)> _nodes = [];
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("parley-dht-test-");

    public async Task InitializeAsync()
    {
        for (var i = 0; i < NodeCount; i++)
        {
            var (host, node) = await StartNodeAsync(IdentityKey.Generate());
            // Several bootstrap peers, some of them dead: every third node also lists an address nobody listens on.
            var known = _nodes.TakeLast(3).Select(n => new DhtPeer(n.Host.LocalPeerId, n.Host.ListenAddresses)).ToList();
            if (i % 3 == 0)
            {
                known.Add(new DhtPeer(IdentityKey.Generate().PeerId, [Multiaddr.Parse("/ip4/127.0.0.1/tcp/1")]));
            }
            await node.BootstrapAsync(known, CancellationToken.None);
            _nodes.Add((host, node));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var (host, node) in _nodes)
        {
            await node.DisposeAsync();
            await host.DisposeAsync();
        }
        _data.Delete(recursive: true);
    }

    [Fact]
    public async Task Put_get_provide_providers_and_find_peer_across_thirty_nodes()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var owner = IdentityKey.Generate();
        var key = ParleyRecords.UserRecordKey(owner.PeerId, "tcp");
        var record = SignedRecord.Create(owner, key, "over tcp"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(1));
        var put = await _nodes[4].Node.PutValueAsync(key, record, cts.Token);
        Assert.True(put.Stored >= 15, $"stored at {put.Stored} of {put.Attempted}");
        var got = await _nodes[27].Node.GetValueAsync(key, cts.Token);
        Assert.Equal(record, got.Value);

        var content = Multihash.Sha256("tcp content"u8).Bytes.ToArray();
        Assert.True(await _nodes[9].Node.ProvideAsync(content, cts.Token) > 0);
        var providers = await _nodes[21].Node.FindProvidersAsync(content, 5, cts.Token);
        Assert.Contains(providers, p => p.Peer == _nodes[9].Host.LocalPeerId);

        var wanted = _nodes[1].Host;
        var found = await _nodes[28].Node.FindPeerAsync(wanted.LocalPeerId, cts.Token);
        Assert.NotNull(found);
        Assert.Contains(wanted.ListenAddresses[0], found.Addresses);
    }

    [Fact]
    public async Task A_restarted_node_rejoins_from_its_saved_routing_table_without_bootstrap()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var identity = IdentityKey.Generate();
        var (host, node) = await StartNodeAsync(identity);
        await node.BootstrapAsync(_nodes.Take(3).Select(n => new DhtPeer(n.Host.LocalPeerId, n.Host.ListenAddresses)), cts.Token);
        Assert.True(node.RoutingTable.Count >= 10, $"only {node.RoutingTable.Count} peers after joining");
        var file = Path.Combine(_data.FullName, RoutingTableFile.FileName);
        await RoutingTableFile.SaveAsync(file, node.RoutingTable.Snapshot().Select(e => new DhtPeer(e.Peer, e.Addresses)), cts.Token);
        await node.DisposeAsync();
        await host.DisposeAsync();

        // Same identity, new port, and no bootstrap address: only what was saved.
        var (again, restarted) = await StartNodeAsync(identity);
        _nodes.Add((again, restarted));
        var saved = await RoutingTableFile.LoadAsync(file, cts.Token);
        Assert.True(await restarted.BootstrapAsync(saved, cts.Token) >= 10);
        var target = _nodes[11].Host.LocalPeerId;
        var found = await restarted.FindPeerAsync(target, cts.Token);
        Assert.NotNull(found);
    }

    [Fact]
    public async Task A_client_mode_node_looks_up_and_publishes_but_enters_no_routing_table()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var (host, client) = await StartNodeAsync(IdentityKey.Generate(), DhtMode.Client);
        _nodes.Add((host, client));
        await client.BootstrapAsync(_nodes.Take(3).Select(n => new DhtPeer(n.Host.LocalPeerId, n.Host.ListenAddresses)), cts.Token);

        var owner = IdentityKey.Generate();
        var key = ParleyRecords.UserRecordKey(owner.PeerId, "from a client");
        var record = SignedRecord.Create(owner, key, "published by a client"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(1));
        var put = await client.PutValueAsync(key, record, cts.Token);
        var got = await _nodes[20].Node.GetValueAsync(key, cts.Token);
        var found = await client.FindPeerAsync(_nodes[15].Host.LocalPeerId, cts.Token);

        Assert.True(put.Stored >= 10, $"stored at {put.Stored} of {put.Attempted}");
        Assert.Equal(record, got.Value);
        Assert.NotNull(found);
        Assert.True(client.RoutingTable.Count >= 10);
        Assert.DoesNotContain(DhtOptions.ParleyProtocolId, host.Protocols);
        Assert.All(_nodes.Where(n => n.Node != client), n => Assert.Null(n.Node.RoutingTable.Find(host.LocalPeerId)));

        // Reachable again: it answers and advertises the kad protocol once more.
        client.SetMode(DhtMode.Server);
        Assert.Contains(DhtOptions.ParleyProtocolId, host.Protocols);
    }

    private static async Task<(Libp2pHost Host, KademliaNode Node)> StartNodeAsync(IdentityKey identity, DhtMode mode = DhtMode.Server)
    {
        var host = new Libp2pHost(identity, new HostOptions { ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")] });
        await host.StartAsync(CancellationToken.None);
        var node = new KademliaNode(
            new NetworkDhtMessenger(host, DhtOptions.ParleyProtocolId),
            ParleyRecords.CreateValidators(TimeProvider.System),
            new DhtOptions { RunMaintenance = false, MinRequestTimeout = TimeSpan.FromSeconds(3), Mode = mode });
        node.Start();
        return (host, node);
    }
}
