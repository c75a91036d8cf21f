using System.Net;
using System.Net.Sockets;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Net.Host;
using Parley.Net.Multistream;
using Parley.Net.Noise;
using Parley.Net.Protocols;
using Parley.Net.Resources;
using Parley.Net.Yamux;

namespace Parley.Net.Tests.Host;

/// <summary>
/// The floods of issue 12 against a running node, with the limits applied to loopback as they apply to any other
/// network (by default loopback is exempt from the per-address and per-subnet limits): an honest peer is served
/// throughout, and the refusals are counted.
/// </summary>
[Collection(nameof(MeasuresMemoryOrTiming))]
public sealed class ResourceLimitTests : IAsyncLifetime
{
    private static readonly ResourceLimits OnLoopback = new() { ExemptNetworks = [] };
    private readonly HostFixture _fixture = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    /// <summary>Found by attack: 1,020 Noise-authenticated connections from one address, each with a fresh key, were
    /// all accepted, and then an honest peer's pings were refused.</summary>
    [Fact]
    public async Task A_flood_of_authenticated_connections_from_one_address_does_not_lock_out_an_honest_peer()
    {
        var server = await _fixture.StartAsync(new HostOptions { Limits = OnLoopback });
        var attacker = IPAddress.Parse("127.0.0.2");
        var held = new List<Stream>();
        var accepted = 0;
        try
        {
            for (var i = 0; i < 1020; i++)
            {
                try
                {
                    held.Add(await UpgradeFromAsync(attacker, server));
                    accepted++;
                }
                catch (Exception e) when (e is IOException or NoiseHandshakeException or SocketException or InvalidDataException)
                {
                    // Refused at accept: the server closed the socket before the handshake.
                }
            }

            Assert.InRange(accepted, 1, OnLoopback.MaxInboundConnectionsPerAddress);
            await AssertPingsAsync(server, 3);
            var refusals = server.ResourceUsage.Refusals;
            Assert.True(refusals[Refusal.ConnectionsPerAddress] >= 1020 - OnLoopback.MaxInboundConnectionsPerAddress, $"{refusals[Refusal.ConnectionsPerAddress]} refused by address");
        }
        finally
        {
            foreach (var stream in held)
            {
                await stream.DisposeAsync();
            }
        }
    }

    /// <summary>Found by attack: 72 idle connections from 9 addresses filled the 64 pending handshakes, and 9 of an
    /// honest peer's 12 pings failed. Both with today's limits and with the old ones (64 pending, 8 per address, no
    /// subnet limit), where only displacing the busiest source's oldest handshake makes room.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Idle_connections_from_nine_addresses_do_not_exhaust_the_pending_handshakes(bool oldLimits)
    {
        var limits = oldLimits
            ? OnLoopback with { MaxPendingHandshakes = 64, MaxPendingHandshakesPerAddress = 8, MaxPendingHandshakesPerSubnet = 64, MaxInboundConnectionsPerSubnet = 1024 }
            : OnLoopback;
        // Long enough that the idle connections hold their slots for the whole test.
        var server = await _fixture.StartAsync(new HostOptions { Limits = limits, HandshakeTimeout = TimeSpan.FromSeconds(60) });
        Assert.True(server.ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        var idle = new List<Socket>();
        try
        {
            for (var address = 2; address <= 10; address++)
            {
                for (var i = 0; i < 8; i++)
                {
                    var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    idle.Add(socket);
                    socket.Bind(new IPEndPoint(IPAddress.Parse($"127.0.0.{address}"), 0));
                    using var connecting = new CancellationTokenSource(HostFixture.Timeout);
                    await socket.ConnectAsync(endPoint!, connecting.Token);
                }
            }
            var expected = Math.Min(72, Math.Min(9 * limits.MaxPendingHandshakesPerAddress, Math.Min(limits.MaxPendingHandshakesPerSubnet, limits.MaxPendingHandshakes)));
            await WaitUntilAsync(() => server.ResourceUsage.PendingHandshakes == expected, $"{expected} pending handshakes");

            // Each ping from a new peer, so each needs a handshake slot.
            await AssertPingsAsync(server, 12);
            Assert.True(server.ResourceUsage.Refusals[Refusal.HandshakeDisplaced] >= 1, "an honest peer displaced an idle handshake");
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_full_inbound_side_does_not_block_our_dials()
    {
        var server = await _fixture.StartAsync(new HostOptions { Limits = new ResourceLimits { MaxInboundConnections = 1 } });
        var first = await _fixture.StartAsync();
        var second = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await first.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        await WaitUntilAsync(() => server.ResourceUsage.InboundConnections == 1, "one inbound connection");

        // The second's handshake completes on its side; the server then refuses the connection and closes it.
        try
        {
            await second.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        }
        catch (PeerConnectionException)
        {
        }
        await WaitUntilAsync(() => server.ResourceUsage.Refusals[Refusal.InboundConnections] == 1, "the second inbound connection refused");
        await server.ConnectAsync(HostFixture.AddressOf(second), cts.Token);
        await PingProtocol.PingAsync(server, second.LocalPeerId, cts.Token);
        Assert.Equal(1, server.ResourceUsage.OutboundConnections);
    }

    [Fact]
    public async Task A_protocol_stream_limit_resets_the_stream_over_it_and_counts_it()
    {
        var server = await _fixture.StartAsync(new HostOptions
        {
            Limits = new ResourceLimits { ProtocolLimits = new Dictionary<string, ProtocolLimit> { ["/parley/test/hold/1.0.0"] = new(Streams: 10, StreamsPerPeer: 2) } },
        });
        server.SetStreamHandler("/parley/test/hold/1.0.0", (stream, ct) => stream.CopyToAsync(Stream.Null, ct));
        var client = await _fixture.StartAsync();
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
        await using var one = await client.OpenStreamAsync(server.LocalPeerId, ["/parley/test/hold/1.0.0"], cts.Token);
        await using var two = await client.OpenStreamAsync(server.LocalPeerId, ["/parley/test/hold/1.0.0"], cts.Token);
        await one.WriteAsync(new byte[] { 1 }, cts.Token);
        await two.WriteAsync(new byte[] { 2 }, cts.Token);
        await WaitUntilAsync(() => server.ResourceUsage.InboundStreams == 2, "two held streams");

        // Reset right after negotiation: the client sees it while negotiating or at its first read.
        var refused = await Record.ExceptionAsync(async () =>
        {
            await using var three = await client.OpenStreamAsync(server.LocalPeerId, ["/parley/test/hold/1.0.0"], cts.Token);
            while (await three.ReadAsync(new byte[1], cts.Token) > 0)
            {
            }
        });
        Assert.IsAssignableFrom<IOException>(refused);
        Assert.Equal(1, server.ResourceUsage.Refusals[Refusal.ProtocolStreamsPerPeer]);
        await PingProtocol.PingAsync(client, server.LocalPeerId, cts.Token);
    }

    /// <summary>Raw dial from <paramref name="from"/> with a fresh identity, through multistream, Noise and yamux.</summary>
    private static async Task<Stream> UpgradeFromAsync(IPAddress from, Libp2pHost server)
    {
        Assert.True(server.ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(from, 0));
            using var connecting = new CancellationTokenSource(HostFixture.Timeout);
            await socket.ConnectAsync(endPoint!, connecting.Token);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            using var cts = new CancellationTokenSource(HostFixture.Timeout);
            await MultistreamSelect.SelectAsync(stream, [NoiseSecurity.ProtocolId], cts.Token);
            var channel = await NoiseSecurity.SecureOutboundAsync(stream, IdentityKey.Generate(), server.LocalPeerId, DefaultCryptoProvider.Instance, null, cts.Token);
            await MultistreamSelect.SelectAsync(channel.Stream, [YamuxOptions.ProtocolId], cts.Token);
            return channel.Stream;
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    /// <summary>Each ping from a new honest peer (on 127.0.0.1), over a new connection.</summary>
    private async Task AssertPingsAsync(Libp2pHost server, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var before = server.ResourceUsage.InboundConnections;
            var honest = await _fixture.StartAsync();
            using var cts = new CancellationTokenSource(HostFixture.Timeout);
            await honest.ConnectAsync(HostFixture.AddressOf(server), cts.Token);
            await PingProtocol.PingAsync(honest, server.LocalPeerId, cts.Token);
            await honest.DisposeAsync();
            // Honest peers come from one address too: wait until the server has let this one go.
            await WaitUntilAsync(() => server.ResourceUsage.InboundConnections == before, "the honest connection closed");
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        while (!condition())
        {
            try
            {
                await Task.Delay(20, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no {what} within {HostFixture.Timeout.TotalSeconds:0} s");
            }
        }
    }
}
