using System.Security.Cryptography;
using Parley.Core.Identity;
using Parley.Net.Host;
using Parley.Net.Protocols;
using Parley.Testing;

namespace Parley.Net.Tests.Host;

public sealed class HostTests : IAsyncLifetime
{
    private const string GreetingProtocol = "/parley-test/greeting/1.0.0";

    private readonly HostFixture _fixture = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public async Task Two_hosts_connect_ping_and_identify_each_other()
    {
        var server = await _fixture.StartAsync(new HostOptions { AgentVersion = "server/1" });
        var client = await _fixture.StartAsync(new HostOptions { AgentVersion = "client/1" });
        using var cts = new CancellationTokenSource(HostFixture.Timeout);

        var peer = await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        Assert.Equal(server.LocalPeerId, peer);
        var rtt = await PingProtocol.PingAsync(client, peer, cts.Token);
        Assert.True(rtt > TimeSpan.Zero);

        var seenByClient = await client.Identify.IdentifyAsync(server.LocalPeerId, cts.Token);
        Assert.Equal("server/1", seenByClient.AgentVersion);
        Assert.Contains(PingProtocol.ProtocolId, seenByClient.Protocols);
        Assert.Contains(EchoProtocol.Id, seenByClient.Protocols);
        Assert.Contains(server.ListenAddresses[0], seenByClient.Addresses);

        var seenByServer = await server.Identify.IdentifyAsync(client.LocalPeerId, cts.Token);
        Assert.Equal("client/1", seenByServer.AgentVersion);
        Assert.NotNull(seenByClient.ObservedAddress);
    }

    [Fact]
    public async Task One_connection_is_reused_for_every_stream()
    {
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var address = HostFixture.AddressOf(server);
        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => client.ConnectAsync(address, cts.Token)));
        for (var i = 0; i < 5; i++)
        {
            await PingProtocol.PingAsync(client, server.LocalPeerId, cts.Token);
        }
        Assert.Equal(1, client.ConnectionCount);
    }

    [Fact]
    public async Task Hundred_concurrent_streams_each_echo_one_mebibyte_intact()
    {
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        var tasks = Enumerable.Range(0, 100).Select(async _ =>
        {
            var payload = RandomNumberGenerator.GetBytes(1024 * 1024);
            await using var stream = await client.OpenStreamAsync(server.LocalPeerId, [EchoProtocol.Id], cts.Token);
            var echoed = await EchoProtocol.RoundTripAsync(stream, payload, cts.Token);
            Assert.True(payload.AsSpan().SequenceEqual(echoed), "echo differs");
        });
        await Task.WhenAll(tasks);
    }

    [Fact]
    public async Task A_protocol_the_peer_listed_in_identify_is_negotiated_with_the_first_data_both_when_the_dialer_writes_and_when_it_reads_first()
    {
        var server = await _fixture.StartAsync();
        server.SetStreamHandler(GreetingProtocol, async (stream, ct) => await stream.WriteAsync("hello"u8.ToArray(), ct));
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        await client.Identify.IdentifyAsync(server.LocalPeerId, cts.Token);

        var payload = RandomNumberGenerator.GetBytes(4096);
        await using (var echo = await client.OpenStreamAsync(server.LocalPeerId, [EchoProtocol.Id], cts.Token))
        {
            Assert.Equal(payload, await EchoProtocol.RoundTripAsync(echo, payload, cts.Token));
        }
        await using var greeting = await client.OpenStreamAsync(server.LocalPeerId, [GreetingProtocol], cts.Token);
        var received = new byte[5];
        await greeting.ReadExactlyAsync(received, cts.Token);
        Assert.Equal("hello"u8.ToArray(), received);
    }

    [Fact]
    public async Task A_protocol_listed_for_a_peer_that_does_not_serve_it_is_refused_at_the_first_read()
    {
        const string notServed = "/parley-test/not-served/1.0.0";
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        var identified = await client.Identify.IdentifyAsync(server.LocalPeerId, cts.Token);
        // A stale or lying identify: the peer store lists a protocol the peer has no handler for.
        client.PeerStore.UpdateFromIdentify(server.LocalPeerId, identified.Addresses, [.. identified.Protocols, notServed], identified.AgentVersion, identified.ProtocolVersion, null);

        // Opening no longer waits for the answer, so the refusal comes with the first read. (Had data been written
        // first, the listener would read it as a malformed proposal and reset the stream: a refusal as well, but the
        // reset can overtake the "na" and the message then names the reset.)
        await using var stream = await client.OpenStreamAsync(server.LocalPeerId, [notServed], cts.Token);
        var error = await Assert.ThrowsAnyAsync<IOException>(async () => await stream.ReadExactlyAsync(new byte[3], cts.Token));
        Assert.Contains("does not support", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dialling_an_address_with_someone_elses_peer_id_fails()
    {
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var impostorAddress = server.ListenAddresses[0].WithPeerId(IdentityKey.Generate().PeerId);
        var error = await Assert.ThrowsAsync<PeerConnectionException>(() => client.ConnectAsync(impostorAddress, cts.Token));
        Assert.Contains("peer", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(server.LocalPeerId, await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token));
    }

    [Fact]
    public async Task Unsupported_protocol_is_refused_and_the_connection_stays_usable()
    {
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        await Assert.ThrowsAsync<PeerConnectionException>(() => client.OpenStreamAsync(server.LocalPeerId, ["/nobody/1.0.0"], cts.Token));
        await PingProtocol.PingAsync(client, server.LocalPeerId, cts.Token);
    }

    [Fact]
    public async Task Streams_can_be_opened_from_both_sides()
    {
        var a = await _fixture.StartAsync();
        var b = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await a.ConnectAsync(HostFixture.AddressOf(b), cts.Token);
        await PingProtocol.PingAsync(a, b.LocalPeerId, cts.Token);
        await PingProtocol.PingAsync(b, a.LocalPeerId, cts.Token);
        Assert.Equal(1, a.ConnectionCount);
        Assert.Equal(1, b.ConnectionCount);
    }

    [Fact]
    public async Task Idle_connections_are_closed_and_peers_see_the_disconnect()
    {
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync(new HostOptions { IdleTimeout = TimeSpan.FromMilliseconds(300) });
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.PeerDisconnected += (_, e) => disconnected.TrySetResult();
        await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        await disconnected.Task.WaitAsync(cts.Token);
        Assert.Empty(client.ConnectedPeers);
    }

    [Fact]
    public async Task A_dead_address_fails_fast_with_a_clear_error()
    {
        var client = await _fixture.StartAsync();
        var gone = await _fixture.StartAsync();
        var address = HostFixture.AddressOf(gone);
        await gone.DisposeAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var error = await Assert.ThrowsAsync<PeerConnectionException>(() => client.ConnectAsync(address, cts.Token));
        Assert.Contains("connect", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_dial_to_a_stale_address_does_not_hold_up_a_dial_to_the_current_one()
    {
        // A restarted node: its old address (from a routing table) is being dialled, and hangs, when its new one (from
        // its presence) is dialled too. Each dial must stand on its own.
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync(new HostOptions { HandshakeTimeout = TimeSpan.FromSeconds(3) });
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var stale = Core.Multiformats.Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{((System.Net.IPEndPoint)silent.LocalEndpoint).Port}/p2p/{server.LocalPeerId}");
        using var cts = new CancellationTokenSource(HostFixture.Timeout);

        var staleDial = client.ConnectAsync(stale, cts.Token);
        var current = await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token).WaitAsync(TimeSpan.FromSeconds(2));

        Assert.Equal(server.LocalPeerId, current);
        await Assert.ThrowsAsync<PeerConnectionException>(() => staleDial);
    }

    [Fact]
    public async Task A_new_protocol_is_pushed_to_connected_peers()
    {
        var server = await _fixture.StartAsync();
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        await client.Identify.IdentifyAsync(server.LocalPeerId, cts.Token);
        var pushed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Identify.PeerIdentified += (_, info) =>
        {
            if (info.Protocols.Contains("/parley/new/1.0.0"))
            {
                pushed.TrySetResult();
            }
        };
        server.SetStreamHandler("/parley/new/1.0.0", (_, _) => Task.CompletedTask);
        await pushed.Task.WaitAsync(cts.Token);
        Assert.Contains("/parley/new/1.0.0", client.PeerStore.Get(server.LocalPeerId)!.Protocols);
    }

    [Fact]
    public async Task Hosts_talk_over_ipv6_loopback()
    {
        await using var server = new Libp2pHost(IdentityKey.Generate(), new HostOptions { ListenAddresses = [Core.Multiformats.Multiaddr.Parse("/ip6/::1/tcp/0")] });
        await server.StartAsync(CancellationToken.None);
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var address = server.ListenAddresses[0];
        Assert.StartsWith("/ip6/::1/tcp/", address.ToString(), StringComparison.Ordinal);
        await client.ConnectAsync(address.WithPeerId(server.LocalPeerId), cts.Token);
        await PingProtocol.PingAsync(client, server.LocalPeerId, cts.Token);
    }
}
