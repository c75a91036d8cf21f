using Parley.Core.Multiformats;
using Parley.Net.Host;
using Parley.Net.Protocols;
using Parley.Net.Relay;
using Parley.Net.Tests.Host;
using Parley.Testing;

namespace Parley.Net.Tests.Nat;

/// <summary>Circuit relay v2 on loopback: reservations with vouchers, circuits, and the relay's limits.</summary>
public sealed class RelayTests : IAsyncLifetime
{
    private readonly HostFixture _fixture = new();
    private readonly List<RelayService> _services = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var service in _services)
        {
            service.Dispose();
        }
        await _fixture.DisposeAsync();
    }

    [Fact]
    public async Task A_peer_reaches_another_through_its_reserved_relay()
    {
        var (relay, _) = await StartRelayAsync();
        var alice = await _fixture.StartAsync();
        var bob = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);

        var reservation = await alice.Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
        alice.SetRelayAddresses(reservation.CircuitAddresses);

        Assert.True(reservation.Expires > DateTimeOffset.UtcNow.AddMinutes(59));
        Assert.Equal(new RelayLimit(TimeSpan.FromMinutes(2), 1 << 17), reservation.Limit);
        var circuit = Assert.Single(alice.ListenAddresses, a => a.IsCircuit);
        Assert.Equal(HostFixture.AddressOf(relay).Encapsulate(Multiaddr.Parse("/p2p-circuit")), circuit);

        var peer = await bob.ConnectAsync(circuit.WithPeerId(alice.LocalPeerId), cts.Token);
        Assert.Equal(alice.LocalPeerId, peer);
        await PingProtocol.PingAsync(bob, alice.LocalPeerId, cts.Token);
        var connection = Assert.Single(bob.Connections, c => c.Peer == alice.LocalPeerId);
        Assert.True(connection.IsRelayed);
        Assert.False(connection.IsInbound);
        Assert.Contains(alice.Connections, c => c.Peer == bob.LocalPeerId && c.IsRelayed && c.IsInbound);
    }

    [Fact]
    public async Task Dialling_through_a_relay_without_a_reservation_fails_with_the_reason()
    {
        var (relay, _) = await StartRelayAsync();
        var alice = await _fixture.StartAsync();
        var bob = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
        var circuit = HostFixture.AddressOf(relay).Encapsulate(Multiaddr.Parse("/p2p-circuit")).WithPeerId(alice.LocalPeerId);

        var error = await Assert.ThrowsAsync<RelayRefusedException>(() => bob.ConnectAsync(circuit, cts.Token));

        Assert.Contains("NoReservation", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_without_the_relay_service_refuses_reservations()
    {
        var plain = await _fixture.StartAsync();
        var alice = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await alice.ConnectAsync(HostFixture.AddressOf(plain), cts.Token);

        await Assert.ThrowsAsync<PeerConnectionException>(() => alice.Relay.ReserveAsync(plain.LocalPeerId, cts.Token));
    }

    [Fact]
    public async Task A_circuit_that_exceeds_the_data_limit_is_cut_and_the_relay_counts_it()
    {
        var (relay, service) = await StartRelayAsync(new RelayOptions { Limit = new RelayLimit(TimeSpan.FromMinutes(1), 64 * 1024) });
        var (alice, bob, _) = await ConnectThroughAsync(relay);
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var stream = await bob.OpenStreamAsync(alice.LocalPeerId, [EchoProtocol.Id], cts.Token);

        await Assert.ThrowsAnyAsync<IOException>(() => EchoProtocol.RoundTripAsync(stream, new byte[256 * 1024], cts.Token));

        Assert.Equal(1, service.Statistics.CircuitsCutByLimit);
        Assert.True(service.Statistics.BytesRelayed <= 2 * 64 * 1024);
    }

    [Fact]
    public async Task A_circuit_within_the_limits_carries_messages_both_ways()
    {
        var (relay, service) = await StartRelayAsync();
        var (alice, bob, _) = await ConnectThroughAsync(relay);
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var payload = new byte[16 * 1024];
        Random.Shared.NextBytes(payload);

        await using var stream = await bob.OpenStreamAsync(alice.LocalPeerId, [EchoProtocol.Id], cts.Token);
        var echo = await EchoProtocol.RoundTripAsync(stream, payload, cts.Token);

        Assert.Equal(payload, echo);
        Assert.Equal(0, service.Statistics.CircuitsCutByLimit);
        Assert.Equal(1, service.Statistics.CircuitsOpened);
    }

    [Fact]
    public async Task The_relay_refuses_reservations_beyond_its_limit_and_requests_beyond_the_rate()
    {
        var (relay, service) = await StartRelayAsync(new RelayOptions { MaxReservations = 2, MaxRequestsPerPeerPerMinute = 5 });
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var peers = new List<Libp2pHost>();
        for (var i = 0; i < 3; i++)
        {
            var peer = await _fixture.StartAsync();
            await peer.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
            peers.Add(peer);
        }
        await peers[0].Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
        await peers[1].Relay.ReserveAsync(relay.LocalPeerId, cts.Token);

        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => peers[2].Relay.ReserveAsync(relay.LocalPeerId, cts.Token));
        Assert.Contains("ReservationRefused", refused.Message, StringComparison.Ordinal);

        // Renewals of a held reservation are not new ones; but a flood of them hits the request rate.
        for (var i = 0; i < 4; i++)
        {
            await peers[0].Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
        }
        var flooded = await Assert.ThrowsAsync<RelayRefusedException>(() => peers[0].Relay.ReserveAsync(relay.LocalPeerId, cts.Token));
        Assert.Contains("ResourceLimitExceeded", flooded.Message, StringComparison.Ordinal);
        Assert.Equal(2, service.Statistics.Reservations);
        Assert.Equal(2, service.Statistics.ReservationsRefused);
    }

    [Fact]
    public async Task A_peer_cannot_open_more_circuits_than_its_limit()
    {
        var (relay, service) = await StartRelayAsync(new RelayOptions { MaxCircuitsPerPeer = 2 });
        var alice = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
        var reservation = await alice.Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
        var target = reservation.CircuitAddresses[0].WithPeerId(alice.LocalPeerId);
        var connected = 0;
        var refused = 0;
        for (var i = 0; i < 4; i++)
        {
            var bob = await _fixture.StartAsync();
            try
            {
                await bob.ConnectAsync(target, cts.Token);
                connected++;
            }
            catch (RelayRefusedException)
            {
                refused++;
            }
        }

        Assert.Equal(2, connected);
        Assert.Equal(2, refused);
        Assert.Equal(2, service.Statistics.CircuitsRefused);
    }

    [Fact]
    public async Task A_voucher_is_a_signed_envelope_only_the_relay_could_have_made()
    {
        var (relay, _) = await StartRelayAsync();
        var payload = new byte[] { 1, 2, 3 };
        var sealedEnvelope = SignedEnvelope.Seal(relay.Identity, CircuitRelay.VoucherDomain, [0x03, 0x02], payload);

        var opened = SignedEnvelope.Open(sealedEnvelope, CircuitRelay.VoucherDomain);
        Assert.Equal(relay.LocalPeerId, opened.SignerId);
        Assert.Equal(payload, opened.Payload);
        Assert.Throws<FormatException>(() => SignedEnvelope.Open(sealedEnvelope, "libp2p-peer-record"));
        var tampered = (byte[])sealedEnvelope.Clone();
        tampered[^40] ^= 1;
        Assert.Throws<FormatException>(() => SignedEnvelope.Open(tampered, CircuitRelay.VoucherDomain));
        Assert.Throws<FormatException>(() => SignedEnvelope.Open(new byte[] { 0xff, 0xff, 0xff }, CircuitRelay.VoucherDomain));
    }

    private async Task<(Libp2pHost Relay, RelayService Service)> StartRelayAsync(RelayOptions? options = null)
    {
        var relay = await _fixture.StartAsync();
        var service = new RelayService(relay, options);
        service.Start();
        _services.Add(service);
        return (relay, service);
    }

    private async Task<(Libp2pHost Alice, Libp2pHost Bob, Multiaddr Circuit)> ConnectThroughAsync(Libp2pHost relay)
    {
        var alice = await _fixture.StartAsync();
        var bob = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
        var reservation = await alice.Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
        var circuit = reservation.CircuitAddresses[0].WithPeerId(alice.LocalPeerId);
        await bob.ConnectAsync(circuit, cts.Token);
        return (alice, bob, circuit);
    }
}
