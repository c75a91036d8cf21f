using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Protos.Identify;

namespace Parley.Net.Protocols;

/// <summary>
/// <c>/ipfs/id/1.0.0</c> and <c>/ipfs/id/push/1.0.0</c>: tells peers who we are (key, listen addresses,
/// protocols, agent) and what address we see them at; learns the same from every peer that connects.
/// </summary>
public sealed class IdentifyService : IDisposable
{
    public const string ProtocolId = "/ipfs/id/1.0.0";
    public const string PushProtocolId = "/ipfs/id/push/1.0.0";
    public const string DefaultProtocolVersion = "ipfs/0.1.0";

    /// <summary>go and js libp2p cap identify messages at a few KiB; this leaves room and still bounds memory.</summary>
    public const int MaxMessageSize = 64 * 1024;
    public const int MaxListenAddresses = 64;

    private readonly IPeerNetwork _network;
    private readonly IdentityKey _identity;
    private readonly string _agentVersion;
    private readonly ILogger _logger;
    private readonly TimeSpan _timeout;
    private readonly ConcurrentDictionary<PeerId, Task<PeerInfo>> _inFlight = new();
    private readonly CancellationTokenSource _shutdown = new();

    public IdentifyService(IPeerNetwork network, IdentityKey identity, string agentVersion, TimeSpan timeout, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(identity);
        _network = network;
        _identity = identity;
        _agentVersion = agentVersion;
        _timeout = timeout;
        _logger = logger ?? NullLogger.Instance;
        network.SetStreamHandler(ProtocolId, HandleIdentifyAsync);
        network.SetStreamHandler(PushProtocolId, HandlePushAsync);
        network.PeerConnected += OnPeerConnected;
    }

    /// <summary>Raised after a peer's identify answer was read and stored.</summary>
    public event EventHandler<PeerInfo>? PeerIdentified;

    /// <summary>Raised when a peer tells us the address it sees us at.</summary>
    public event EventHandler<AddressObservedEventArgs>? AddressObserved;

    /// <summary>Asks <paramref name="peer"/> who it is; concurrent callers share one request.</summary>
    /// <exception cref="PeerConnectionException">The peer did not answer in time or sent an invalid message.</exception>
    public Task<PeerInfo> IdentifyAsync(PeerId peer, CancellationToken cancellationToken)
    {
        var task = _inFlight.GetOrAdd(peer, p => RequestAsync(p));
        return task.WaitAsync(cancellationToken);
    }

    /// <summary>Sends our current identify message to every connected peer (after our protocols or addresses changed).</summary>
    public async Task PushAsync(CancellationToken cancellationToken)
    {
        var pushes = _network.ConnectedPeers.Select(async peer =>
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_timeout);
                await using var stream = await _network.OpenStreamAsync(peer, [PushProtocolId], timeout.Token).ConfigureAwait(false);
                await LengthPrefixed.WriteMessageAsync(stream, BuildMessage(stream.RemoteAddress).ToByteArray(), timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
                _logger.LogDebug("identify push to {Peer} failed: {Reason}", peer, e.Message);
            }
        });
        await Task.WhenAll(pushes).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _network.PeerConnected -= OnPeerConnected;
        _shutdown.Cancel();
        _shutdown.Dispose();
    }

    private void OnPeerConnected(object? sender, PeerEventArgs e)
    {
        _ = IdentifyInBackgroundAsync(e.Peer);
    }

    private async Task IdentifyInBackgroundAsync(PeerId peer)
    {
        try
        {
            await IdentifyAsync(peer, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("identify of {Peer} failed: {Reason}", peer, e.Message);
        }
    }

    private async Task<PeerInfo> RequestAsync(PeerId peer)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_shutdown.Token);
            timeout.CancelAfter(_timeout);
            await using var stream = await _network.OpenStreamAsync(peer, [ProtocolId], timeout.Token).ConfigureAwait(false);
            var bytes = await LengthPrefixed.ReadMessageAsync(stream, MaxMessageSize, timeout.Token).ConfigureAwait(false)
                ?? throw new PeerConnectionException($"{peer} closed the identify stream without answering");
            return Apply(peer, stream.RemoteAddress, bytes, isPush: false);
        }
        catch (OperationCanceledException e) when (!_shutdown.IsCancellationRequested)
        {
            throw new PeerConnectionException($"identify of {peer} timed out", e);
        }
        catch (InvalidDataException e)
        {
            throw new PeerConnectionException($"identify of {peer}: {e.Message}", e);
        }
        finally
        {
            _inFlight.TryRemove(peer, out _);
        }
    }

    private async Task HandleIdentifyAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        await LengthPrefixed.WriteMessageAsync(stream, BuildMessage(stream.RemoteAddress).ToByteArray(), cancellationToken).ConfigureAwait(false);
    }

    private async Task HandlePushAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timeout);
        var bytes = await LengthPrefixed.ReadMessageAsync(stream, MaxMessageSize, timeout.Token).ConfigureAwait(false);
        if (bytes is not null)
        {
            Apply(stream.RemotePeer, stream.RemoteAddress, bytes, isPush: true);
        }
    }

    private Identify BuildMessage(Multiaddr? observed)
    {
        var message = new Identify
        {
            ProtocolVersion = DefaultProtocolVersion,
            AgentVersion = _agentVersion,
            PublicKey = ByteString.CopyFrom(_identity.PublicKey.ToProtobuf()),
        };
        message.ListenAddrs.AddRange(_network.ListenAddresses.Select(a => ByteString.CopyFrom(a.ToBytes())));
        message.Protocols.AddRange(_network.Protocols);
        if (observed is not null)
        {
            message.ObservedAddr = ByteString.CopyFrom(observed.WithoutPeerId().ToBytes());
        }
        return message;
    }

    private PeerInfo Apply(PeerId peer, Multiaddr? via, byte[] bytes, bool isPush)
    {
        Identify message;
        try
        {
            message = Identify.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PeerConnectionException($"malformed identify message from {peer}", e);
        }
        if (message.HasPublicKey)
        {
            PublicKey key;
            try
            {
                key = PublicKey.FromProtobuf(message.PublicKey.Span);
            }
            catch (FormatException e)
            {
                throw new PeerConnectionException($"identify from {peer} carries an unusable key: {e.Message}", e);
            }
            if (!peer.Matches(key))
            {
                throw new PeerConnectionException($"identify from {peer} carries someone else's public key");
            }
        }
        var listenAddresses = message.ListenAddrs.Take(MaxListenAddresses).Select(TryParseAddress).OfType<Multiaddr>().ToList();
        var observed = message.HasObservedAddr ? TryParseAddress(message.ObservedAddr) : null;
        var existing = _network.PeerStore.Get(peer);
        // A push may omit fields that did not change; keep what we knew.
        var protocols = isPush && message.Protocols.Count == 0 && existing is not null ? existing.Protocols : message.Protocols.ToList();
        _network.PeerStore.UpdateFromIdentify(
            peer,
            listenAddresses,
            protocols,
            message.HasAgentVersion ? message.AgentVersion : existing?.AgentVersion,
            message.HasProtocolVersion ? message.ProtocolVersion : existing?.ProtocolVersion,
            observed ?? existing?.ObservedAddress);
        var info = _network.PeerStore.Get(peer)!;
        _logger.LogDebug("identified {Peer}: {Agent}, {Protocols} protocols, {Addresses} addresses", peer, info.AgentVersion, info.Protocols.Count, info.Addresses.Count);
        PeerIdentified?.Invoke(this, info);
        if (observed is not null && via is not null)
        {
            AddressObserved?.Invoke(this, new AddressObservedEventArgs(peer, via, observed));
        }
        return info;
    }

    private Multiaddr? TryParseAddress(ByteString bytes)
    {
        try
        {
            return Multiaddr.FromBytes(bytes.Span);
        }
        catch (FormatException e)
        {
            _logger.LogDebug("ignoring an unreadable address in identify: {Reason}", e.Message);
            return null;
        }
    }
}

/// <summary><paramref name="Observer"/>, connected to us from <paramref name="ObserverAddress"/>, sees us at <paramref name="Observed"/>.</summary>
public sealed record AddressObservedEventArgs(PeerId Observer, Multiaddr ObserverAddress, Multiaddr Observed);
