using System.Collections.Concurrent;
using System.Collections.Immutable;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Testing;

/// <summary>A peer on an <see cref="InMemoryNetwork"/>.</summary>
public sealed class InMemoryHost : IPeerNetwork
{
    private readonly InMemoryNetwork _network;
    private readonly ConcurrentDictionary<PeerId, byte> _connected = new();
    private readonly ConcurrentDictionary<InMemoryDuplexStream, byte> _openStreams = new();
    private readonly CancellationTokenSource _shutdown = new();
    private ImmutableDictionary<string, StreamHandler> _handlers = ImmutableDictionary<string, StreamHandler>.Empty;
    private int _online = 1;

    internal InMemoryHost(InMemoryNetwork network, PeerId peerId, Multiaddr address)
    {
        _network = network;
        LocalPeerId = peerId;
        Address = address;
    }

    public event EventHandler<PeerEventArgs>? PeerConnected;

    public event EventHandler<PeerEventArgs>? PeerDisconnected;

    public PeerId LocalPeerId { get; }

    public Multiaddr Address { get; }

    public bool IsOnline => Volatile.Read(ref _online) == 1;

    public IReadOnlyList<Multiaddr> ListenAddresses => [Address];

    public PeerStore PeerStore { get; } = new();

    /// <summary>Kept, so tests can see what the layers above protect; nothing is trimmed in memory.</summary>
    public Parley.Net.Resources.PeerTags Protection { get; } = new();

    Parley.Net.Resources.IPeerProtection IPeerNetwork.Protection => Protection;

    public IReadOnlyCollection<string> Protocols => _handlers.Keys.ToList();

    public IReadOnlyCollection<PeerId> ConnectedPeers => _connected.Keys.ToList();

    public Task<PeerId> ConnectAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        var remote = _network.Find(address) ?? throw new PeerConnectionException($"nobody answers at {address}");
        if (address.PeerId is { } expected && expected != remote.LocalPeerId)
        {
            throw new PeerConnectionException($"{address} is {remote.LocalPeerId}, not {expected}");
        }
        Link(remote);
        return Task.FromResult(remote.LocalPeerId);
    }

    public async Task<PeerStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(protocols);
        ObjectDisposedException.ThrowIf(!IsOnline, this);
        var latency = _network.Options.Latency(LocalPeerId, peer);
        var remote = _network.Find(peer);
        if (remote is null || _network.IsLost())
        {
            // What a real dial or request to a dead or unlucky peer looks like: nothing for a while, then failure.
            await Task.Delay(latency * 2, _network.Options.TimeProvider, cancellationToken).ConfigureAwait(false);
            throw new PeerConnectionException(remote is null ? $"{peer} is not reachable" : $"stream to {peer} lost");
        }
        var protocol = protocols.FirstOrDefault(p => remote._handlers.ContainsKey(p))
            ?? throw new PeerConnectionException($"{peer} supports none of {string.Join(", ", protocols)}");
        Link(remote);
        var (local, far) = InMemoryDuplexStream.CreatePair(latency, _network.Options.TimeProvider);
        _openStreams.TryAdd(local, 0);
        remote.Serve(far, protocol, LocalPeerId, Address);
        await Task.Delay(latency, _network.Options.TimeProvider, cancellationToken).ConfigureAwait(false);
        return Wrap(local, protocol, peer, remote.Address);
    }

    public void SetStreamHandler(string protocol, StreamHandler handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(protocol);
        ArgumentNullException.ThrowIfNull(handler);
        ImmutableInterlocked.Update(ref _handlers, h => h.SetItem(protocol, handler));
    }

    public void RemoveStreamHandler(string protocol) => ImmutableInterlocked.Update(ref _handlers, h => h.Remove(protocol));

    public Task DisconnectAsync(PeerId peer, CancellationToken cancellationToken)
    {
        if (_connected.TryRemove(peer, out _))
        {
            PeerDisconnected?.Invoke(this, new PeerEventArgs(peer, null));
            _network.Find(peer)?.Unlink(LocalPeerId);
        }
        return Task.CompletedTask;
    }

    /// <summary>Takes the peer off the network at once, as a crash would: its streams are reset and its peers see it go.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _online, 0) == 0)
        {
            return;
        }
        _network.Remove(this);
        await _shutdown.CancelAsync().ConfigureAwait(false);
        foreach (var stream in _openStreams.Keys)
        {
            stream.Reset();
        }
        foreach (var peer in _connected.Keys)
        {
            await DisconnectAsync(peer, CancellationToken.None).ConfigureAwait(false);
        }
        _shutdown.Dispose();
    }

    private void Link(InMemoryHost remote)
    {
        if (_connected.TryAdd(remote.LocalPeerId, 0))
        {
            PeerStore.AddAddresses(remote.LocalPeerId, [remote.Address]);
            PeerConnected?.Invoke(this, new PeerEventArgs(remote.LocalPeerId, remote.Address));
        }
        remote.Accept(this);
    }

    private void Accept(InMemoryHost dialer)
    {
        if (_connected.TryAdd(dialer.LocalPeerId, 0))
        {
            // What identify would tell us over a real connection: where the dialer listens.
            PeerStore.AddAddresses(dialer.LocalPeerId, [dialer.Address]);
            PeerConnected?.Invoke(this, new PeerEventArgs(dialer.LocalPeerId, dialer.Address));
        }
    }

    private void Unlink(PeerId peer)
    {
        if (_connected.TryRemove(peer, out _))
        {
            PeerDisconnected?.Invoke(this, new PeerEventArgs(peer, null));
        }
    }

    private void Serve(InMemoryDuplexStream end, string protocol, PeerId dialer, Multiaddr dialerAddress)
    {
        _openStreams.TryAdd(end, 0);
        var handler = _handlers[protocol];
        var stream = Wrap(end, protocol, dialer, dialerAddress);
        _ = Task.Run(async () =>
        {
            try
            {
                await handler(stream, _shutdown.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                stream.Reset();
            }
            finally
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        });
    }

    private PeerStream Wrap(InMemoryDuplexStream end, string protocol, PeerId remote, Multiaddr remoteAddress) =>
        new(
            end.OnDispose(() => _openStreams.TryRemove(end, out _)),
            protocol,
            remote,
            remoteAddress.WithPeerId(remote),
            end.CloseWriteAsync,
            end.Reset);
}
