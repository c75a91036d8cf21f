using System.Diagnostics;
using Parley.Core.Identity;
using Parley.Net.Protocols;
using Parley.Testing;

namespace Parley.Net.Tests.InMemory;

/// <summary>The in-memory network is a stand-in for the TCP host: the same protocol code runs over it unchanged.</summary>
public sealed class InMemoryNetworkTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Ping_and_identify_run_unchanged_over_the_in_memory_network()
    {
        var network = new InMemoryNetwork();
        var aliceKey = IdentityKey.Generate();
        await using var alice = network.CreateHost(aliceKey);
        await using var bob = network.CreateHost();
        alice.SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        bob.SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        using var bobIdentify = new IdentifyService(bob, IdentityKey.Generate(), "bob/1", Timeout);
        using var aliceIdentify = new IdentifyService(alice, aliceKey, "alice/1", Timeout);
        using var cts = new CancellationTokenSource(Timeout);

        Assert.Equal(bob.LocalPeerId, await alice.ConnectAsync(bob.Address, cts.Token));
        await PingProtocol.PingAsync(alice, bob.LocalPeerId, cts.Token);
        var seen = await bobIdentify.IdentifyAsync(alice.LocalPeerId, cts.Token);
        Assert.Equal("alice/1", seen.AgentVersion);
        Assert.Contains(PingProtocol.ProtocolId, seen.Protocols);
        Assert.Contains(alice.Address, seen.Addresses);
    }

    [Fact]
    public async Task Peers_are_dialled_by_peer_id_and_see_each_other_connect_and_leave()
    {
        var network = new InMemoryNetwork();
        await using var alice = network.CreateHost();
        var bob = network.CreateHost();
        bob.SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        var left = new TaskCompletionSource<PeerEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        alice.PeerDisconnected += (_, e) => left.TrySetResult(e);
        using var cts = new CancellationTokenSource(Timeout);

        await PingProtocol.PingAsync(alice, bob.LocalPeerId, cts.Token);
        Assert.Contains(bob.LocalPeerId, alice.ConnectedPeers);
        Assert.Contains(alice.LocalPeerId, bob.ConnectedPeers);

        await bob.DisposeAsync();
        Assert.Equal(bob.LocalPeerId, (await left.Task.WaitAsync(cts.Token)).Peer);
        await Assert.ThrowsAsync<PeerConnectionException>(() => PingProtocol.PingAsync(alice, bob.LocalPeerId, cts.Token));
    }

    [Fact]
    public async Task Link_latency_delays_every_round_trip()
    {
        var latency = TimeSpan.FromMilliseconds(40);
        var network = new InMemoryNetwork(new InMemoryNetworkOptions { Latency = (_, _) => latency });
        await using var alice = network.CreateHost();
        await using var bob = network.CreateHost();
        bob.SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        using var cts = new CancellationTokenSource(Timeout);

        var started = Stopwatch.GetTimestamp();
        var rtt = await PingProtocol.PingAsync(alice, bob.LocalPeerId, cts.Token);
        Assert.True(rtt >= 2 * latency - TimeSpan.FromMilliseconds(5), $"round trip {rtt} shorter than twice the latency");
        Assert.True(Stopwatch.GetElapsedTime(started) >= 3 * latency - TimeSpan.FromMilliseconds(5), "opening the stream took no time");
    }

    [Fact]
    public async Task Lost_streams_fail_like_timed_out_requests()
    {
        var network = new InMemoryNetwork(new InMemoryNetworkOptions { StreamLossRate = 1.0 });
        await using var alice = network.CreateHost();
        await using var bob = network.CreateHost();
        bob.SetStreamHandler(PingProtocol.ProtocolId, PingProtocol.HandleAsync);
        using var cts = new CancellationTokenSource(Timeout);
        var error = await Assert.ThrowsAsync<PeerConnectionException>(() => PingProtocol.PingAsync(alice, bob.LocalPeerId, cts.Token));
        Assert.Contains("lost", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unsupported_protocol_and_wrong_peer_id_are_refused()
    {
        var network = new InMemoryNetwork();
        await using var alice = network.CreateHost();
        await using var bob = network.CreateHost();
        using var cts = new CancellationTokenSource(Timeout);
        await Assert.ThrowsAsync<PeerConnectionException>(() => alice.OpenStreamAsync(bob.LocalPeerId, ["/nope/1.0.0"], cts.Token));
        await Assert.ThrowsAsync<PeerConnectionException>(() => alice.ConnectAsync(bob.Address.WithPeerId(IdentityKey.Generate().PeerId), cts.Token));
    }

    [Fact]
    public async Task Duplex_streams_carry_data_both_ways_and_signal_the_end()
    {
        var (a, b) = InMemoryDuplexStream.CreatePair();
        await a.WriteAsync("hello"u8.ToArray());
        await a.DisposeAsync();
        var buffer = new byte[16];
        var read = await b.ReadAtLeastAsync(buffer, 5);
        Assert.Equal("hello"u8.ToArray(), buffer[..read]);
        Assert.Equal(0, await b.ReadAsync(buffer));
    }
}
