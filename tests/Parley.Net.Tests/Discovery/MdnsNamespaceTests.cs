using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Discovery;
using static Parley.Net.Tests.Discovery.DiscoveryTestData;

namespace Parley.Net.Tests.Discovery;

/// <summary>
/// Two discovery instances on real sockets find each other, inside a network namespace each test creates and
/// deletes, so that no multicast reaches the machine's interfaces.
/// </summary>
public sealed class MdnsNamespaceTests
{
    private static readonly TimeSpan QueryInterval = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan DiscoveryDeadline = TimeSpan.FromSeconds(5);

    [NetworkNamespaceFact]
    public async Task Two_instances_find_each_other_over_ipv4_on_loopback()
    {
        using var space = NetworkNamespace.Create();
        space.Ip("link set lo up");
        space.Ip("link set lo multicast on");
        space.Ip("route add 224.0.0.0/4 dev lo");
        var options = new MdnsOptions { LocalInterface = IPAddress.Loopback, AnnounceLoopback = true, QueryInterval = QueryInterval };

        await AssertPairDiscoversEachOtherAsync(space, options, options, "/ip4/127.0.0.1/tcp/4101", "/ip4/127.0.0.1/tcp/4102");
    }

    [NetworkNamespaceFact]
    public async Task Two_instances_find_each_other_over_ipv6_across_a_veth_pair()
    {
        // Linux loopback does not deliver IPv6 multicast, so each instance gets one end of a veth pair.
        using var space = NetworkNamespace.Create();
        space.Ip("link set lo up");
        space.Ip("link add mdns0 type veth peer name mdns1");
        space.Ip("addr add fd00:6d64:6e73::1/64 dev mdns0 nodad");
        space.Ip("addr add fd00:6d64:6e73::2/64 dev mdns1 nodad");
        space.Ip("link set mdns0 up");
        space.Ip("link set mdns1 up");
        var first = new MdnsOptions { MulticastGroup = MdnsOptions.Ipv6Group, LocalInterface = IPAddress.Parse("fd00:6d64:6e73::1"), QueryInterval = QueryInterval };
        var second = new MdnsOptions { MulticastGroup = MdnsOptions.Ipv6Group, LocalInterface = IPAddress.Parse("fd00:6d64:6e73::2"), QueryInterval = QueryInterval };

        await AssertPairDiscoversEachOtherAsync(space, first, second, "/ip6/fd00:6d64:6e73::1/tcp/4101", "/ip6/fd00:6d64:6e73::2/tcp/4102");
    }

    private static async Task AssertPairDiscoversEachOtherAsync(NetworkNamespace space, MdnsOptions firstOptions, MdnsOptions secondOptions, string firstAddress, string secondAddress)
    {
        var firstPeer = RandomPeerId();
        var secondPeer = RandomPeerId();
        await using var first = new MdnsDiscovery(firstPeer, () => [Multiaddr.Parse(firstAddress)], firstOptions, TimeProvider.System, null);
        await using var second = new MdnsDiscovery(secondPeer, () => [Multiaddr.Parse(secondAddress)], secondOptions, TimeProvider.System, null);
        var heardByFirst = new ConcurrentQueue<MdnsPeer>();
        var heardBySecond = new ConcurrentQueue<MdnsPeer>();
        first.PeerDiscovered += (_, peer) => heardByFirst.Enqueue(peer);
        second.PeerDiscovered += (_, peer) => heardBySecond.Enqueue(peer);

        var firstSocket = space.RunInside(() => MdnsDiscovery.OpenSocket(firstOptions));
        first.Start(firstSocket);
        var secondSocket = space.RunInside(() => MdnsDiscovery.OpenSocket(secondOptions));
        second.Start(secondSocket);

        var stopwatch = Stopwatch.StartNew();
        while (!(Heard(heardByFirst, secondPeer) && Heard(heardBySecond, firstPeer)) && stopwatch.Elapsed < DiscoveryDeadline)
        {
            await Task.Delay(50);
        }
        // A few more query rounds, in which either would have reported itself if it ever did.
        await Task.Delay(QueryInterval * 4);

        // Each hears only the other (again once per interval), always at exactly the address it announced.
        Assert.Contains(heardByFirst, peer => peer.Peer == secondPeer);
        Assert.All(heardByFirst, peer => Assert.Equal(secondPeer, peer.Peer));
        Assert.All(heardByFirst, peer => Assert.Equal([Multiaddr.Parse(secondAddress)], peer.Addresses));
        Assert.Contains(heardBySecond, peer => peer.Peer == firstPeer);
        Assert.All(heardBySecond, peer => Assert.Equal(firstPeer, peer.Peer));
        Assert.All(heardBySecond, peer => Assert.Equal([Multiaddr.Parse(firstAddress)], peer.Addresses));
    }

    private static bool Heard(IEnumerable<MdnsPeer> heard, PeerId peer) => heard.Any(found => found.Peer == peer);
}
