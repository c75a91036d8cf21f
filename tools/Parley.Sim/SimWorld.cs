using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Dht.Records;
using Parley.Testing.Simulation;

namespace Parley.Sim;

/// <summary>One simulated node: an identity, an address label, and the real <see cref="KademliaNode"/>.</summary>
internal sealed class SimNode
{
    /// <param name="address">A made-up public address (nothing is ever sent to it), for scenarios where the routing
    /// table's IP-diversity rules matter; otherwise a DNS label keeps them out of the way.</param>
    public SimNode(SimWorld world, int index, IdentityKey identity, DhtOptions options, Random random, System.Net.IPAddress? address = null, SybilBehaviour? sybil = null)
    {
        Index = index;
        Peer = identity.PeerId;
        Sybil = sybil;
        Addresses = [address is null ? Multiaddr.Parse($"/dns4/node{index}.sim/tcp/4001") : Multiaddr.Parse($"/ip4/{address}/tcp/4001")];
        Messenger = new SimMessenger(world, this);
        Dht = new KademliaNode(Messenger, world.Validators, options, world.Time, random: random);
    }

    public int Index { get; }

    public PeerId Peer { get; }

    public IReadOnlyList<Multiaddr> Addresses { get; }

    public SimMessenger Messenger { get; }

    public KademliaNode Dht { get; }

    /// <summary>Set on the attackers of the Sybil scenario.</summary>
    public SybilBehaviour? Sybil { get; }

    public bool IsOnline { get; set; } = true;
}

/// <summary>The simulated network: who exists, who is online, and how messages travel between them.</summary>
internal sealed class SimWorld(SimulationScheduler scheduler, SimulatedNetwork network)
{
    private readonly Dictionary<PeerId, SimNode> _byPeer = [];

    public SimulationScheduler Scheduler { get; } = scheduler;

    public VirtualTimeProvider Time => Scheduler.Time;

    public SimulatedNetwork Network { get; } = network;

    /// <summary>One registry for every node: validators hold no per-node state, and one signature cache serves all.</summary>
    public RecordValidatorRegistry Validators { get; } = ParleyRecords.CreateValidators(scheduler.Time);

    public List<SimNode> Online { get; } = [];

    public long Messages { get; set; }

    public SimNode? Find(PeerId peer) => _byPeer.TryGetValue(peer, out var node) && node.IsOnline ? node : null;

    public void Add(SimNode node)
    {
        _byPeer[node.Peer] = node;
        Online.Add(node);
    }

    public void TakeOffline(SimNode node)
    {
        node.IsOnline = false;
        _byPeer.Remove(node.Peer);
        Online.Remove(node);
    }
}
