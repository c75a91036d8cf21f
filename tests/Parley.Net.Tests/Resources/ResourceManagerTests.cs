using System.Net;
using Parley.Core.Identity;
using Parley.Net.Resources;

namespace Parley.Net.Tests.Resources;

public sealed class ResourceManagerTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7/32", "203.0.113.0/24")]
    [InlineData("::ffff:203.0.113.7", "203.0.113.7/32", "203.0.113.0/24")]
    [InlineData("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64", "2001:db8:1::/48")]
    public void Sources_are_counted_by_address_and_subnet(string address, string expectedAddress, string expectedSubnet)
    {
        var source = Source.Of(IPAddress.Parse(address), []);
        Assert.Equal((expectedAddress, expectedSubnet, false), (source.Address, source.Subnet, source.Exempt));
        Assert.True(Source.Of(IPAddress.Loopback, new ResourceLimits().ExemptNetworks).Exempt);
    }

    [Fact]
    public void Stream_windows_are_reserved_per_peer_and_released()
    {
        var manager = new ResourceManager(new ResourceLimits { MaxBufferedBytesPerPeer = 1000, MaxBufferedBytes = 1500 });
        using var dial = manager.TryBeginOutbound()!;
        using var lease = dial.Complete(IdentityKey.Generate().PeerId)!;
        using var other = manager.TryBeginOutbound()!.Complete(IdentityKey.Generate().PeerId)!;

        Assert.True(lease.TryReserve(1000));
        Assert.False(lease.TryReserve(1));
        Assert.True(other.TryReserve(500));
        Assert.False(other.TryReserve(1));
        lease.Release(1000);
        Assert.True(other.TryReserve(500));
        Assert.Equal(1000, manager.Usage.BufferedBytes);
        Assert.Equal((1, 1), (manager.Usage.Refusals[Refusal.MemoryPerPeer], manager.Usage.Refusals[Refusal.Memory]));
    }

    [Fact]
    public void A_peer_has_at_most_its_connections()
    {
        var manager = new ResourceManager(new ResourceLimits { MaxConnectionsPerPeer = 2 });
        var peer = IdentityKey.Generate().PeerId;
        var first = manager.TryBeginOutbound()!.Complete(peer);
        var second = manager.TryBeginOutbound()!.Complete(peer);
        var third = manager.TryBeginOutbound()!;
        Assert.NotNull(first);
        Assert.NotNull(second);
        Assert.Null(third.Complete(peer));
        // A failed dial gives its outbound slot back.
        third.Dispose();
        first.Dispose();
        Assert.NotNull(manager.TryBeginOutbound()!.Complete(peer));
        Assert.Equal(2, manager.Usage.OutboundConnections);
    }

    [Fact]
    public void Connections_a_relay_brings_count_toward_the_totals_but_not_toward_the_relays_address()
    {
        var manager = new ResourceManager(new ResourceLimits { ExemptNetworks = [], MaxInboundConnectionsPerAddress = 1, MaxPendingHandshakesPerAddress = 1, MaxInboundConnections = 3 });
        var relay = IdentityKey.Generate().PeerId;

        var peers = Enumerable.Range(0, 3).Select(_ => IdentityKey.Generate().PeerId).ToList();
        var pending = peers.Select(p => manager.TryBeginRelayedInbound(relay, p)).ToList();
        Assert.All(pending, Assert.NotNull);
        Assert.Equal(3, manager.Usage.PendingHandshakes);
        var leases = pending.Zip(peers, (p, peer) => p!.Complete(peer)).ToList();
        Assert.All(leases, Assert.NotNull);
        Assert.Equal(3, manager.Usage.InboundConnections);
        // The host's inbound total holds for them as for any other connection, refused before the handshake.
        Assert.Null(manager.TryBeginRelayedInbound(relay, IdentityKey.Generate().PeerId));
        Assert.Equal(1, manager.Usage.Refusals[Refusal.InboundConnections]);
        leases[0]!.Dispose();
        Assert.Equal(2, manager.Usage.InboundConnections);
        Assert.Equal(0, manager.Usage.Refusals[Refusal.ConnectionsPerAddress] + manager.Usage.Refusals[Refusal.PendingHandshakesPerAddress]);
    }

    [Fact]
    public void The_trimmer_keeps_protected_and_young_connections_and_drops_the_least_valuable_first()
    {
        var limits = new ResourceLimits { LowWatermark = 2, HighWatermark = 3, GracePeriod = TimeSpan.FromMinutes(1) };
        var tags = new PeerTags();
        var peers = Enumerable.Range(0, 6).Select(_ => IdentityKey.Generate().PeerId).ToArray();
        var old = Now - TimeSpan.FromMinutes(5);
        var open = new List<TrimCandidate>
        {
            new("protected", peers[0], old, 0, old),
            new("young", peers[1], Now, 0, old),
            new("valuable", peers[2], old, 0, old),
            new("busy", peers[3], old, 5, old),
            new("idle", peers[4], old, 0, old),
            new("recent", peers[5], old, 0, Now),
        };
        tags.Protect(peers[0], "kad");
        tags.TagPeer(peers[2], "contact", 10);

        var chosen = ConnectionTrimmer.Choose(open, tags, limits, Now).Select(c => (string)c.Connection).ToList();

        Assert.Equal(["idle", "recent", "busy", "valuable"], chosen);
        Assert.Empty(ConnectionTrimmer.Choose(open.Take(3).ToList(), tags, limits, Now));
        Assert.False(tags.Unprotect(peers[0], "kad"));
        tags.AddProtector(p => p == peers[4]);
        Assert.DoesNotContain("idle", ConnectionTrimmer.Choose(open, tags, limits, Now).Select(c => (string)c.Connection));
    }
}
