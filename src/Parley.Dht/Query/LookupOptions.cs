using Parley.Core.Identity;

namespace Parley.Dht.Query;

public sealed record LookupOptions
{
    /// <summary>Peers to find: the lookup ends when the K closest it knows of have answered.</summary>
    public int K { get; init; } = 20;

    /// <summary>Requests in flight per path (up to <see cref="K"/> while stalled, see <see cref="WidenWhenStalled"/>).</summary>
    public int Alpha { get; init; } = 3;

    /// <summary>
    /// S/Kademlia disjoint paths: the seeds are dealt round-robin to this many paths and a peer belongs to the
    /// path that learned of it first, so one path's liars cannot steer the others.
    /// </summary>
    public int DisjointPaths { get; init; } = 1;

    /// <summary>Candidates a path remembers, the farthest dropped first; null means 10 × <see cref="K"/>.</summary>
    public int? MaxCandidatesPerPath { get; init; }

    /// <summary>Entries of one response's closer-peers list that are looked at; null means 2 × <see cref="K"/>.</summary>
    public int? MaxCloserPeersPerResponse { get; init; }

    /// <summary>
    /// The subnets a candidate's addresses fall in (IPv4 /16, IPv6 /32; none for exempt or name addresses). When set, a
    /// path counts at most <see cref="MaxPerSubnet"/> peers of one subnet among the closest it asks and waits for, and
    /// the result holds at most as many: peers of a few networks that crowd around a key (an eclipse by Sybils) cannot
    /// make up the K closest, so the lookup goes on to honest peers beyond them.
    /// </summary>
    public Func<PeerId, long[]>? SubnetsOf { get; init; }

    public int MaxPerSubnet { get; init; } = 2;

    /// <summary>The local peer, ignored wherever a response mentions it.</summary>
    public PeerId? LocalPeer { get; init; }

    /// <summary>
    /// When <see cref="Alpha"/> responses in a row bring no peer closer than the closest known, a path may have up
    /// to <see cref="K"/> requests in flight until one does (the Kademlia paper's final round; rust-libp2p's
    /// "stalled" state). It ends lookups several round trips sooner at the cost of a burst of requests.
    /// </summary>
    public bool WidenWhenStalled { get; init; } = true;

    /// <summary>
    /// A request holds one of the <see cref="Alpha"/> places only while its peer is among the alpha closest
    /// candidates still waited on: when answers bring closer peers, those are asked at once instead of after the
    /// answers of farther peers (which still count when they come). The Kademlia paper's lookup also asks new peers
    /// before all alpha requests of the previous round have returned.
    /// </summary>
    public bool OvertakeFartherRequests { get; init; }
}
