using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Host;
using Parley.Net.Protocols;
using Parley.Testing;
using Parley.Testing.Interop;

namespace Parley.Interop.Tests;

/// <summary>A js-libp2p circuit relay v2 server (@libp2p/circuit-relay-v2) relays between two Parley nodes.</summary>
public sealed class RelayInteropTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly List<Libp2pHost> _hosts = [];
    private JsPeer _relay = null!;

    public async Task InitializeAsync()
    {
        _relay = await JsPeer.StartScriptAsync("relay-peer.mjs", null, []);
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }
        await _relay.DisposeAsync();
    }

    [Fact]
    public async Task Parley_reserves_on_a_js_relay_checks_its_voucher_and_a_parley_peer_reaches_it_through_the_relay()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var alice = await StartAsync();
        var bob = await StartAsync();
        var relayAddress = Multiaddr.Parse(_relay.Addresses[0]);
        await alice.ConnectAsync(relayAddress, cts.Token);

        var reservation = await alice.Relay.ReserveAsync(relayAddress.PeerId!, cts.Token);
        var circuit = Assert.Single(reservation.CircuitAddresses);
        Assert.Equal(relayAddress.Encapsulate(Multiaddr.Parse("/p2p-circuit")), circuit);
        Assert.True(reservation.Expires > DateTimeOffset.UtcNow.AddMinutes(30));
        var stats = await _relay.CommandAsync("stats");
        Assert.Equal(1, stats.GetProperty("reservations").GetInt32());

        var peer = await bob.ConnectAsync(circuit.WithPeerId(alice.LocalPeerId), cts.Token);
        Assert.Equal(alice.LocalPeerId, peer);
        await PingProtocol.PingAsync(bob, alice.LocalPeerId, cts.Token);
        var payload = new byte[8 * 1024];
        Random.Shared.NextBytes(payload);
        await using var stream = await bob.OpenStreamAsync(alice.LocalPeerId, [EchoProtocol.Id], cts.Token);
        Assert.Equal(payload, await EchoProtocol.RoundTripAsync(stream, payload, cts.Token));
        Assert.Contains(bob.Connections, c => c.Peer == alice.LocalPeerId && c.IsRelayed);
    }

    private async Task<Libp2pHost> StartAsync()
    {
        var host = new Libp2pHost(IdentityKey.Generate(), new HostOptions { ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")] });
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        _hosts.Add(host);
        await host.StartAsync(CancellationToken.None);
        return host;
    }
}
