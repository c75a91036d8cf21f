using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Fuzz;

/// <summary>An <see cref="IPeerNetwork"/> that passes everything to an in-memory host and keeps the stream handlers
/// services register, so a fuzz input can be handed to a handler as one remote peer's stream.</summary>
internal sealed class HandlerCapture(IPeerNetwork inner) : IPeerNetwork
{
    private readonly Dictionary<string, StreamHandler> _handlers = [];

    public event EventHandler<PeerEventArgs>? PeerConnected
    {
        add => inner.PeerConnected += value;
        remove => inner.PeerConnected -= value;
    }

    public event EventHandler<PeerEventArgs>? PeerDisconnected
    {
        add => inner.PeerDisconnected += value;
        remove => inner.PeerDisconnected -= value;
    }

    public PeerId LocalPeerId => inner.LocalPeerId;

    public IReadOnlyList<Multiaddr> ListenAddresses => inner.ListenAddresses;

    public PeerStore PeerStore => inner.PeerStore;

    public Net.Resources.IPeerProtection Protection => inner.Protection;

    public IReadOnlyCollection<string> Protocols => inner.Protocols;

    public IReadOnlyCollection<PeerId> ConnectedPeers => inner.ConnectedPeers;

    public StreamHandler Handler(string protocol)
    {
        lock (_handlers)
        {
            return _handlers[protocol];
        }
    }

    public Task<PeerId> ConnectAsync(Multiaddr address, CancellationToken cancellationToken) => inner.ConnectAsync(address, cancellationToken);

    public Task<PeerStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken) =>
        inner.OpenStreamAsync(peer, protocols, cancellationToken);

    public void SetStreamHandler(string protocol, StreamHandler handler)
    {
        lock (_handlers)
        {
            _handlers[protocol] = handler;
        }
        inner.SetStreamHandler(protocol, handler);
    }

    public void RemoveStreamHandler(string protocol)
    {
        lock (_handlers)
        {
            _handlers.Remove(protocol);
        }
        inner.RemoveStreamHandler(protocol);
    }

    public Task DisconnectAsync(PeerId peer, CancellationToken cancellationToken) => inner.DisconnectAsync(peer, cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
