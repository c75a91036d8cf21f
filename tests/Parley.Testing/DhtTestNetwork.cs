using Parley.Core.Identity;
using Parley.Dht;
using Parley.Dht.Records;

namespace Parley.Testing;

/// <summary>Kademlia nodes on an in-memory network, each bootstrapped through a few earlier ones.</summary>
public sealed class DhtTestNetwork : IAsyncDisposable
{
    private readonly Func<RecordValidatorRegistry> _validators;

    private DhtTestNetwork(InMemoryNetwork network, Func<RecordValidatorRegistry>? validators)
    {
        Network = network;
        _validators = validators ?? (() => ParleyRecords.CreateValidators(TimeProvider.System));
    }

    /// <summary>
    /// No background maintenance (tests drive every step), and a request timeout floor that a test process sharing two
    /// cores with other test assemblies cannot hit by accident; tests of timeouts set their own.
    /// </summary>
    public static DhtOptions DefaultOptions { get; } = new() { RunMaintenance = false, MinRequestTimeout = TimeSpan.FromSeconds(3) };

    public InMemoryNetwork Network { get; }

    public List<(InMemoryHost Host, KademliaNode Node)> Nodes { get; } = [];

    /// <param name="validators">Makes each node's validator registry; by default the DHT's own namespaces.</param>
    public static async Task<DhtTestNetwork> StartAsync(int count, DhtOptions? options = null, InMemoryNetworkOptions? networkOptions = null, Func<RecordValidatorRegistry>? validators = null)
    {
        var network = new DhtTestNetwork(new InMemoryNetwork(networkOptions), validators);
        for (var i = 0; i < count; i++)
        {
            await network.AddNodeAsync(options);
        }
        return network;
    }

    public async Task<KademliaNode> AddNodeAsync(DhtOptions? options = null, IdentityKey? identity = null, bool bootstrap = true)
    {
        var host = Network.CreateHost(identity);
        var node = new KademliaNode(
            new NetworkDhtMessenger(host, (options ?? new DhtOptions()).ProtocolId),
            _validators(),
            options ?? DefaultOptions,
            random: new Random(Nodes.Count));
        node.Start();
        if (bootstrap && Nodes.Count > 0)
        {
            // Several bootstrap peers, never one.
            var known = Nodes.TakeLast(3).Select(n => new DhtPeer(n.Host.LocalPeerId, n.Host.ListenAddresses)).ToList();
            await node.BootstrapAsync(known, CancellationToken.None);
        }
        Nodes.Add((host, node));
        return node;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (host, node) in Nodes)
        {
            await node.DisposeAsync();
            await host.DisposeAsync();
        }
    }
}
