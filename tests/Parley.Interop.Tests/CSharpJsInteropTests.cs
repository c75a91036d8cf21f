using System.Security.Cryptography;
using System.Text.Json;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Net.Host;
using Parley.Net.Protocols;
using Parley.Testing;

using Parley.Testing.Interop;

namespace Parley.Interop.Tests;

/// <summary>A Parley node and a js-libp2p node (npm libp2p 3.x) talk over TCP + Noise + yamux, each side dialling in turn.</summary>
public sealed class CSharpJsInteropTests : IAsyncLifetime
{
    private const string AgentVersion = "parley-interop-test/1.0";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private Libp2pHost _host = null!;
    private JsPeer _js = null!;

    public async Task InitializeAsync()
    {
        _host = new Libp2pHost(IdentityKey.Generate(), new HostOptions
        {
            ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
            AgentVersion = AgentVersion,
        });
        _host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        await _host.StartAsync(CancellationToken.None);
        _js = await JsPeer.StartAsync("js-interop-partner/1.0");
    }

    public async Task DisposeAsync()
    {
        await _js.DisposeAsync();
        await _host.DisposeAsync();
    }

    private string HostAddress => _host.ListenAddresses[0].WithPeerId(_host.LocalPeerId).ToString();

    [Fact]
    public async Task CSharp_dials_js_handshake_identify_and_ping()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var jsPeer = await _host.ConnectAsync(Multiaddr.Parse(_js.Addresses[0]), cts.Token);
        Assert.Equal(_js.PeerId, jsPeer.ToString());

        var info = await _host.Identify.IdentifyAsync(jsPeer, cts.Token);
        Assert.Equal("js-interop-partner/1.0", info.AgentVersion);
        Assert.Contains(PingProtocol.ProtocolId, info.Protocols);
        Assert.Contains(EchoProtocol.Id, info.Protocols);
        Assert.Contains(Multiaddr.Parse(_js.Addresses[0]).WithoutPeerId(), info.Addresses);

        var seenByJs = await _js.CommandAsync("identify", new { peerId = _host.LocalPeerId.ToString(), timeoutMs = 10_000 });
        AssertJsSawOurIdentify(seenByJs);

        var rtt = await PingProtocol.PingAsync(_host, jsPeer, cts.Token);
        Assert.True(rtt > TimeSpan.Zero);
        var jsRtt = await _js.CommandAsync("ping", new { peerId = _host.LocalPeerId.ToString() });
        Assert.True(jsRtt.GetProperty("rttMs").GetDouble() >= 0);
    }

    [Fact]
    public async Task Js_dials_CSharp_handshake_identify_and_ping()
    {
        using var cts = new CancellationTokenSource(Timeout);
        var dial = await _js.CommandAsync("dial", new { addr = HostAddress });
        Assert.Equal(_host.LocalPeerId.ToString(), dial.GetProperty("peerId").GetString());
        Assert.Equal("/noise", dial.GetProperty("encryption").GetString());
        Assert.Equal("/yamux/1.0.0", dial.GetProperty("multiplexer").GetString());

        var seenByJs = await _js.CommandAsync("identify", new { peerId = _host.LocalPeerId.ToString(), timeoutMs = 10_000 });
        AssertJsSawOurIdentify(seenByJs);

        var jsPeer = PeerId.Parse(_js.PeerId);
        var info = await _host.Identify.IdentifyAsync(jsPeer, cts.Token);
        Assert.Equal("js-interop-partner/1.0", info.AgentVersion);

        var jsRtt = await _js.CommandAsync("ping", new { addr = HostAddress });
        Assert.True(jsRtt.GetProperty("rttMs").GetDouble() >= 0);
        await PingProtocol.PingAsync(_host, jsPeer, cts.Token);
        Assert.Equal(1, _host.ConnectionCount);
    }

    [Fact]
    public async Task CSharp_opens_100_concurrent_streams_to_js_each_echoing_one_mebibyte()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var jsPeer = await _host.ConnectAsync(Multiaddr.Parse(_js.Addresses[0]), cts.Token);
        var streams = Enumerable.Range(0, 100).Select(async i =>
        {
            var payload = RandomNumberGenerator.GetBytes(1024 * 1024);
            await using var stream = await _host.OpenStreamAsync(jsPeer, [EchoProtocol.Id], cts.Token);
            var echoed = await EchoProtocol.RoundTripAsync(stream, payload, cts.Token);
            Assert.True(payload.AsSpan().SequenceEqual(echoed), $"stream {i}: {echoed.Length} bytes came back, not the 1 MiB sent");
        });
        await Task.WhenAll(streams);
        Assert.Equal(1, _host.ConnectionCount);
    }

    [Fact]
    public async Task Js_opens_100_concurrent_streams_to_CSharp_each_echoing_one_mebibyte()
    {
        var result = await _js.CommandAsync(
            "echo",
            new { addr = HostAddress, protocol = EchoProtocol.Id, streams = 100, bytes = 1024 * 1024 },
            TimeSpan.FromMinutes(3));
        Assert.Equal(100, result.GetProperty("streams").GetInt32());
        Assert.Equal(1024 * 1024, result.GetProperty("bytes").GetInt32());
    }

    private void AssertJsSawOurIdentify(JsonElement seen)
    {
        Assert.Equal(AgentVersion, seen.GetProperty("agentVersion").GetString());
        var protocols = seen.GetProperty("protocols").EnumerateArray().Select(p => p.GetString()).ToList();
        Assert.Contains(PingProtocol.ProtocolId, protocols);
        Assert.Contains(IdentifyService.ProtocolId, protocols);
        Assert.Contains(EchoProtocol.Id, protocols);
        var listen = seen.GetProperty("listenAddrs").EnumerateArray().Select(a => Multiaddr.Parse(a.GetString()!).WithoutPeerId()).ToList();
        Assert.Contains(_host.ListenAddresses[0], listen);
    }
}
