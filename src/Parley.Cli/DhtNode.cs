using Microsoft.Extensions.Logging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Net;
using Parley.Net.Discovery;
using Parley.Net.Host;

namespace Parley.Cli;

/// <summary>A libp2p host with a Kademlia node on it, joined to the network through saved and given peers.</summary>
internal sealed class DhtNode : IAsyncDisposable
{
    private readonly string? _routingTablePath;
    private MdnsDiscovery? _mdns;

    private DhtNode(Libp2pHost host, KademliaNode dht, string? routingTablePath)
    {
        Host = host;
        Dht = dht;
        _routingTablePath = routingTablePath;
    }

    public Libp2pHost Host { get; }

    public KademliaNode Dht { get; }

    /// <param name="dataFolder">Where the routing table is kept between runs; null for a throwaway node.</param>
    public static async Task<DhtNode> StartAsync(IdentityKey identity, IReadOnlyList<Multiaddr> listen, string protocolId, string? dataFolder, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        var host = new Libp2pHost(identity, new HostOptions { ListenAddresses = listen }, loggerFactory);
        try
        {
            await host.StartAsync(cancellationToken);
            var messenger = new NetworkDhtMessenger(host, protocolId, logger: loggerFactory.CreateLogger<NetworkDhtMessenger>());
            var dht = new KademliaNode(messenger, ParleyRecords.CreateValidators(TimeProvider.System), new DhtOptions { ProtocolId = protocolId }, TimeProvider.System, loggerFactory);
            dht.Start();
            return new DhtNode(host, dht, dataFolder is null ? null : Path.Combine(dataFolder, RoutingTableFile.FileName));
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Joins through the routing table saved by the last run first, then the given bootstrap addresses (any may be dead;
    /// an address without /p2p is dialled to learn who is there). Returns the routing table size.
    /// </summary>
    public async Task<int> JoinAsync(IReadOnlyList<Multiaddr> bootstrap, CancellationToken cancellationToken)
    {
        var known = new List<DhtPeer>();
        if (_routingTablePath is not null)
        {
            try
            {
                known.AddRange(await RoutingTableFile.LoadAsync(_routingTablePath, cancellationToken));
            }
            catch (InvalidDataException e)
            {
                Console.Error.WriteLine($"parley: ignoring the saved routing table: {e.Message}");
            }
        }
        foreach (var address in bootstrap)
        {
            if (address.PeerId is { } peer)
            {
                known.Add(new DhtPeer(peer, [address.WithoutPeerId()]));
                continue;
            }
            try
            {
                var found = await Host.ConnectAsync(address, cancellationToken);
                known.Add(new DhtPeer(found, [address]));
            }
            catch (PeerConnectionException e)
            {
                Console.Error.WriteLine($"parley: bootstrap peer {address} unreachable: {e.Message}");
            }
        }
        return await Dht.BootstrapAsync(known, cancellationToken);
    }

    /// <summary>Finds peers on the local network with mDNS and joins through each one found, so a LAN with no internet needs no bootstrap address.</summary>
    public void StartMdns(ILoggerFactory loggerFactory)
    {
        _mdns = new MdnsDiscovery(Host.LocalPeerId, () => Host.ListenAddresses, new MdnsOptions(), TimeProvider.System, loggerFactory.CreateLogger<MdnsDiscovery>());
        _mdns.PeerDiscovered += (_, found) => _ = JoinThroughDiscoveredAsync(found);
        _mdns.Start();
    }

    public async Task SaveRoutingTableAsync(CancellationToken cancellationToken)
    {
        if (_routingTablePath is null)
        {
            return;
        }
        var peers = Dht.RoutingTable.Snapshot().Select(e => new DhtPeer(e.Peer, e.Addresses)).ToList();
        if (peers.Count > 0)
        {
            await RoutingTableFile.SaveAsync(_routingTablePath, peers, cancellationToken);
        }
    }

    private async Task JoinThroughDiscoveredAsync(MdnsPeer found)
    {
        if (Dht.RoutingTable.Find(found.Peer) is not null)
        {
            return;
        }
        try
        {
            await Dht.BootstrapAsync([new DhtPeer(found.Peer, found.Addresses)], CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            Console.Error.WriteLine($"parley: could not join through {found.Peer} found on the LAN: {e.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_mdns is not null)
        {
            await _mdns.DisposeAsync();
        }
        await Dht.DisposeAsync();
        await Host.DisposeAsync();
    }
}
