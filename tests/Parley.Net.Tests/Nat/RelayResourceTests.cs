using Parley.Core.Identity;
using Parley.Net.Host;
using Parley.Net.Protocols;
using Parley.Net.Relay;
using Parley.Net.Resources;
using Parley.Net.Tests.Host;
using Parley.Testing;

namespace Parley.Net.Tests.Nat;

/// <summary>
/// Relays and the resource and connection managers together: relayed connections count against the limits like
/// direct ones, and the connection manager never cuts a relay a node depends on (issue 12: relays in use are protected).
/// </summary>
public sealed class RelayResourceTests : IAsyncLifetime
{
    /// <summary>Trims as soon as more than two connections are open; idle connections close after two seconds.</summary>
    private static readonly HostOptions Tight = new()
    {
        Limits = new ResourceLimits { HighWatermark = 2, LowWatermark = 1, GracePeriod = TimeSpan.Zero },
        IdleTimeout = TimeSpan.FromSeconds(2),
    };

    private readonly HostFixture _fixture = new();
    private readonly List<IAsyncDisposable> _disposables = [];
    private readonly List<RelayService> _services = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var disposable in _disposables)
        {
            await disposable.DisposeAsync();
        }
        foreach (var service in _services)
        {
            service.Dispose();
        }
        await _fixture.DisposeAsync();
    }

    [Fact]
    public async Task The_connection_of_a_reservation_is_neither_trimmed_nor_closed_when_idle_at_either_end()
    {
        var relay = await StartRelayAsync(new HostOptions { IdleTimeout = Tight.IdleTimeout });
        var alice = await _fixture.StartAsync(Tight);
        using var cts = new CancellationTokenSource(HostFixture.Timeout * 2);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
        var autoRelay = new AutoRelay(alice, _ => Task.FromResult<IReadOnlyList<PeerId>>([relay.LocalPeerId]), new AutoRelayOptions { DesiredRelays = 1, MaxRelays = 1 });
        _disposables.Add(autoRelay);
        autoRelay.Start();
        autoRelay.SetEnabled(true);
        await WaitUntilAsync(() => autoRelay.Reservations.Count == 1, "a reservation", cts.Token);
        var reservedOn = Assert.Single(alice.Connections, c => c.Peer == relay.LocalPeerId);

        // Three more connections, each kept busy by an open stream so that only the trimmer can close them.
        await HoldStreamsToNewPeersAsync(alice, 3, cts.Token);
        await WaitUntilAsync(() => alice.ResourceUsage.Refusals[Refusal.Trimmed] >= 3, "three connections trimmed", cts.Token);
        // Idle for longer than the idle timeout (no streams, no traffic): still open.
        await Task.Delay(Tight.IdleTimeout * 2, cts.Token);

        // The very connection the reservation was made on, not a new one after a loss.
        Assert.Equal([reservedOn], alice.Connections);
        Assert.Single(autoRelay.Reservations);
        var bob = await _fixture.StartAsync();
        await bob.ConnectAsync(autoRelay.Reservations[0].CircuitAddresses[0].WithPeerId(alice.LocalPeerId), cts.Token);
        await PingProtocol.PingAsync(bob, alice.LocalPeerId, cts.Token);
    }

    [Fact]
    public async Task A_reservation_granted_after_relays_were_turned_off_is_not_kept()
    {
        var relay = await StartRelayAsync();
        var service = _services[^1];
        var alice = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout * 2);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
        var asked = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var autoRelay = new AutoRelay(alice, async token =>
        {
            asked.TrySetResult();
            await answer.Task.WaitAsync(token);
            return [relay.LocalPeerId];
        }, new AutoRelayOptions { DesiredRelays = 1, MaxRelays = 2 });
        _disposables.Add(autoRelay);
        autoRelay.Start();
        autoRelay.SetEnabled(true);
        await asked.Task.WaitAsync(cts.Token);

        // AutoNAT finds alice public while she is looking for relays: the reservation she was about to make is not wanted.
        autoRelay.SetEnabled(false);
        answer.SetResult();
        await WaitUntilAsync(() => service.Statistics.Reservations == 1, "the relay granted the late reservation", cts.Token);
        await Task.Delay(TimeSpan.FromMilliseconds(500), cts.Token);

        Assert.Empty(autoRelay.Reservations);
        Assert.DoesNotContain(alice.ListenAddresses, a => a.ToString().Contains("/p2p-circuit", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_relay_carrying_a_relayed_connection_is_not_trimmed()
    {
        var relay = await StartRelayAsync();
        var alice = await _fixture.StartAsync();
        var bob = await _fixture.StartAsync(Tight);
        using var cts = new CancellationTokenSource(HostFixture.Timeout * 2);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
        var reservation = await alice.Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
        await bob.ConnectAsync(reservation.CircuitAddresses[0].WithPeerId(alice.LocalPeerId), cts.Token);
        // bob values alice (as a node protects a contact); nothing protects his connection to the relay but its use.
        bob.Protection.Protect(alice.LocalPeerId, "contact");
        var chat = await bob.OpenStreamAsync(alice.LocalPeerId, [EchoProtocol.Id], cts.Token);
        _disposables.Add(chat);

        await HoldStreamsToNewPeersAsync(bob, 2, cts.Token);
        await WaitUntilAsync(() => bob.ResourceUsage.Refusals[Refusal.Trimmed] >= 2, "two connections trimmed", cts.Token);

        Assert.Contains(relay.LocalPeerId, bob.ConnectedPeers);
        Assert.Contains(bob.Connections, c => c.Peer == alice.LocalPeerId && c.IsRelayed);
        var echo = await EchoProtocol.RoundTripAsync(chat, [1, 2, 3], cts.Token);
        Assert.Equal([1, 2, 3], echo);
    }

    [Fact]
    public async Task Relayed_connections_count_against_the_limits_and_a_full_inbound_side_refuses_them_with_a_reason()
    {
        var relay = await StartRelayAsync();
        var alice = await _fixture.StartAsync(new HostOptions { Limits = new ResourceLimits { MaxInboundConnections = 1 } });
        var bob = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await alice.ConnectAsync(HostFixture.AddressOf(relay), cts.Token);
        var reservation = await alice.Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
        var circuit = reservation.CircuitAddresses[0].WithPeerId(alice.LocalPeerId);
        var filler = await _fixture.StartAsync();
        await filler.ConnectAsync(HostFixture.AddressOf(alice), cts.Token);
        await WaitUntilAsync(() => alice.ResourceUsage.InboundConnections == 1, "the filler's connection", cts.Token);

        // alice's stop handler answers RESOURCE_LIMIT_EXCEEDED; the relay tells bob the connection failed.
        var refused = await Assert.ThrowsAsync<RelayRefusedException>(() => bob.ConnectAsync(circuit, cts.Token));
        Assert.Contains("ConnectionFailed", refused.Message, StringComparison.Ordinal);
        Assert.Equal(1, alice.ResourceUsage.Refusals[Refusal.InboundConnections]);

        await filler.DisconnectAsync(alice.LocalPeerId, cts.Token);
        await WaitUntilAsync(() => alice.ResourceUsage.InboundConnections == 0, "the filler gone", cts.Token);
        await bob.ConnectAsync(circuit, cts.Token);
        await PingProtocol.PingAsync(bob, alice.LocalPeerId, cts.Token);
        Assert.Equal(1, alice.ResourceUsage.InboundConnections);
        // bob's relayed connection is one of his outbound connections, beside the one to the relay that carries it.
        Assert.Equal(2, bob.ResourceUsage.OutboundConnections);

        await bob.DisconnectAsync(alice.LocalPeerId, cts.Token);
        await WaitUntilAsync(() => alice.ResourceUsage.InboundConnections == 0 && bob.ResourceUsage.OutboundConnections == 1, "the relayed connection released on both ends", cts.Token);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what, CancellationToken cancellationToken)
    {
        try
        {
            while (!condition())
            {
                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"timed out waiting for {what}");
        }
    }

    private async Task HoldStreamsToNewPeersAsync(Libp2pHost host, int count, CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            var peer = await _fixture.StartAsync();
            await host.ConnectAsync(HostFixture.AddressOf(peer), cancellationToken);
            var stream = await host.OpenStreamAsync(peer.LocalPeerId, [EchoProtocol.Id], cancellationToken);
            _disposables.Add(stream);
        }
    }

    private async Task<Libp2pHost> StartRelayAsync(HostOptions? options = null)
    {
        var relay = await _fixture.StartAsync(options);
        var service = new RelayService(relay);
        service.Start();
        _services.Add(service);
        return relay;
    }
}
