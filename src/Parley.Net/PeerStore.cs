using System.Collections.Concurrent;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Net;

/// <summary>What identify and discovery told us about a peer. Immutable snapshots; updates replace them.</summary>
public sealed record PeerInfo(
    PeerId PeerId,
    IReadOnlyList<Multiaddr> Addresses,
    IReadOnlyList<string> Protocols,
    string? AgentVersion,
    string? ProtocolVersion,
    Multiaddr? ObservedAddress);

/// <summary>Known peers and their addresses, bounded so that a flood of gossip cannot grow it without limit.</summary>
public sealed class PeerStore
{
    public const int MaxAddressesPerPeer = 16;
    public const int MaxProtocolsPerPeer = 128;

    private readonly ConcurrentDictionary<PeerId, PeerInfo> _peers = new();

    public PeerStore(int maxPeers = 100_000)
    {
        MaxPeers = maxPeers;
    }

    public int MaxPeers { get; }

    public int Count => _peers.Count;

    public PeerInfo? Get(PeerId peer) => _peers.TryGetValue(peer, out var info) ? info : null;

    public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer) => Get(peer)?.Addresses ?? [];

    /// <summary>Adds addresses (without /p2p suffixes) for a peer; newest first, at most <see cref="MaxAddressesPerPeer"/>.</summary>
    public void AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(addresses);
        var fresh = Dialable(addresses).ToList();
        if (fresh.Count == 0 || (!_peers.ContainsKey(peer) && _peers.Count >= MaxPeers))
        {
            return;
        }
        _peers.AddOrUpdate(
            peer,
            p => new PeerInfo(p, fresh.Distinct().Take(MaxAddressesPerPeer).ToList(), [], null, null, null),
            (_, existing) => existing with { Addresses = fresh.Concat(existing.Addresses).Distinct().Take(MaxAddressesPerPeer).ToList() });
    }

    /// <summary>Replaces what identify reported: its listen addresses come first, then the ones we already knew.</summary>
    public void UpdateFromIdentify(PeerId peer, IReadOnlyList<Multiaddr> listenAddresses, IReadOnlyList<string> protocols, string? agentVersion, string? protocolVersion, Multiaddr? observedAddress)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(listenAddresses);
        ArgumentNullException.ThrowIfNull(protocols);
        var addresses = Dialable(listenAddresses).Distinct().Take(MaxAddressesPerPeer).ToList();
        var protocolList = protocols.Distinct().Take(MaxProtocolsPerPeer).ToList();
        _peers.AddOrUpdate(
            peer,
            p => new PeerInfo(p, addresses, protocolList, agentVersion, protocolVersion, observedAddress),
            (_, existing) => existing with
            {
                Addresses = addresses.Concat(existing.Addresses).Distinct().Take(MaxAddressesPerPeer).ToList(),
                Protocols = protocolList,
                AgentVersion = agentVersion,
                ProtocolVersion = protocolVersion,
                ObservedAddress = observedAddress,
            });
    }

    public bool Remove(PeerId peer) => _peers.TryRemove(peer, out _);

    /// <summary>Addresses stripped of their /p2p suffix; a bare /p2p/… says nothing about where the peer is and is dropped.</summary>
    private static IEnumerable<Multiaddr> Dialable(IEnumerable<Multiaddr> addresses) =>
        addresses.Where(a => a.PeerId is null || a.Components.Count > 1).Select(a => a.WithoutPeerId());
}
