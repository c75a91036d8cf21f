using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Dht.Protos;

namespace Parley.Sim;

/// <summary>
/// Delivers kad messages between simulated nodes in memory: one-way delay from the latency model each way, each
/// message lost with the configured probability, nothing crosses a partition, and a departed node never answers.
/// A lost or unanswered request simply never completes, so the node's own adaptive timeout decides, as on a real network.
/// </summary>
internal sealed class SimMessenger(SimWorld world, SimNode owner) : IDhtMessenger
{
    private DhtRequestHandler? _handler;

    public PeerId LocalPeer => owner.Peer;

    public IReadOnlyList<Multiaddr> LocalAddresses => owner.Addresses;

    public DhtRequestHandler? Handler => owner.IsOnline ? _handler : null;

    public void SetHandler(DhtRequestHandler? handler) => _handler = handler is not null && owner.Sybil is { } sybil ? sybil.Wrap(owner, handler) : handler;

    public IReadOnlyList<Multiaddr> AddressesOf(PeerId peer) => world.Find(peer)?.Addresses ?? [];

    public async Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Message request, CancellationToken cancellationToken)
    {
        world.Messages++;
        var target = world.Find(peer);
        var there = TimeSpan.Zero;
        if (target is null || !world.Network.TryGetDeliveryDelay(owner.Index, target.Index, out there))
        {
            await NeverAsync(cancellationToken);
        }
        await Task.Delay(there, world.Time, cancellationToken);
        var handler = target!.Messenger.Handler;
        if (handler is null || !owner.IsOnline)
        {
            await NeverAsync(cancellationToken);
        }
        var response = await handler!(owner.Peer, owner.Addresses, request, CancellationToken.None)
            ?? throw new DhtRequestException($"{peer} refused {request.Type}");
        var back = TimeSpan.Zero;
        if (!world.Network.TryGetDeliveryDelay(target.Index, owner.Index, out back))
        {
            await NeverAsync(cancellationToken);
        }
        await Task.Delay(back, world.Time, cancellationToken);
        return response;
    }

    public async Task SendAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Message message, CancellationToken cancellationToken)
    {
        world.Messages++;
        var target = world.Find(peer);
        if (target is null || !world.Network.TryGetDeliveryDelay(owner.Index, target.Index, out var there))
        {
            return;
        }
        await Task.Delay(there, world.Time, cancellationToken);
        if (target.Messenger.Handler is { } handler)
        {
            await handler(owner.Peer, owner.Addresses, message, CancellationToken.None);
        }
    }

    private Task NeverAsync(CancellationToken cancellationToken) => Task.Delay(Timeout.InfiniteTimeSpan, world.Time, cancellationToken);
}
