using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Net.Discovery;

/// <summary>A peer heard on the local link, with up to 16 of the addresses it announced, each without its /p2p suffix.</summary>
public sealed record MdnsPeer(PeerId Peer, IReadOnlyList<Multiaddr> Addresses);
