using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Net;

/// <summary>Serves one inbound stream whose protocol was negotiated; the stream is disposed when the task ends.</summary>
public delegate Task StreamHandler(PeerStream stream, CancellationToken cancellationToken);

/// <summary>
/// The seam between the network and everything above it: the DHT and chat layers open and accept
/// protocol streams to peers through this and never see sockets, so they run unchanged over the
/// libp2p TCP host and over the in-memory test network.
/// </summary>
public interface IPeerNetwork : IAsyncDisposable
{
    PeerId LocalPeerId { get; }

    /// <summary>The addresses this node can be reached at, each without the /p2p suffix.</summary>
    IReadOnlyList<Multiaddr> ListenAddresses { get; }

    /// <summary>What this node has learned about other peers: addresses, protocols, agent versions.</summary>
    PeerStore PeerStore { get; }

    /// <summary>Where the DHT and chat layers mark the peers whose connections matter (routing-table peers, contacts,
    /// relays in use), so the connection manager keeps them.</summary>
    Resources.IPeerProtection Protection { get; }

    /// <summary>Protocols with a registered handler.</summary>
    IReadOnlyCollection<string> Protocols { get; }

    IReadOnlyCollection<PeerId> ConnectedPeers { get; }

    event EventHandler<PeerEventArgs>? PeerConnected;

    event EventHandler<PeerEventArgs>? PeerDisconnected;

    /// <summary>Connects (or reuses the connection) to the peer at <paramref name="address"/>; when it names a /p2p id, the remote must prove that identity.</summary>
    /// <exception cref="PeerConnectionException">The dial, handshake or identity check failed.</exception>
    Task<PeerId> ConnectAsync(Multiaddr address, CancellationToken cancellationToken);

    /// <summary>Opens a stream speaking the first of <paramref name="protocols"/> the peer supports, dialling its known addresses if needed.</summary>
    /// <exception cref="PeerConnectionException">The peer cannot be reached or supports none of the protocols.</exception>
    Task<PeerStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken);

    void SetStreamHandler(string protocol, StreamHandler handler);

    void RemoveStreamHandler(string protocol);

    Task DisconnectAsync(PeerId peer, CancellationToken cancellationToken);
}

public sealed class PeerEventArgs(PeerId peer, Multiaddr? remoteAddress) : EventArgs
{
    public PeerId Peer { get; } = peer;

    public Multiaddr? RemoteAddress { get; } = remoteAddress;
}

/// <summary>A peer could not be reached, failed its handshake, or refused what was asked of it.</summary>
public class PeerConnectionException : IOException
{
    public PeerConnectionException(string message)
        : base(message)
    {
    }

    public PeerConnectionException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PeerConnectionException()
    {
    }
}

/// <summary>A connection was refused by one of our own limits (<see cref="Resources.ResourceLimits"/>), not by the peer or the network.</summary>
public sealed class ConnectionLimitException : PeerConnectionException
{
    public ConnectionLimitException(string message)
        : base(message)
    {
    }

    public ConnectionLimitException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ConnectionLimitException()
    {
    }
}
