using System.Net;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Discovery;
using Parley.Testing;
using static Parley.Net.Tests.Discovery.DiscoveryTestData;

namespace Parley.Net.Tests.Discovery;

/// <summary>Packet handling and announcing without any socket: packets are fed in, the clock is manual.</summary>
public sealed class MdnsDiscoveryTests : IAsyncLifetime
{
    private static readonly MdnsOptions Options = new() { QueryInterval = TimeSpan.FromSeconds(10) };
    private readonly ManualTimeProvider _time = new();
    private readonly PeerId _self = RandomPeerId();
    private readonly List<MdnsPeer> _reported = [];
    private IReadOnlyList<Multiaddr> _listenAddresses = [Multiaddr.Parse("/ip4/192.168.1.5/tcp/4001"), Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001")];
    private MdnsDiscovery _discovery = null!;

    public Task InitializeAsync()
    {
        _discovery = Create(Options);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _discovery.DisposeAsync();

    [Fact]
    public void Announces_listen_addresses_with_our_id_and_without_loopback()
    {
        var response = _discovery.BuildResponse()!;

        var txt = Assert.Single(response.Additionals.OfType<TxtRecord>());
        Assert.Equal(_discovery.PeerName + "._p2p._udp.local", txt.Name);
        Assert.Equal([$"dnsaddr=/ip4/192.168.1.5/tcp/4001/p2p/{_self}"], txt.Strings);
    }

    [Fact]
    public async Task Announces_loopback_when_told_to()
    {
        await using var discovery = Create(new MdnsOptions { AnnounceLoopback = true });

        var txt = Assert.Single(discovery.BuildResponse()!.Additionals.OfType<TxtRecord>());

        Assert.Equal([$"dnsaddr=/ip4/192.168.1.5/tcp/4001/p2p/{_self}", $"dnsaddr=/ip4/127.0.0.1/tcp/4001/p2p/{_self}"], txt.Strings);
    }

    [Fact]
    public void Announces_at_most_16_addresses_each_fitting_a_txt_string()
    {
        var longName = new string('a', 60) + "." + new string('b', 60) + "." + new string('c', 60) + ".example";
        _listenAddresses =
        [
            Multiaddr.Parse($"/dns4/{longName}/tcp/4001"),
            .. Enumerable.Range(1, 30).Select(port => Multiaddr.Parse($"/ip4/192.168.1.5/tcp/{port}")),
        ];

        var txt = Assert.Single(_discovery.BuildResponse()!.Additionals.OfType<TxtRecord>());

        Assert.Equal(16, txt.Strings.Count);
        Assert.All(txt.Strings, text => Assert.InRange(text.Length, 1, 255));
        Assert.DoesNotContain(txt.Strings, text => text.Contains(longName, StringComparison.Ordinal));
    }

    [Fact]
    public void Nothing_worth_announcing_means_no_response()
    {
        _listenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001"), Multiaddr.Parse("/ip6/::1/tcp/4001")];

        Assert.Null(_discovery.BuildResponse());
    }

    [Fact]
    public void Our_own_response_is_not_reported()
    {
        _discovery.HandlePacket(_discovery.BuildResponse()!.Encode());

        Assert.Empty(_reported);
    }

    [Fact]
    public void A_peer_is_reported_once_per_interval_unless_its_addresses_change()
    {
        var peer = RandomPeerId();
        var first = ResponseFrom(peer, "/ip4/192.168.1.9/tcp/4001");

        _discovery.HandlePacket(first);
        _discovery.HandlePacket(first);
        _time.Advance(TimeSpan.FromSeconds(9));
        _discovery.HandlePacket(first);
        Assert.Single(_reported);

        _discovery.HandlePacket(ResponseFrom(peer, "/ip4/192.168.1.9/tcp/4001", "/ip4/192.168.1.9/tcp/4002"));
        Assert.Equal(2, _reported.Count);
        Assert.Equal(2, _reported[^1].Addresses.Count);

        _time.Advance(TimeSpan.FromSeconds(10));
        _discovery.HandlePacket(ResponseFrom(peer, "/ip4/192.168.1.9/tcp/4001", "/ip4/192.168.1.9/tcp/4002"));
        Assert.Equal(3, _reported.Count);
        Assert.All(_reported, reported => Assert.Equal(peer, reported.Peer));
    }

    [Fact]
    public void A_flood_of_responses_is_rate_limited_and_bounded_in_memory()
    {
        var flood = Enumerable.Range(0, 1000).Select(_ => ResponseFrom(RandomPeerId(), "/ip4/192.168.1.9/tcp/4001")).ToList();

        foreach (var packet in flood)
        {
            _discovery.HandlePacket(packet);
        }
        Assert.Equal(MdnsDiscovery.MaxPacketsPerSecond, _reported.Count);

        for (var second = 0; second < 5; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            foreach (var packet in flood.Skip(MdnsDiscovery.MaxPacketsPerSecond * (second + 1)))
            {
                _discovery.HandlePacket(packet);
            }
        }
        Assert.Equal(flood.Count, _reported.Count);
        Assert.Equal(MdnsDiscovery.MaxRememberedPeers, _discovery.RememberedPeerCount);
    }

    [Fact]
    public void A_rate_limited_second_still_admits_the_next_one()
    {
        var peer = RandomPeerId();
        var noise = MdnsProtocol.Query().Encode();
        for (var i = 0; i < MdnsDiscovery.MaxPacketsPerSecond * 3; i++)
        {
            _discovery.HandlePacket(noise);
        }

        _discovery.HandlePacket(ResponseFrom(peer, "/ip4/192.168.1.9/tcp/4001"));
        Assert.Empty(_reported);

        _time.Advance(TimeSpan.FromSeconds(1));
        _discovery.HandlePacket(ResponseFrom(peer, "/ip4/192.168.1.9/tcp/4001"));
        Assert.Equal(peer, Assert.Single(_reported).Peer);
    }

    [Fact]
    public void A_malformed_packet_fails_with_format_exception_and_the_next_one_is_handled()
    {
        var peer = RandomPeerId();

        Assert.Throws<FormatException>(() => _discovery.HandlePacket([0x00, 0x00, 0x84, 0x00, 0xFF, 0xFF]));
        _discovery.HandlePacket(ResponseFrom(peer, "/ip4/192.168.1.9/tcp/4001"));

        Assert.Equal(peer, Assert.Single(_reported).Peer);
    }

    [Fact]
    public async Task A_throwing_handler_does_not_stop_the_others_or_later_reports()
    {
        await using var discovery = Create(Options);
        var seen = new List<PeerId>();
        discovery.PeerDiscovered += (_, _) => throw new InvalidOperationException("subscriber bug");
        discovery.PeerDiscovered += (_, peer) => seen.Add(peer.Peer);
        var first = RandomPeerId();
        var second = RandomPeerId();

        discovery.HandlePacket(ResponseFrom(first, "/ip4/192.168.1.9/tcp/4001"));
        discovery.HandlePacket(ResponseFrom(second, "/ip4/192.168.1.10/tcp/4001"));

        Assert.Equal([first, second], seen);
    }

    [Theory]
    [InlineData("192.168.1.1", null, 5353, 10)]
    [InlineData("224.0.0.251", "::1", 5353, 10)]
    [InlineData("ff02::fb", "127.0.0.1", 5353, 10)]
    [InlineData("224.0.0.251", null, 0, 10)]
    [InlineData("224.0.0.251", null, 70000, 10)]
    [InlineData("224.0.0.251", null, 5353, 0)]
    public void Unusable_options_are_refused(string group, string? local, int port, int intervalSeconds)
    {
        var options = new MdnsOptions
        {
            MulticastGroup = IPAddress.Parse(group),
            LocalInterface = local is null ? null : IPAddress.Parse(local),
            Port = port,
            QueryInterval = TimeSpan.FromSeconds(intervalSeconds),
        };

        Assert.Throws<ArgumentException>(() => new MdnsDiscovery(_self, () => [], options, _time, null));
    }

    private MdnsDiscovery Create(MdnsOptions options)
    {
        var discovery = new MdnsDiscovery(_self, () => _listenAddresses, options, _time, null);
        discovery.PeerDiscovered += (_, peer) => _reported.Add(peer);
        return discovery;
    }

    private static byte[] ResponseFrom(PeerId peer, params string[] addresses) =>
        MdnsProtocol.Response(MdnsProtocol.NewPeerName(), addresses.Select(text => Multiaddr.Parse(text).WithPeerId(peer)).ToList()).Encode();
}
