using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Resources;
using Parley.Net.Yamux;

namespace Parley.Net.Host;

/// <summary>One upgraded (Noise + yamux) connection to a peer, over TCP or over a relay's circuit, with its share of the host's limits.</summary>
internal sealed class Connection(YamuxSession session, PeerId remotePeer, Multiaddr remoteAddress, bool isInbound, ConnectionLease lease) : IAsyncDisposable
{
    public YamuxSession Session { get; } = session;

    public PeerId RemotePeer { get; } = remotePeer;

    /// <summary>Where the peer is, with its /p2p id; a /p2p-circuit address for a relayed connection.</summary>
    public Multiaddr RemoteAddress { get; } = remoteAddress;

    public bool IsInbound { get; } = isInbound;

    public ConnectionLease Lease { get; } = lease;

    /// <summary>Carried by a relay, which limits its time and bytes; a direct connection is always preferred.</summary>
    public bool IsRelayed => RemoteAddress.IsCircuit;

    /// <summary>The relay that carries this connection, or null for a direct one.</summary>
    public PeerId? Relay { get; } = remoteAddress.TryGetCircuit(out var relay, out _) ? relay.PeerId : null;

    public DateTimeOffset OpenedAt { get; } = DateTimeOffset.UtcNow;

    public bool IsOpen => !Session.IsClosed;

    public ConnectionInfo Info => new(RemotePeer, RemoteAddress, IsInbound, IsRelayed, OpenedAt);

    public ValueTask DisposeAsync() => Session.DisposeAsync();
}

/// <summary>What the host tells about one of its connections.</summary>
public sealed record ConnectionInfo(PeerId Peer, Multiaddr RemoteAddress, bool IsInbound, bool IsRelayed, DateTimeOffset OpenedAt);
