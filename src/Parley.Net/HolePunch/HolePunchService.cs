using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Host;
using Parley.Net.Protos.HolePunch;
using Parley.Net.Transport;
using HolePunchMessage = Parley.Net.Protos.HolePunch.HolePunch;

namespace Parley.Net.HolePunch;

public sealed class HolePunchOptions
{
    /// <summary>The spec's three attempts (the first and two retries) by the inbound peer.</summary>
    public int Attempts { get; init; } = 3;

    /// <summary>One attempt, exchange and dial together (go-libp2p and js-libp2p: 5 s).</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>After the direct connection opens, the relayed one is closed once it has carried nothing for this long.</summary>
    public TimeSpan RelayQuietPeriod { get; init; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>The outcome of one upgrade of a relayed connection.</summary>
public sealed record HolePunchResult(PeerId Peer, bool Direct, int Attempts, TimeSpan Elapsed, string How);

/// <summary>
/// DCUtR (<c>/libp2p/dcutr</c>): turns a relayed connection into a direct one. The peer that received the relayed
/// connection (B) first dials the other's public addresses if it has any; otherwise it sends CONNECT with its observed
/// addresses, measures the round trip to the answer, sends SYNC and after half the round trip dials the other's
/// addresses while the other (A) dials at once on SYNC, both from their listen ports: a TCP simultaneous open through
/// both NATs, in which A runs the handshakes as the dialer. Up to three attempts; when all fail the peers stay on the relay.
/// </summary>
public sealed class HolePunchService : IDisposable
{
    public const string ProtocolId = "/libp2p/dcutr";
    private const int MaxMessageSize = 4096;

    private readonly Libp2pHost _host;
    private readonly HolePunchOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();

    public HolePunchService(Libp2pHost host, HolePunchOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new HolePunchOptions();
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    /// <summary>Raised when this node (as the inbound peer) finished upgrading a relayed connection, either way.</summary>
    public event EventHandler<HolePunchResult>? Completed;

    public void Start()
    {
        _host.SetStreamHandler(ProtocolId, HandleAsync);
        _host.ConnectionOpened += OnConnectionOpened;
    }

    public void Dispose()
    {
        _host.ConnectionOpened -= OnConnectionOpened;
        _host.RemoveStreamHandler(ProtocolId);
        _shutdown.Cancel();
        _shutdown.Dispose();
    }

    /// <summary>B's side: upgrades the relayed connection from <paramref name="peer"/>.</summary>
    public async Task<HolePunchResult> UpgradeAsync(PeerId peer, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await _host.Identify.IdentifyAsync(peer, cancellationToken).ConfigureAwait(false);
        }
        catch (PeerConnectionException e)
        {
            _logger.LogDebug("identify of {Peer} over the relay failed: {Reason}", peer, e.Message);
        }
        var theirPublic = (_host.PeerStore.Get(peer)?.Addresses ?? []).Where(AddressScopes.IsPublic).ToList();
        if (theirPublic.Count > 0)
        {
            try
            {
                await _host.DialDirectAsync(peer, theirPublic, asInitiator: true, _options.AttemptTimeout, cancellationToken).ConfigureAwait(false);
                return Finish(peer, 0, started, "dialled its public address");
            }
            catch (PeerConnectionException e)
            {
                _logger.LogDebug("direct dial of {Peer} failed: {Reason}; hole punching", peer, e.Message);
            }
        }
        var ours = OwnAddresses();
        if (ours.Count == 0)
        {
            // Nobody has confirmed a public address of ours (a symmetric NAT shows each peer another port): nothing to punch towards.
            return Finish(peer, 0, started, "no public address of ours is known", direct: false);
        }
        for (var attempt = 1; attempt <= _options.Attempts; attempt++)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
            timeout.CancelAfter(_options.AttemptTimeout);
            try
            {
                await using var stream = await _host.OpenStreamAsync(peer, [ProtocolId], timeout.Token).ConfigureAwait(false);
                var sent = Stopwatch.GetTimestamp();
                await WriteAsync(stream, HolePunchMessage.Types.Type.Connect, ours, timeout.Token).ConfigureAwait(false);
                var connect = await ReadAsync(stream, timeout.Token).ConfigureAwait(false);
                var rtt = Stopwatch.GetElapsedTime(sent);
                if (connect.Type != HolePunchMessage.Types.Type.Connect)
                {
                    throw new InvalidDataException($"expected CONNECT, got {connect.Type}");
                }
                var theirs = Dialable(connect);
                if (theirs.Count == 0)
                {
                    return Finish(peer, attempt, started, "the peer has no public address to punch towards", direct: false);
                }
                await WriteAsync(stream, HolePunchMessage.Types.Type.Sync, [], timeout.Token).ConfigureAwait(false);
                await Task.Delay(rtt / 2, timeout.Token).ConfigureAwait(false);
                var connection = await _host.DialDirectAsync(peer, theirs, asInitiator: false, _options.AttemptTimeout, timeout.Token).ConfigureAwait(false);
                return Finish(peer, attempt, started, $"hole punched to {connection.RemoteAddress} (rtt {rtt.TotalMilliseconds:F0} ms)");
            }
            catch (Exception e) when (e is IOException or InvalidDataException or InvalidProtocolBufferException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                _logger.LogDebug("hole punch to {Peer}, attempt {Attempt}: {Reason}", peer, attempt, e.Message);
                if (HasDirectConnection(peer))
                {
                    // The other side's dial got through while ours was failing.
                    return Finish(peer, attempt, started, "the peer's dial got through");
                }
            }
        }
        return Finish(peer, _options.Attempts, started, "every attempt failed; staying on the relay", direct: false);
    }

    private void OnConnectionOpened(object? sender, ConnectionInfo connection)
    {
        if (connection.IsRelayed && connection.IsInbound && !HasDirectConnection(connection.Peer))
        {
            _ = UpgradeInBackgroundAsync(connection.Peer);
        }
    }

    private async Task UpgradeInBackgroundAsync(PeerId peer)
    {
        try
        {
            await UpgradeAsync(peer, _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
        {
            _logger.LogDebug("hole punch to {Peer} stopped: {Reason}", peer, e.Message);
        }
    }

    /// <summary>A's side: answers CONNECT with our addresses and dials at once on SYNC.</summary>
    private async Task HandleAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.AttemptTimeout);
        var connect = await ReadAsync(stream, timeout.Token).ConfigureAwait(false);
        if (connect.Type != HolePunchMessage.Types.Type.Connect)
        {
            stream.Reset();
            return;
        }
        var theirs = Dialable(connect);
        await WriteAsync(stream, HolePunchMessage.Types.Type.Connect, OwnAddresses(), timeout.Token).ConfigureAwait(false);
        var sync = await ReadAsync(stream, timeout.Token).ConfigureAwait(false);
        if (sync.Type != HolePunchMessage.Types.Type.Sync || theirs.Count == 0)
        {
            return;
        }
        try
        {
            await _host.DialDirectAsync(stream.RemotePeer, theirs, asInitiator: true, _options.AttemptTimeout, timeout.Token).ConfigureAwait(false);
            _ = CloseRelayedAsync(stream.RemotePeer);
        }
        catch (PeerConnectionException e)
        {
            _logger.LogDebug("hole punch from {Peer} failed on our side: {Reason}", stream.RemotePeer, e.Message);
        }
    }

    /// <summary>What we tell the other side to dial: public addresses peers confirmed seeing us at, and our public interface addresses.</summary>
    private List<Multiaddr> OwnAddresses() =>
        _host.Observed.Confirmed.Concat(_host.InterfaceAddresses.Where(AddressScopes.IsPublic)).Distinct().Take(16).ToList();

    /// <summary>The public addresses in a CONNECT, at most 8 of the first 32; what cannot be read is skipped.</summary>
    internal static List<Multiaddr> Dialable(HolePunchMessage message)
    {
        var addresses = new List<Multiaddr>();
        foreach (var bytes in message.ObsAddrs.Take(32))
        {
            try
            {
                var address = Multiaddr.FromBytes(bytes.Span);
                if (AddressScopes.IsPublic(address))
                {
                    addresses.Add(address.WithoutPeerId());
                }
            }
            catch (FormatException)
            {
                // Skip what we cannot read.
            }
        }
        return addresses.Distinct().Take(8).ToList();
    }

    private bool HasDirectConnection(PeerId peer) => _host.Connections.Any(c => c.Peer == peer && !c.IsRelayed);

    private async Task CloseRelayedAsync(PeerId peer)
    {
        try
        {
            await _host.CloseRelayedConnectionsAsync(peer, _options.RelayQuietPeriod, TimeSpan.FromSeconds(30), _shutdown.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            // Shutting down.
        }
    }

    private HolePunchResult Finish(PeerId peer, int attempts, long started, string how, bool direct = true)
    {
        var result = new HolePunchResult(peer, direct, attempts, Stopwatch.GetElapsedTime(started), how);
        _logger.LogInformation("connection to {Peer}: {Outcome} ({How}, {Attempts} attempt(s), {Elapsed} ms)", peer, direct ? "direct" : "relayed", how, attempts, (int)result.Elapsed.TotalMilliseconds);
        if (direct)
        {
            _ = CloseRelayedAsync(peer);
        }
        Completed?.Invoke(this, result);
        return result;
    }

    private static Task WriteAsync(PeerStream stream, HolePunchMessage.Types.Type type, IEnumerable<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        var message = new HolePunchMessage { Type = type };
        message.ObsAddrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.ToBytes())));
        return LengthPrefixed.WriteMessageAsync(stream, message.ToByteArray(), cancellationToken);
    }

    /// <exception cref="PeerConnectionException">The stream ended first.</exception>
    /// <exception cref="InvalidDataException">The message is longer than 4 KiB.</exception>
    /// <exception cref="InvalidProtocolBufferException">The message is not a HolePunch message.</exception>
    internal static async Task<HolePunchMessage> ReadAsync(Stream stream, CancellationToken cancellationToken)
    {
        var bytes = await LengthPrefixed.ReadMessageAsync(stream, MaxMessageSize, cancellationToken).ConfigureAwait(false)
            ?? throw new PeerConnectionException("the dcutr stream ended early");
        return HolePunchMessage.Parser.ParseFrom(bytes);
    }
}
