using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Dht;

/// <summary>A peer and where to reach it, as the DHT reports it.</summary>
public sealed record DhtPeer(PeerId Peer, IReadOnlyList<Multiaddr> Addresses);

/// <summary>The outcome of an iterative lookup: the closest peers that answered, and what it took.</summary>
public sealed record LookupResult(IReadOnlyList<DhtPeer> Closest, int Hops, int Queried, TimeSpan Elapsed);

public sealed record PutValueResult(int Stored, int Attempted);

public sealed record GetValueResult(byte[]? Value, int ValidResponses, int Hops, TimeSpan Elapsed);
