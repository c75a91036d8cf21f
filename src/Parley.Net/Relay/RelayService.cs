using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Parley.Core.Identity;
using Parley.Net.Host;
using Parley.Net.Protos.Circuit;

namespace Parley.Net.Relay;

/// <summary>What a relay has done since it started, for status and benchmarks.</summary>
public sealed record RelayStatistics(int Reservations, int Circuits, long CircuitsOpened, long ReservationsRefused, long CircuitsRefused, long BytesRelayed, long CircuitsCutByLimit);

/// <summary>
/// The hop side of circuit relay v2: keeps reservations (with signed vouchers) for peers that cannot be dialled, and
/// splices a peer's CONNECT onto a stop stream to the reserved peer, within <see cref="RelayOptions"/>'s limits on
/// reservations, circuits, bytes, duration and request rate. Public nodes run it; it never relays over a relayed connection.
/// </summary>
public sealed class RelayService : IDisposable
{
    private const string HolderTag = "relay reservation holder";

    /// <summary>go-libp2p's weight for a peer the relay keeps a reservation for: its connection is trimmed after those
    /// of peers without one, but it is not protected, so holders cannot pin the relay's connections.</summary>
    private const int HolderTagValue = 10;

    private readonly Libp2pHost _host;
    private readonly RelayOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<PeerId, (DateTimeOffset Expires, IPAddress Ip)> _reservations = new();
    private readonly ConcurrentDictionary<PeerId, int> _circuitsByPeer = new();
    private readonly ConcurrentDictionary<PeerId, (long Minute, int Count)> _requests = new();
    private readonly CancellationTokenSource _shutdown = new();
    private int _circuits;
    private long _circuitsOpened;
    private long _reservationsRefused;
    private long _circuitsRefused;
    private long _bytesRelayed;
    private long _cutByLimit;
    private int _running;

    public RelayService(Libp2pHost host, RelayOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        _host = host;
        _options = options ?? new RelayOptions();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _host.PeerDisconnected += OnPeerDisconnected;
    }

    public bool IsRunning => Volatile.Read(ref _running) == 1;

    public RelayStatistics Statistics => new(
        _reservations.Count, Volatile.Read(ref _circuits), Interlocked.Read(ref _circuitsOpened), Interlocked.Read(ref _reservationsRefused),
        Interlocked.Read(ref _circuitsRefused), Interlocked.Read(ref _bytesRelayed), Interlocked.Read(ref _cutByLimit));

    /// <summary>Starts serving hop requests (advertised through identify).</summary>
    public void Start()
    {
        if (Interlocked.Exchange(ref _running, 1) == 0)
        {
            _host.SetStreamHandler(CircuitRelay.HopProtocolId, HandleHopAsync);
            _logger.LogInformation("relay service on");
        }
    }

    /// <summary>Stops taking requests and forgets reservations; circuits already open run to their limits.</summary>
    public void Stop()
    {
        if (Interlocked.Exchange(ref _running, 0) == 1)
        {
            _host.RemoveStreamHandler(CircuitRelay.HopProtocolId);
            foreach (var peer in _reservations.Keys)
            {
                Forget(peer);
            }
            _logger.LogInformation("relay service off");
        }
    }

    public void Dispose()
    {
        Stop();
        _host.PeerDisconnected -= OnPeerDisconnected;
        _shutdown.Cancel();
        _shutdown.Dispose();
    }

    private void OnPeerDisconnected(object? sender, PeerEventArgs e) => Forget(e.Peer);

    /// <summary>A reservation lives as long as the holder's connection, so that connection stays open while idle.</summary>
    private void Keep(PeerId peer, DateTimeOffset expires, IPAddress ip)
    {
        _reservations[peer] = (expires, ip);
        _host.IdleProtection.Protect(peer, HolderTag);
        _host.Protection.TagPeer(peer, HolderTag, HolderTagValue);
    }

    private void Forget(PeerId peer)
    {
        if (_reservations.TryRemove(peer, out _))
        {
            _host.IdleProtection.Unprotect(peer, HolderTag);
            _host.Protection.UntagPeer(peer, HolderTag);
        }
    }

    internal async Task HandleHopAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        HopMessage request;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(CircuitRelay.MessageTimeout);
            try
            {
                request = await CircuitRelay.ReadAsync(stream, HopMessage.Parser, timeout.Token).ConfigureAwait(false);
            }
            catch (InvalidDataException)
            {
                await ReplyAsync(stream, Status.MalformedMessage, timeout.Token).ConfigureAwait(false);
                return;
            }
            if (stream.RemoteAddress is null || stream.RemoteAddress.IsCircuit || !stream.RemoteAddress.TryGetTcpEndPoint(out var remote))
            {
                await ReplyAsync(stream, Status.PermissionDenied, timeout.Token).ConfigureAwait(false);
                return;
            }
            if (!WithinRequestRate(stream.RemotePeer))
            {
                Interlocked.Increment(ref request.Type == HopMessage.Types.Type.Reserve ? ref _reservationsRefused : ref _circuitsRefused);
                await ReplyAsync(stream, Status.ResourceLimitExceeded, timeout.Token).ConfigureAwait(false);
                return;
            }
            switch (request.Type)
            {
                case HopMessage.Types.Type.Reserve:
                    await ReserveAsync(stream, remote.Address, timeout.Token).ConfigureAwait(false);
                    return;
                case HopMessage.Types.Type.Connect:
                    break;
                default:
                    await ReplyAsync(stream, Status.UnexpectedMessage, timeout.Token).ConfigureAwait(false);
                    return;
            }
        }
        await ConnectAsync(stream, request, cancellationToken).ConfigureAwait(false);
    }

    private async Task ReserveAsync(PeerStream stream, IPAddress ip, CancellationToken cancellationToken)
    {
        var peer = stream.RemotePeer;
        var now = _time.GetUtcNow();
        foreach (var expired in _reservations.Where(r => r.Value.Expires <= now).Select(r => r.Key).ToList())
        {
            Forget(expired);
        }
        var renewal = _reservations.ContainsKey(peer);
        if (!renewal && (_reservations.Count >= _options.MaxReservations || _reservations.Count(r => r.Value.Ip.Equals(ip)) >= _options.MaxReservationsPerIp))
        {
            Interlocked.Increment(ref _reservationsRefused);
            _logger.LogDebug("refused a reservation for {Peer}: limit reached", peer);
            await ReplyAsync(stream, Status.ReservationRefused, cancellationToken).ConfigureAwait(false);
            return;
        }
        // Whole seconds, because the voucher and the answer carry Unix seconds.
        var expires = DateTimeOffset.FromUnixTimeSeconds((now + _options.ReservationTtl).ToUnixTimeSeconds());
        Keep(peer, expires, ip);
        var voucher = new Voucher { Relay = ByteString.CopyFrom(_host.LocalPeerId.Bytes), Peer = ByteString.CopyFrom(peer.Bytes), Expiration = (ulong)expires.ToUnixTimeSeconds() };
        var reservation = new Reservation
        {
            Expire = (ulong)expires.ToUnixTimeSeconds(),
            Voucher = ByteString.CopyFrom(SignedEnvelope.Seal(_host.Identity, CircuitRelay.VoucherDomain, CircuitRelay.VoucherPayloadType, voucher.ToByteArray())),
        };
        reservation.Addrs.AddRange(_host.ListenAddresses.Where(a => !a.IsCircuit).Select(a => ByteString.CopyFrom(a.WithPeerId(_host.LocalPeerId).ToBytes())));
        await CircuitRelay.WriteAsync(stream, new HopMessage
        {
            Type = HopMessage.Types.Type.Status,
            Status = Status.Ok,
            Reservation = reservation,
            Limit = CircuitRelay.ToProto(_options.Limit),
        }, cancellationToken).ConfigureAwait(false);
        _logger.LogDebug("{Action} a reservation for {Peer} until {Expires}", renewal ? "renewed" : "granted", peer, expires);
    }

    private async Task ConnectAsync(PeerStream source, HopMessage request, CancellationToken cancellationToken)
    {
        var target = CircuitRelay.TryPeerId(request.Peer);
        using var setup = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        setup.CancelAfter(CircuitRelay.MessageTimeout);
        if (target is null)
        {
            await ReplyAsync(source, Status.MalformedMessage, setup.Token).ConfigureAwait(false);
            return;
        }
        if (!_reservations.TryGetValue(target, out var reservation) || reservation.Expires <= _time.GetUtcNow())
        {
            Forget(target);
            Interlocked.Increment(ref _circuitsRefused);
            await ReplyAsync(source, Status.NoReservation, setup.Token).ConfigureAwait(false);
            return;
        }
        if (!TryTakeCircuit(source.RemotePeer, target))
        {
            Interlocked.Increment(ref _circuitsRefused);
            await ReplyAsync(source, Status.ResourceLimitExceeded, setup.Token).ConfigureAwait(false);
            return;
        }
        try
        {
            PeerStream destination;
            try
            {
                destination = await _host.OpenStreamAsync(target, [CircuitRelay.StopProtocolId], allowRelayed: false, setup.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                _logger.LogDebug("cannot reach {Target} to relay to it: {Reason}", target, e.Message);
                await ReplyAsync(source, Status.ConnectionFailed, cancellationToken).ConfigureAwait(false);
                return;
            }
            await using (destination)
            {
                try
                {
                    await CircuitRelay.WriteAsync(destination, new StopMessage
                    {
                        Type = StopMessage.Types.Type.Connect,
                        Peer = CircuitRelay.ToPeer(source.RemotePeer),
                        Limit = CircuitRelay.ToProto(_options.Limit),
                    }, setup.Token).ConfigureAwait(false);
                    var answer = await CircuitRelay.ReadAsync(destination, StopMessage.Parser, setup.Token).ConfigureAwait(false);
                    if (answer.Type != StopMessage.Types.Type.Status || answer.Status != Status.Ok)
                    {
                        throw new PeerConnectionException($"{target} declined: {answer.Status}");
                    }
                }
                catch (Exception e) when (e is IOException or InvalidDataException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    _logger.LogDebug("{Target} did not take a relayed connection: {Reason}", target, e.Message);
                    destination.Reset();
                    await ReplyAsync(source, Status.ConnectionFailed, cancellationToken).ConfigureAwait(false);
                    return;
                }
                await CircuitRelay.WriteAsync(source, new HopMessage
                {
                    Type = HopMessage.Types.Type.Status,
                    Status = Status.Ok,
                    Limit = CircuitRelay.ToProto(_options.Limit),
                }, setup.Token).ConfigureAwait(false);
                Interlocked.Increment(ref _circuitsOpened);
                _logger.LogDebug("relaying {Source} to {Target}", source.RemotePeer, target);
                await SpliceAsync(source, destination, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ReleaseCircuit(source.RemotePeer, target);
        }
    }

    /// <summary>Copies both ways until either side ends or the limit is reached; then both streams are reset.</summary>
    private async Task SpliceAsync(PeerStream source, PeerStream destination, CancellationToken cancellationToken)
    {
        using var circuit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _shutdown.Token);
        if (_options.Limit.Duration > TimeSpan.Zero)
        {
            circuit.CancelAfter(_options.Limit.Duration);
        }
        var forward = CopyAsync(source, destination, circuit);
        var backward = CopyAsync(destination, source, circuit);
        var first = await Task.WhenAny(forward, backward).ConfigureAwait(false);
        var cut = await first.ConfigureAwait(false) || circuit.IsCancellationRequested;
        if (cut)
        {
            Interlocked.Increment(ref _cutByLimit);
            source.Reset();
            destination.Reset();
        }
        else
        {
            // One side finished writing; let the other finish too, within the circuit's limits.
            cut = await (first == forward ? backward : forward).ConfigureAwait(false);
            if (cut)
            {
                Interlocked.Increment(ref _cutByLimit);
                source.Reset();
                destination.Reset();
            }
        }
        await circuit.CancelAsync().ConfigureAwait(false);
    }

    /// <summary>True when the copy stopped at the byte or time limit (the circuit must be cut), false at the end of the stream.</summary>
    private async Task<bool> CopyAsync(PeerStream from, PeerStream to, CancellationTokenSource circuit)
    {
        var buffer = new byte[_options.BufferSize];
        var limit = _options.Limit.DataBytes;
        ulong copied = 0;
        try
        {
            while (true)
            {
                var allowed = limit == 0 ? buffer.Length : (int)Math.Min((ulong)buffer.Length, limit - copied);
                if (allowed == 0)
                {
                    return true;
                }
                var read = await from.ReadAsync(buffer.AsMemory(0, allowed), circuit.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    await to.CloseWriteAsync(circuit.Token).ConfigureAwait(false);
                    return false;
                }
                await to.WriteAsync(buffer.AsMemory(0, read), circuit.Token).ConfigureAwait(false);
                await to.FlushAsync(circuit.Token).ConfigureAwait(false);
                copied += (ulong)read;
                Interlocked.Add(ref _bytesRelayed, read);
            }
        }
        catch (OperationCanceledException)
        {
            return true;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // One side broke: the other must not wait for it.
            await circuit.CancelAsync().ConfigureAwait(false);
            return true;
        }
    }

    private bool TryTakeCircuit(PeerId source, PeerId target)
    {
        if (Interlocked.Increment(ref _circuits) > _options.MaxCircuits)
        {
            Interlocked.Decrement(ref _circuits);
            return false;
        }
        var ok = true;
        foreach (var peer in new[] { source, target })
        {
            if (_circuitsByPeer.AddOrUpdate(peer, 1, (_, n) => n + 1) > _options.MaxCircuitsPerPeer)
            {
                ok = false;
            }
        }
        if (!ok)
        {
            ReleaseCircuit(source, target);
        }
        return ok;
    }

    private void ReleaseCircuit(PeerId source, PeerId target)
    {
        Interlocked.Decrement(ref _circuits);
        foreach (var peer in new[] { source, target })
        {
            if (_circuitsByPeer.AddOrUpdate(peer, 0, (_, n) => n - 1) <= 0)
            {
                _circuitsByPeer.TryRemove(KeyValuePair.Create(peer, 0));
            }
        }
    }

    private bool WithinRequestRate(PeerId peer)
    {
        var minute = _time.GetUtcNow().ToUnixTimeSeconds() / 60;
        if (_requests.Count > 10_000)
        {
            // Peers seen once in an old minute would otherwise pile up.
            foreach (var old in _requests.Where(r => r.Value.Minute != minute).Select(r => r.Key).ToList())
            {
                _requests.TryRemove(old, out _);
            }
        }
        var entry = _requests.AddOrUpdate(peer, (minute, 1), (_, e) => e.Minute == minute ? (minute, e.Count + 1) : (minute, 1));
        return entry.Count <= _options.MaxRequestsPerPeerPerMinute;
    }

    private static async Task ReplyAsync(PeerStream stream, Status status, CancellationToken cancellationToken)
    {
        try
        {
            await CircuitRelay.WriteAsync(stream, new HopMessage { Type = HopMessage.Types.Type.Status, Status = status }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            // The requester is gone; nothing to tell.
        }
    }
}
