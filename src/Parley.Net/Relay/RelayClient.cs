using Microsoft.Extensions.Logging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Host;
using Parley.Net.Protos.Circuit;
using Parley.Net.Transport;

namespace Parley.Net.Relay;

/// <summary>
/// The client half of circuit relay v2, part of every host: reserves slots on relays (hop RESERVE), dials peers through
/// a relay (hop CONNECT), and accepts connections a relay brings us (stop CONNECT), which the host then upgrades with
/// Noise and yamux like a TCP connection.
/// </summary>
public sealed class RelayClient
{
    private readonly Libp2pHost _host;
    private readonly ILogger _logger;

    internal RelayClient(Libp2pHost host, ILogger logger)
    {
        _host = host;
        _logger = logger;
    }

    /// <summary>Asks <paramref name="relay"/> (connected or in the peer store) for a slot, and checks its signed voucher.</summary>
    /// <exception cref="PeerConnectionException">Unreachable, no relay service, refused, or an invalid answer.</exception>
    public async Task<RelayReservation> ReserveAsync(PeerId relay, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(CircuitRelay.MessageTimeout);
        try
        {
            // A reservation over a relayed connection would be worthless: the relay must be able to reach us itself.
            await using var stream = await _host.OpenStreamAsync(relay, [CircuitRelay.HopProtocolId], allowRelayed: false, timeout.Token).ConfigureAwait(false);
            await CircuitRelay.WriteAsync(stream, new HopMessage { Type = HopMessage.Types.Type.Reserve }, timeout.Token).ConfigureAwait(false);
            var answer = await CircuitRelay.ReadAsync(stream, HopMessage.Parser, timeout.Token).ConfigureAwait(false);
            return ReadReservation(relay, answer, stream.RemoteAddress);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PeerConnectionException($"reservation on {relay} timed out", e);
        }
        catch (InvalidDataException e)
        {
            throw new PeerConnectionException($"reservation on {relay}: {e.Message}", e);
        }
    }

    /// <summary>Opens a circuit to <paramref name="target"/> through the relay at <paramref name="relayAddress"/> (which names the relay's /p2p id).</summary>
    /// <returns>The hop stream, which now carries the relayed connection, and the limits the relay applies to it.</returns>
    internal async Task<(PeerStream Stream, RelayLimit? Limit)> ConnectAsync(Multiaddr relayAddress, PeerId target, CancellationToken cancellationToken)
    {
        var relay = relayAddress.PeerId!;
        if (relay == _host.LocalPeerId || relay == target)
        {
            throw new PeerConnectionException($"{relayAddress} cannot relay to {target}");
        }
        await _host.ConnectAsync(relayAddress, cancellationToken).ConfigureAwait(false);
        var stream = await _host.OpenStreamAsync(relay, [CircuitRelay.HopProtocolId], allowRelayed: false, cancellationToken).ConfigureAwait(false);
        try
        {
            await CircuitRelay.WriteAsync(stream, new HopMessage { Type = HopMessage.Types.Type.Connect, Peer = CircuitRelay.ToPeer(target) }, cancellationToken).ConfigureAwait(false);
            var answer = await CircuitRelay.ReadAsync(stream, HopMessage.Parser, cancellationToken).ConfigureAwait(false);
            if (answer.Type != HopMessage.Types.Type.Status || answer.Status != Status.Ok)
            {
                throw new RelayRefusedException($"{relay} did not connect us to {target}: {(answer.Type == HopMessage.Types.Type.Status ? answer.Status : answer.Type)}", answer.Status);
            }
            return (stream, CircuitRelay.FromProto(answer.Limit));
        }
        catch (Exception e)
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            if (e is InvalidDataException)
            {
                throw new PeerConnectionException($"circuit through {relay}: {e.Message}", e);
            }
            throw;
        }
    }

    /// <summary>A relay brings us a connection: accept it and serve it until it closes (the stream is the connection).</summary>
    internal async Task HandleStopAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        StopMessage request;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(CircuitRelay.MessageTimeout);
            request = await CircuitRelay.ReadAsync(stream, StopMessage.Parser, timeout.Token).ConfigureAwait(false);
            var source = CircuitRelay.TryPeerId(request.Peer);
            if (request.Type != StopMessage.Types.Type.Connect || source is null || stream.RemoteAddress is null || stream.RemoteAddress.IsCircuit)
            {
                await CircuitRelay.WriteAsync(stream, new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.MalformedMessage }, timeout.Token).ConfigureAwait(false);
                return;
            }
            // Admitted by our limits before we say yes, so that a relay hears a refusal as one (RESOURCE_LIMIT_EXCEEDED).
            var pending = _host.TryBeginRelayedInbound(stream.RemotePeer, source);
            if (pending is null)
            {
                _logger.LogDebug("refused a connection from {Source} through {Relay}: a limit on inbound connections or pending handshakes is reached", source, stream.RemotePeer);
                await CircuitRelay.WriteAsync(stream, new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.ResourceLimitExceeded }, timeout.Token).ConfigureAwait(false);
                return;
            }
            try
            {
                await CircuitRelay.WriteAsync(stream, new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.Ok }, timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                pending.Dispose();
                throw;
            }
            var remote = stream.RemoteAddress.WithPeerId(stream.RemotePeer).Encapsulate(Multiaddr.Parse("/p2p-circuit")).WithPeerId(source);
            _logger.LogDebug("relay {Relay} brings a connection from {Source}", stream.RemotePeer, source);
            await _host.AcceptRelayedAsync(stream, pending, source, remote, CircuitRelay.FromProto(request.Limit), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The reservation a relay's answer grants, its voucher checked; <paramref name="reachedAt"/> is where we reached the relay.</summary>
    /// <exception cref="PeerConnectionException">A refusal (<see cref="RelayRefusedException"/>), or an answer that is not a valid reservation.</exception>
    internal static RelayReservation ReadReservation(PeerId relay, HopMessage answer, Multiaddr? reachedAt)
    {
        if (answer.Type != HopMessage.Types.Type.Status)
        {
            throw new PeerConnectionException($"{relay} answered a reservation with {answer.Type}");
        }
        if (answer.Status != Status.Ok)
        {
            throw new RelayRefusedException($"{relay} refused a reservation: {answer.Status}", answer.Status);
        }
        if (answer.Reservation is not { HasExpire: true } reservation)
        {
            throw new PeerConnectionException($"{relay} accepted a reservation without saying until when");
        }
        var expires = DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(reservation.Expire, (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()));
        if (reservation.HasVoucher)
        {
            CheckVoucher(relay, reservation.Voucher.Span, expires);
        }
        return new RelayReservation(relay, expires, CircuitAddresses(relay, reservation, reachedAt), CircuitRelay.FromProto(answer.Limit));
    }

    private static void CheckVoucher(PeerId relay, ReadOnlySpan<byte> voucherBytes, DateTimeOffset expires)
    {
        try
        {
            var envelope = SignedEnvelope.Open(voucherBytes, CircuitRelay.VoucherDomain);
            var voucher = Voucher.Parser.ParseFrom(envelope.Payload);
            if (envelope.SignerId != relay || !envelope.PayloadType.AsSpan().SequenceEqual(CircuitRelay.VoucherPayloadType)
                || !voucher.Relay.Span.SequenceEqual(relay.Bytes) || voucher.Expiration != (ulong)expires.ToUnixTimeSeconds())
            {
                throw new FormatException("the voucher does not match the reservation");
            }
        }
        catch (Exception e) when (e is FormatException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new PeerConnectionException($"{relay} sent an invalid reservation voucher: {e.Message}", e);
        }
    }

    /// <summary>The relay's addresses (or, when it sends none, the one we reached it at) with /p2p-circuit appended.</summary>
    private static List<Multiaddr> CircuitAddresses(PeerId relay, Reservation reservation, Multiaddr? reachedAt)
    {
        var reachedScope = reachedAt is null ? null : AddressScopes.Of(reachedAt);
        var relayAddresses = reservation.Addrs.Select(CircuitRelay.TryAddress).OfType<Multiaddr>()
            .Where(a => !a.IsCircuit && (a.PeerId is null || a.PeerId == relay))
            .Where(a => AddressScopes.Of(a) is not AddressScope.Loopback || reachedScope is AddressScope.Loopback)
            .Select(a => a.WithPeerId(relay))
            .Take(8)
            .ToList();
        if (relayAddresses.Count == 0 && reachedAt is not null)
        {
            relayAddresses.Add(reachedAt.WithPeerId(relay));
        }
        var circuit = Multiaddr.Parse("/p2p-circuit");
        return relayAddresses.Distinct().Select(a => a.Encapsulate(circuit)).ToList();
    }
}
