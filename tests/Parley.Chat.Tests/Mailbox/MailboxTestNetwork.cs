using Parley.Chat.Mailbox;
using Parley.Chat.Mailbox.Protos;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Dht.Keys;
using Parley.Net;
using Parley.Testing;

namespace Parley.Chat.Tests.Mailbox;

/// <summary>One DHT node with its mailbox service and store.</summary>
public sealed class MailboxNode(InMemoryHost host, KademliaNode dht, EphemeralMailboxStore store, MailboxService service)
{
    public InMemoryHost Host { get; } = host;

    public KademliaNode Dht { get; } = dht;

    public EphemeralMailboxStore Store { get; } = store;

    public MailboxService Service { get; set; } = service;

    public PeerId PeerId => Host.LocalPeerId;
}

/// <summary>An in-memory DHT whose every node runs a mailbox service; no background maintenance (tests drive it).</summary>
public sealed class MailboxTestNetwork : IAsyncDisposable
{
    private readonly DhtTestNetwork _dht;

    private MailboxTestNetwork(DhtTestNetwork dht, MailboxOptions options)
    {
        _dht = dht;
        Options = options;
    }

    public static MailboxOptions DefaultOptions { get; } = new() { RunMaintenance = false };

    public MailboxOptions Options { get; }

    public List<MailboxNode> Nodes { get; } = [];

    public IEnumerable<MailboxNode> Live => Nodes.Where(n => n.Host.IsOnline);

    public static async Task<MailboxTestNetwork> StartAsync(int count, MailboxOptions? options = null)
    {
        var network = new MailboxTestNetwork(await DhtTestNetwork.StartAsync(0), options ?? DefaultOptions);
        for (var i = 0; i < count; i++)
        {
            await network.AddNodeAsync();
        }
        return network;
    }

    public async Task<MailboxNode> AddNodeAsync()
    {
        await _dht.AddNodeAsync(DhtTestNetwork.DefaultOptions);
        var (host, dht) = _dht.Nodes[^1];
        var store = new EphemeralMailboxStore(Options, TimeProvider.System);
        var node = new MailboxNode(host, dht, store, StartService(host, dht, store));
        Nodes.Add(node);
        return node;
    }

    public MailboxService StartService(InMemoryHost host, KademliaNode dht, IMailboxStore store)
    {
        var service = new MailboxService(host, dht, store, TimeProvider.System, Options);
        service.Start();
        return service;
    }

    /// <summary>A host with no DHT and no handlers, as the throwaway identity a node deposits through.</summary>
    public InMemoryHost CreateDepositHost() => _dht.Network.CreateHost();

    public MailboxClient Client(MailboxNode node, IPeerNetwork? depositNetwork = null) =>
        new(node.Host, depositNetwork ?? node.Host, node.Dht, TimeProvider.System, Options, localService: node.Service);

    /// <summary>The <paramref name="count"/> live nodes closest to the mailbox, by brute force.</summary>
    public List<MailboxNode> ClosestTo(byte[] mailboxId, int count)
    {
        var target = KadId.FromKey(mailboxId);
        return Live.OrderBy(n => KadId.FromPeer(n.PeerId), Comparer<KadId>.Create((a, b) => KadId.CompareDistance(target, a, b))).Take(count).ToList();
    }

    /// <summary>Takes the node off the network at once, as a crash would.</summary>
    public static async Task StopAsync(MailboxNode node)
    {
        await node.Service.DisposeAsync();
        await node.Host.DisposeAsync();
    }

    public Task<Response> RequestAsync(IPeerNetwork from, PeerId to, Request request) =>
        MailboxWire.ExchangeAsync(from, to, [], request, Options, TimeProvider.System, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes.Where(n => n.Host.IsOnline))
        {
            await node.Service.DisposeAsync();
        }
        await _dht.DisposeAsync();
    }
}
