using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Yamux;

namespace Parley.Net.Host;

/// <summary>One upgraded (TCP + Noise + yamux) connection to a peer.</summary>
internal sealed class Connection(YamuxSession session, PeerId remotePeer, Multiaddr remoteAddress, bool isInbound) : IAsyncDisposable
{
    public YamuxSession Session { get; } = session;

    public PeerId RemotePeer { get; } = remotePeer;

    /// <summary>Where the peer is, with its /p2p id.</summary>
    public Multiaddr RemoteAddress { get; } = remoteAddress;

    public bool IsInbound { get; } = isInbound;

    public bool IsOpen => !Session.IsClosed;

    public ValueTask DisposeAsync() => Session.DisposeAsync();
}
