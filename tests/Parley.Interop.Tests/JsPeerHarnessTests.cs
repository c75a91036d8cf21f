using System.Text.Json;

using Parley.Testing.Interop;

namespace Parley.Interop.Tests;

/// <summary>
/// js <-> js sanity checks for the interop harness (tests/interop/peer.mjs). They prove the js side
/// works before the C# stack is pointed at it. Requires Node.js >= 20 and `npm ci` in tests/interop.
/// </summary>
public sealed class JsPeerHarnessTests
{
    private const string EchoProtocol = "/parley/echo/1.0.0";
    private const string PingProtocol = "/ipfs/ping/1.0.0";
    private const string IdentifyProtocol = "/ipfs/id/1.0.0";

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString() ?? "")];

    [Fact]
    public async Task Start_ReportsPeerIdLoopbackAddressesAndProtocols()
    {
        await using var peer = await JsPeer.StartAsync("harness-start/1.0");

        Assert.StartsWith("12D3KooW", peer.PeerId, StringComparison.Ordinal);
        Assert.Equal("harness-start/1.0", peer.AgentVersion);
        Assert.NotEmpty(peer.Addresses);
        Assert.All(peer.Addresses, a =>
        {
            Assert.StartsWith("/ip4/127.0.0.1/tcp/", a, StringComparison.Ordinal);
            Assert.EndsWith("/p2p/" + peer.PeerId, a, StringComparison.Ordinal);
        });

        var protocols = Strings((await peer.CommandAsync("protocols")).GetProperty("protocols"));
        Assert.Contains(IdentifyProtocol, protocols);
        Assert.Contains(PingProtocol, protocols);
        Assert.Contains(EchoProtocol, protocols);

        var peers = (await peer.CommandAsync("peers")).GetProperty("peers");
        Assert.Equal(0, peers.GetArrayLength());
    }

    [Fact]
    public async Task Dial_NegotiatesNoiseAndYamux_AndBothSidesSeeTheConnection()
    {
        await using var a = await JsPeer.StartAsync("harness-a/1.0");
        await using var b = await JsPeer.StartAsync("harness-b/1.0");

        var dial = await a.CommandAsync("dial", new { addr = b.Addresses[0] });

        Assert.Equal(b.PeerId, dial.GetProperty("peerId").GetString());
        Assert.Equal(b.Addresses[0], dial.GetProperty("remoteAddr").GetString());
        Assert.Equal("/noise", dial.GetProperty("encryption").GetString());
        Assert.Equal("/yamux/1.0.0", dial.GetProperty("multiplexer").GetString());

        await a.WaitForEventAsync("connection:open", e => e.GetProperty("peerId").GetString() == b.PeerId);
        var inbound = await b.WaitForEventAsync("connection:open", e => e.GetProperty("peerId").GetString() == a.PeerId);
        Assert.Equal("inbound", inbound.GetProperty("direction").GetString());
        Assert.Contains(a.PeerId, Strings((await b.CommandAsync("peers")).GetProperty("peers")));
    }

    [Fact]
    public async Task StartWithKeyAndIpv6Listen_UsesTheGivenIdentity_AndDialsOverIpv6Loopback()
    {
        // Ed25519 libp2p PrivateKey protobuf (hex) and the peer id it must produce
        const string Key = "08011240460e553cf2842ec7efa7b78fd4ba11baf9ac9af3f283567f2c3e23e4bfb04506d585f3e1163b46c39f6f2011d13aa5c39a041e6f8347ccc9f1c224cb8bdb2d1d";
        const string ExpectedPeerId = "12D3KooWQBsUcLhD45PKfhPsa9r3CuqivAPUmLyRDC4SZckSgmfA";
        await using var a = await JsPeer.StartAsync("harness-a/1.0", ["--listen", "/ip6/::1/tcp/0"]);
        await using var b = await JsPeer.StartAsync("harness-b/1.0", ["--key", Key, "--listen", "/ip6/::1/tcp/0"]);

        Assert.Equal(ExpectedPeerId, b.PeerId);
        var addr = Assert.Single(b.Addresses);
        Assert.StartsWith("/ip6/::1/tcp/", addr, StringComparison.Ordinal);

        var dial = await a.CommandAsync("dial", new { addr });
        Assert.Equal(ExpectedPeerId, dial.GetProperty("peerId").GetString());
        Assert.True((await a.CommandAsync("ping", new { peerId = ExpectedPeerId })).GetProperty("rttMs").GetDouble() >= 0);
    }

    [Fact]
    public async Task Ping_ByAddressAndByPeerId_ReturnsRtt()
    {
        await using var a = await JsPeer.StartAsync();
        await using var b = await JsPeer.StartAsync();

        var byAddr = await a.CommandAsync("ping", new { addr = b.Addresses[0] });
        var byId = await a.CommandAsync("ping", new { peerId = b.PeerId });

        Assert.True(byAddr.GetProperty("rttMs").GetDouble() >= 0);
        Assert.True(byId.GetProperty("rttMs").GetDouble() >= 0);
    }

    [Fact]
    public async Task Identify_RunsBothWays_WithAgentVersionProtocolsAndAddresses()
    {
        await using var a = await JsPeer.StartAsync("harness-a/1.0");
        await using var b = await JsPeer.StartAsync("harness-b/1.0");
        await a.CommandAsync("dial", new { addr = b.Addresses[0] });

        var aSeesB = await a.CommandAsync("identify", new { peerId = b.PeerId, timeoutMs = 5000 });
        var bSeesA = await b.CommandAsync("identify", new { peerId = a.PeerId, timeoutMs = 5000 });

        Assert.Equal("harness-b/1.0", aSeesB.GetProperty("agentVersion").GetString());
        Assert.Equal("harness-a/1.0", bSeesA.GetProperty("agentVersion").GetString());
        foreach (var result in new[] { aSeesB, bSeesA })
        {
            var protocols = Strings(result.GetProperty("protocols"));
            Assert.Contains(PingProtocol, protocols);
            Assert.Contains(EchoProtocol, protocols);
            Assert.Contains(IdentifyProtocol, protocols);
            Assert.NotEmpty(Strings(result.GetProperty("listenAddrs")));
            Assert.StartsWith("/ip4/127.0.0.1/tcp/", result.GetProperty("observedAddr").GetString(), StringComparison.Ordinal);
        }

        // the unsolicited event was printed too, and "force" re-runs identify on the live connection
        var evt = await a.WaitForEventAsync("identify", e => e.GetProperty("peerId").GetString() == b.PeerId);
        Assert.Equal("harness-b/1.0", evt.GetProperty("agentVersion").GetString());
        var forced = await a.CommandAsync("identify", new { peerId = b.PeerId, force = true });
        Assert.Equal("harness-b/1.0", forced.GetProperty("agentVersion").GetString());
    }

    [Fact]
    public async Task Echo_100ConcurrentStreamsOf1MiB_RoundTripIntact()
    {
        await using var a = await JsPeer.StartAsync();
        await using var b = await JsPeer.StartAsync();
        await a.CommandAsync("dial", new { addr = b.Addresses[0] });

        var result = await a.CommandAsync(
            "echo",
            new { peerId = b.PeerId, protocol = EchoProtocol, streams = 100, bytes = 1_048_576 },
            TimeSpan.FromSeconds(120));

        Assert.Equal(100, result.GetProperty("streams").GetInt32());
        Assert.Equal(1_048_576, result.GetProperty("bytes").GetInt32());
        Assert.True(result.GetProperty("elapsedMs").GetDouble() > 0);

        // the responder saw 100 complete echo streams, all on the one connection
        var connections = (await a.CommandAsync("connections")).GetProperty("connections");
        Assert.Equal(1, connections.GetArrayLength());
        var inbound = b.Events.Where(e => e.GetProperty("event").GetString() == "echo:inbound").ToList();
        Assert.Equal(100, inbound.Count);
        Assert.All(inbound, e =>
        {
            Assert.True(e.GetProperty("ok").GetBoolean());
            Assert.Equal(1_048_576, e.GetProperty("bytes").GetInt32());
        });
        Assert.DoesNotContain(b.Events, e => e.GetProperty("event").GetString() is "warning" or "uncaught");
    }

    [Fact]
    public async Task Hangup_ClosesTheConnectionOnBothSides()
    {
        await using var a = await JsPeer.StartAsync();
        await using var b = await JsPeer.StartAsync();
        await a.CommandAsync("dial", new { addr = b.Addresses[0] });

        await a.CommandAsync("hangup", new { peerId = b.PeerId });

        await a.WaitForEventAsync("connection:close", e => e.GetProperty("peerId").GetString() == b.PeerId);
        await b.WaitForEventAsync("connection:close", e => e.GetProperty("peerId").GetString() == a.PeerId);
        Assert.Equal(0, (await a.CommandAsync("peers")).GetProperty("peers").GetArrayLength());
    }

    [Fact]
    public async Task Errors_AreReportedAsJsPeerException_WithTheJsErrorText()
    {
        await using var peer = await JsPeer.StartAsync();

        var unknown = await Assert.ThrowsAsync<JsPeerException>(() => peer.CommandAsync("no-such-command"));
        Assert.Contains("unknown command", unknown.Message, StringComparison.Ordinal);

        var missingTarget = await Assert.ThrowsAsync<JsPeerException>(() => peer.CommandAsync("ping"));
        Assert.Contains("\"addr\"", missingTarget.Message, StringComparison.Ordinal);

        // nothing listens on port 1: the dial must fail fast with a js error, not hang
        var refused = await Assert.ThrowsAsync<JsPeerException>(() => peer.CommandAsync(
            "dial", new { addr = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", timeoutMs = 5000 }));
        Assert.Contains("failed", refused.Message, StringComparison.Ordinal);

        var timeout = await Assert.ThrowsAsync<JsPeerException>(() => peer.WaitForEventAsync("never", timeout: TimeSpan.FromMilliseconds(200)));
        Assert.Contains("never", timeout.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProcessExit_FailsPendingEventWaitsPromptly()
    {
        await using var peer = await JsPeer.StartAsync();
        var wait = peer.WaitForEventAsync("never", timeout: TimeSpan.FromSeconds(30));

        await peer.CommandAsync("stop");

        var ex = await Assert.ThrowsAsync<JsPeerException>(() => wait);
        Assert.Contains("exited (code 0)", ex.Message, StringComparison.Ordinal);
        Assert.True(peer.HasExited);
    }

    [Fact]
    public async Task Dispose_StopsTheNodeProcess()
    {
        var peer = await JsPeer.StartAsync();
        Assert.False(peer.HasExited);

        await peer.DisposeAsync();

        Assert.True(peer.HasExited);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => peer.CommandAsync("peers"));
    }
}
