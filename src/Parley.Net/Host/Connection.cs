using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Resources;
using Parley.Net.Yamux;

namespace Parley.Net.Host;

/// <summary>One upgraded (TCP + Noise + yamux) connection to a peer, with its share of the host's limits.</summary>
internal sealed class Connection(YamuxSession session, PeerId remotePeer, Multiaddr remoteAddress, bool isInbound, ConnectionLease lease) : IAsyncDisposable
{
    public YamuxSession Session { get; } = session;

    public PeerId RemotePeer { get; } = remotePeer;

    /// <summary>Where the peer is, with its /p2p id.</summary>
    public Multiaddr RemoteAddress { get; } = remoteAddress;

    public bool IsInbound { get; } = isInbound;

    public ConnectionLease Lease { get; } = lease;

    public DateTimeOffset OpenedAt { get; } = DateTimeOffset.UtcNow;

    public bool IsOpen => !Session.IsClosed;

    public ValueTask DisposeAsync() => Session.DisposeAsync();
}
