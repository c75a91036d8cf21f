using System.Net;
using Parley.Core.Identity;
using Parley.Dht.Keys;
using Parley.Dht.Routing;
using Parley.Testing;

namespace Parley.Dht.Tests.Routing;

public class DiversityTests
{
    private static readonly RoutingTableOptions Strict = new() { DiversityExempt = RoutingTableOptions.NoDiversityExemption };

    private readonly ManualTimeProvider _time = new();
    private readonly Random _rng = new(7);

    private RoutingTable NewTable(RoutingTableOptions options) => new(TestPeers.Random(_rng), options, _time);

    private PeerId In(RoutingTable table, int bucket) => TestPeers.InBucket(table.LocalId, bucket, _rng);

    [Fact]
    public void At_most_two_peers_of_one_ipv4_slash16_per_bucket()
    {
        var table = NewTable(Strict);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("8.8.1.1")]).Outcome);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("8.8.200.2")]).Outcome);
        var third = table.TryAdd(In(table, 0), [TestPeers.Tcp("8.8.3.3")]);
        Assert.Equal(AddOutcome.Rejected, third.Outcome);
        Assert.Equal(AddRejection.SubnetLimitInBucket, third.Reason);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("8.9.3.3")]).Outcome);
        Assert.Equal(3, table.Count);
    }

    [Fact]
    public void At_most_three_peers_of_one_subnet_in_the_table()
    {
        var table = NewTable(Strict);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("44.1.0.1")]).Outcome);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("44.1.0.2")]).Outcome);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 1), [TestPeers.Tcp("44.1.0.3")]).Outcome);
        var fourth = table.TryAdd(In(table, 2), [TestPeers.Tcp("44.1.0.4")]);
        Assert.Equal(AddOutcome.Rejected, fourth.Outcome);
        Assert.Equal(AddRejection.SubnetLimitInTable, fourth.Reason);
    }

    [Fact]
    public void Ipv6_peers_are_grouped_by_slash32()
    {
        var table = NewTable(Strict);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("2a01:4f8:1::1")]).Outcome);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("2a01:4f8:ffff::2")]).Outcome);
        Assert.Equal(AddRejection.SubnetLimitInBucket, table.TryAdd(In(table, 0), [TestPeers.Tcp("2a01:4f8:2::3")]).Reason);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("2a01:4f9::3")]).Outcome);
        // An IPv4-mapped IPv6 address counts as its IPv4 address.
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("9.9.0.1")]).Outcome);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("::ffff:9.9.0.2")]).Outcome);
        Assert.Equal(AddRejection.SubnetLimitInBucket, table.TryAdd(In(table, 0), [TestPeers.Tcp("9.9.0.3")]).Reason);
    }

    [Fact]
    public void A_peer_counts_against_every_subnet_it_has_an_address_in()
    {
        var table = NewTable(Strict);
        table.TryAdd(In(table, 0), [TestPeers.Tcp("50.1.0.1"), TestPeers.Tcp("60.1.0.1")]);
        table.TryAdd(In(table, 0), [TestPeers.Tcp("60.1.0.2")]);
        Assert.Equal(AddRejection.SubnetLimitInBucket, table.TryAdd(In(table, 0), [TestPeers.Tcp("70.1.0.1"), TestPeers.Tcp("60.1.0.3")]).Reason);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("50.1.0.2")]).Outcome);
    }

    [Fact]
    public void Loopback_and_private_addresses_are_exempt_by_default()
    {
        var table = NewTable(new RoutingTableOptions());
        foreach (var ip in new[] { "127.0.0.1", "127.0.0.1", "127.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.3", "192.168.1.1", "192.168.1.2", "192.168.1.3", "::1", "::1", "::1", "fe80::1", "fe80::2", "fe80::3", "fd00::1", "fd00::2", "fd00::3" })
        {
            Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp(ip)]).Outcome);
        }
        // A name says nothing about the subnet: it neither counts nor blocks.
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 1), [Core.Multiformats.Multiaddr.Parse("/dns4/example.com/tcp/1")]).Outcome);

        var strict = NewTable(Strict);
        strict.TryAdd(In(strict, 0), [TestPeers.Tcp("127.0.0.1")]);
        strict.TryAdd(In(strict, 0), [TestPeers.Tcp("127.0.0.1")]);
        Assert.Equal(AddRejection.SubnetLimitInBucket, strict.TryAdd(In(strict, 0), [TestPeers.Tcp("127.0.0.1")]).Reason);
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.16.0.1", true)]
    [InlineData("172.31.255.255", true)]
    [InlineData("172.32.0.1", false)]
    [InlineData("192.168.0.1", true)]
    [InlineData("169.254.1.1", true)]
    [InlineData("100.64.0.1", true)]
    [InlineData("100.128.0.1", false)]
    [InlineData("0.0.0.0", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("::1", true)]
    [InlineData("::", true)]
    [InlineData("fe80::1", true)]
    [InlineData("fc00::1", true)]
    [InlineData("2001:4860::8888", false)]
    [InlineData("::ffff:10.0.0.1", true)]
    [InlineData("::ffff:8.8.8.8", false)]
    public void Local_address_classification(string ip, bool local)
    {
        Assert.Equal(local, RoutingTableOptions.IsLocalAddress(IPAddress.Parse(ip)));
    }

    [Fact]
    public void Removing_a_peer_frees_its_subnet_places()
    {
        var table = NewTable(Strict);
        var a = In(table, 0);
        table.TryAdd(a, [TestPeers.Tcp("80.1.0.1")]);
        table.TryAdd(In(table, 0), [TestPeers.Tcp("80.1.0.2")]);
        Assert.Equal(AddOutcome.Rejected, table.TryAdd(In(table, 0), [TestPeers.Tcp("80.1.0.3")]).Outcome);
        table.Remove(a);
        Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, 0), [TestPeers.Tcp("80.1.0.3")]).Outcome);
    }

    [Fact]
    public void New_addresses_of_a_known_peer_count_from_then_on()
    {
        var table = NewTable(Strict);
        var a = In(table, 0);
        table.TryAdd(a, [TestPeers.Tcp("90.1.0.1")]);
        Assert.Equal(AddOutcome.Updated, table.TryAdd(a, [TestPeers.Tcp("91.1.0.1")]).Outcome);
        table.TryAdd(In(table, 0), [TestPeers.Tcp("91.1.0.2")]);
        Assert.Equal(AddRejection.SubnetLimitInBucket, table.TryAdd(In(table, 0), [TestPeers.Tcp("91.1.0.3")]).Reason);
    }

    [Fact]
    public void Promotion_skips_waiting_peers_that_now_break_the_limits()
    {
        var table = NewTable(Strict with { BucketSize = 3 });
        var a = In(table, 0);
        table.TryAdd(a, [TestPeers.Tcp("1.1.0.1")]);
        table.TryAdd(In(table, 0), [TestPeers.Tcp("2.2.0.1")]);
        table.TryAdd(In(table, 0), [TestPeers.Tcp("3.3.0.1")]);
        _time.Advance(table.Options.GoodFor);
        var older = In(table, 0);
        Assert.Equal(AddOutcome.PendingLivenessCheck, table.TryAdd(older, [TestPeers.Tcp("5.5.0.1")]).Outcome);
        _time.Advance(TimeSpan.FromSeconds(1));
        var newer = In(table, 0);
        Assert.Equal(AddOutcome.Queued, table.TryAdd(newer, [TestPeers.Tcp("6.6.0.1")]).Outcome);
        // Meanwhile 6.6/16 fills its table-wide quota elsewhere.
        for (var bucket = 1; bucket <= 3; bucket++)
        {
            Assert.Equal(AddOutcome.Added, table.TryAdd(In(table, bucket), [TestPeers.Tcp($"6.6.0.{bucket + 1}")]).Outcome);
        }

        table.ReportLiveness(a, alive: false);
        Assert.NotNull(table.Find(older));
        Assert.Null(table.Find(newer));
    }
}
