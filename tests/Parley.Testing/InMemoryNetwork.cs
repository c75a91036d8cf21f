using System.Collections.Concurrent;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Testing;

public sealed class InMemoryNetworkOptions
{
    /// <summary>One-way delay of every chunk on a link; by default none.</summary>
    public Func<PeerId, PeerId, TimeSpan> Latency { get; init; } = static (_, _) => TimeSpan.Zero;

    /// <summary>Chance that opening a stream fails as if the request were lost and timed out.</summary>
    public double StreamLossRate { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    public int Seed { get; init; } = 1;
}

/// <summary>
/// Peers that reach each other by PeerId in one process, behind <see cref="IPeerNetwork"/>, so the layers
/// above run unchanged over it. No sockets, no encryption: a test of the upper layers pays for neither.
/// </summary>
public sealed class InMemoryNetwork(InMemoryNetworkOptions? options = null)
{
    private readonly ConcurrentDictionary<PeerId, InMemoryHost> _hosts = new();
    private readonly ConcurrentDictionary<Multiaddr, PeerId> _addresses = new();
    private readonly Random _random = new((options ?? new InMemoryNetworkOptions()).Seed);
    private int _nextAddress;

    public InMemoryNetworkOptions Options { get; } = options ?? new InMemoryNetworkOptions();

    public IReadOnlyCollection<InMemoryHost> Hosts => _hosts.Values.ToList();

    /// <summary>Adds a peer; it gets a unique label address (never dialled over a real network).</summary>
    public InMemoryHost CreateHost(IdentityKey? identity = null)
    {
        identity ??= IdentityKey.Generate();
        var index = Interlocked.Increment(ref _nextAddress);
        var address = Multiaddr.Parse($"/ip4/127.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}/tcp/4001");
        var host = new InMemoryHost(this, identity.PeerId, address);
        if (!_hosts.TryAdd(identity.PeerId, host))
        {
            throw new InvalidOperationException($"{identity.PeerId} is already on the network");
        }
        _addresses[address] = identity.PeerId;
        return host;
    }

    internal InMemoryHost? Find(PeerId peer) => _hosts.TryGetValue(peer, out var host) && host.IsOnline ? host : null;

    internal InMemoryHost? Find(Multiaddr address)
    {
        var peer = address.PeerId ?? (_addresses.TryGetValue(address.WithoutPeerId(), out var byAddress) ? byAddress : null);
        return peer is null ? null : Find(peer);
    }

    internal void Remove(InMemoryHost host)
    {
        _hosts.TryRemove(host.LocalPeerId, out _);
        _addresses.TryRemove(host.Address, out _);
    }

    internal bool IsLost()
    {
        if (Options.StreamLossRate <= 0)
        {
            return false;
        }
        lock (_random)
        {
            return _random.NextDouble() < Options.StreamLossRate;
        }
    }
}
