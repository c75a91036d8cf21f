using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;

namespace Parley.Dht.Routing;

/// <summary>
/// A peer in the routing table. Immutable: the table replaces the entry when the peer is seen again, so a
/// snapshot can be handed out and stored without copying.
/// </summary>
/// <param name="Peer">The peer.</param>
/// <param name="Id">Its Kademlia id, <see cref="KadId.FromPeer"/>.</param>
/// <param name="Addresses">Where it was reached, newest first, without <c>/p2p</c> suffixes.</param>
/// <param name="LastSeen">When it last answered us.</param>
/// <param name="AddedAt">When it entered the table.</param>
public sealed record RoutingEntry(
    PeerId Peer,
    KadId Id,
    IReadOnlyList<Multiaddr> Addresses,
    DateTimeOffset LastSeen,
    DateTimeOffset AddedAt);
