using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Protos;
using Parley.Dht.Wire;
using Parley.Net;

namespace Parley.Dht;

/// <summary>kad messages over libp2p streams: one stream per request, as go and js libp2p do; inbound streams may carry several.</summary>
public sealed class NetworkDhtMessenger : IDhtMessenger
{
    private const int MaxRequestsPerInboundStream = 64;

    private readonly IPeerNetwork _network;
    private readonly string _protocolId;
    private readonly int _maxMessageSize;
    private readonly ILogger _logger;
    private DhtRequestHandler? _handler;

    public NetworkDhtMessenger(IPeerNetwork network, string protocolId, int maxMessageSize = KadCodec.DefaultMaxMessageSize, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        _network = network;
        _protocolId = protocolId;
        _maxMessageSize = maxMessageSize;
        _logger = logger ?? NullLogger.Instance;
    }

    public PeerId LocalPeer => _network.LocalPeerId;

    public IReadOnlyList<Multiaddr> LocalAddresses => _network.ListenAddresses;

    public IReadOnlyList<Multiaddr> AddressesOf(PeerId peer) => _network.PeerStore.GetAddresses(peer);

    public void SetHandler(DhtRequestHandler? handler)
    {
        _handler = handler;
        if (handler is null)
        {
            _network.RemoveStreamHandler(_protocolId);
        }
        else
        {
            _network.SetStreamHandler(_protocolId, ServeAsync);
        }
    }

    public async Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Message request, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await OpenAsync(peer, addresses, cancellationToken);
            await KadCodec.WriteAsync(stream, request, cancellationToken);
            return await KadCodec.ReadAsync(stream, _maxMessageSize, cancellationToken)
                ?? throw new DhtRequestException($"{peer} closed the stream without answering");
        }
        catch (Exception e) when (e is IOException or InvalidDataException && e is not DhtRequestException)
        {
            throw new DhtRequestException($"{request.Type} to {peer} failed: {e.Message}", e);
        }
    }

    public async Task SendAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Message message, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await OpenAsync(peer, addresses, cancellationToken);
            await KadCodec.WriteAsync(stream, message, cancellationToken);
        }
        catch (IOException e) when (e is not DhtRequestException)
        {
            throw new DhtRequestException($"{message.Type} to {peer} failed: {e.Message}", e);
        }
    }

    private async Task<PeerStream> OpenAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        _network.PeerStore.AddAddresses(peer, addresses);
        return await _network.OpenStreamAsync(peer, [_protocolId], cancellationToken);
    }

    private async Task ServeAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        var handler = _handler;
        if (handler is null)
        {
            return;
        }
        // Where the peer listens (learned by identify), never the source address of its connection: for an inbound
        // connection that is an ephemeral port nobody can dial, and it would spread through closer-peer lists.
        var addresses = _network.PeerStore.GetAddresses(stream.RemotePeer);
        for (var i = 0; i < MaxRequestsPerInboundStream; i++)
        {
            Message? request;
            try
            {
                request = await KadCodec.ReadAsync(stream, _maxMessageSize, cancellationToken);
            }
            catch (InvalidDataException e)
            {
                _logger.LogDebug("malformed kad message from {Peer}: {Reason}", stream.RemotePeer, e.Message);
                stream.Reset();
                return;
            }
            if (request is null)
            {
                return;
            }
            var response = await handler(stream.RemotePeer, addresses, request, cancellationToken);
            if (response is not null)
            {
                await KadCodec.WriteAsync(stream, response, cancellationToken);
            }
        }
    }
}
