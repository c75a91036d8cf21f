using System.Net;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.AutoNat;
using Parley.Net.Host;
using Parley.Net.Tests.Host;
using Parley.Net.Transport;

namespace Parley.Net.Tests.Nat;

/// <summary>AutoNAT v1 on loopback, observed addresses and address scopes.</summary>
public sealed class AutoNatTests : IAsyncLifetime
{
    private readonly HostFixture _fixture = new();
    private readonly List<AutoNatService> _services = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var service in _services)
        {
            await service.DisposeAsync();
        }
        await _fixture.DisposeAsync();
    }

    [Fact]
    public async Task A_listening_node_is_dialled_back_and_becomes_public()
    {
        var server = await StartAutoNatAsync(await _fixture.StartAsync());
        var client = await StartAutoNatAsync(await _fixture.StartAsync());
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.Host.ConnectAsync(HostFixture.AddressOf(server.Host), cts.Token);
        await client.Host.Identify.IdentifyAsync(server.Host.LocalPeerId, cts.Token);

        var reachable = await client.Service.ProbeAsync(server.Host.LocalPeerId, cts.Token);

        Assert.True(reachable);
        Assert.Equal(Reachability.Public, client.Host.Reachability);
    }

    [Fact]
    public async Task A_node_nobody_can_dial_becomes_private()
    {
        var server = await StartAutoNatAsync(await _fixture.StartAsync());
        var hidden = new Libp2pHost(IdentityKey.Generate(), new HostOptions { ListenAddresses = [] });
        await using var _ = hidden;
        await hidden.StartAsync(CancellationToken.None);
        var client = await StartAutoNatAsync(hidden);
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await hidden.ConnectAsync(HostFixture.AddressOf(server.Host), cts.Token);

        var reachable = await client.Service.ProbeAsync(server.Host.LocalPeerId, cts.Token);

        Assert.False(reachable);
        Assert.Equal(Reachability.Private, hidden.Reachability);
    }

    [Fact]
    public async Task The_server_serves_three_requests_per_peer_a_minute_then_refuses()
    {
        var server = await StartAutoNatAsync(await _fixture.StartAsync());
        var client = await StartAutoNatAsync(await _fixture.StartAsync());
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.Host.ConnectAsync(HostFixture.AddressOf(server.Host), cts.Token);

        var answers = new List<bool?>();
        for (var i = 0; i < 4; i++)
        {
            answers.Add(await client.Service.ProbeAsync(server.Host.LocalPeerId, cts.Token));
        }

        Assert.Equal([true, true, true, null], answers);
    }

    [Fact]
    public async Task Confidence_keeps_one_contrary_answer_from_flipping_the_verdict_until_the_network_changes()
    {
        var server = await StartAutoNatAsync(await _fixture.StartAsync());
        var client = await StartAutoNatAsync(await _fixture.StartAsync());
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await client.Host.ConnectAsync(HostFixture.AddressOf(server.Host), cts.Token);
        for (var i = 0; i < 3; i++)
        {
            Assert.True(await client.Service.ProbeAsync(server.Host.LocalPeerId, cts.Token));
        }

        Assert.Equal(Reachability.Public, client.Host.Reachability);
        Assert.Equal((3, 0), client.Service.Answers);
    }

    [Fact]
    public void An_address_counts_once_peers_at_two_IPs_report_it()
    {
        var observed = new ObservedAddresses(activationThreshold: 2);
        var changes = 0;
        observed.Changed += (_, _) => changes++;
        var us = Multiaddr.Parse("/ip4/8.8.4.4/tcp/4001");

        observed.Record(IdentityKey.Generate().PeerId, Multiaddr.Parse("/ip4/1.1.1.1/tcp/1"), us);
        observed.Record(IdentityKey.Generate().PeerId, Multiaddr.Parse("/ip4/1.1.1.1/tcp/2"), us);
        Assert.Empty(observed.Confirmed);

        var third = IdentityKey.Generate().PeerId;
        observed.Record(third, Multiaddr.Parse("/ip4/9.9.9.9/tcp/1"), us);
        Assert.Equal([us], observed.Confirmed);
        Assert.Equal(1, changes);
        Assert.True(observed.SeenThroughNat([Multiaddr.Parse("/ip4/10.0.0.2/tcp/4001")]));
        Assert.False(observed.SeenThroughNat([us]));

        observed.Forget(third);
        Assert.Empty(observed.Confirmed);
    }

    [Fact]
    public void Behind_a_symmetric_NAT_the_first_peer_that_sees_us_tells_that_we_are_behind_a_NAT()
    {
        // Every peer sees another port, so no address is ever confirmed and Changed never fires: IpSeen must.
        var observed = new ObservedAddresses(activationThreshold: 2);
        var seen = 0;
        var changes = 0;
        observed.IpSeen += (_, _) => seen++;
        observed.Changed += (_, _) => changes++;
        var ours = new[] { Multiaddr.Parse("/ip4/10.0.0.2/tcp/4001") };

        observed.Record(IdentityKey.Generate().PeerId, Multiaddr.Parse("/ip4/1.1.1.1/tcp/1"), Multiaddr.Parse("/ip4/8.8.4.4/tcp/50001"));

        Assert.Equal(1, seen);
        Assert.True(observed.SeenThroughNat(ours));

        observed.Record(IdentityKey.Generate().PeerId, Multiaddr.Parse("/ip4/9.9.9.9/tcp/1"), Multiaddr.Parse("/ip4/8.8.4.4/tcp/50002"));

        Assert.Equal(1, seen);
        Assert.Equal(0, changes);
        Assert.Empty(observed.Confirmed);
    }

    [Fact]
    public void Observations_over_a_relay_or_of_private_addresses_confirm_nothing()
    {
        var observed = new ObservedAddresses(activationThreshold: 1);
        var relayed = Multiaddr.Parse("/ip4/1.1.1.1/tcp/1/p2p/" + IdentityKey.Generate().PeerId + "/p2p-circuit");
        observed.Record(IdentityKey.Generate().PeerId, relayed, Multiaddr.Parse("/ip4/8.8.4.4/tcp/4001"));
        observed.Record(IdentityKey.Generate().PeerId, Multiaddr.Parse("/ip4/10.0.0.1/tcp/1"), Multiaddr.Parse("/ip4/10.0.0.2/tcp/4001"));

        Assert.Empty(observed.Confirmed);
        Assert.Equal(AddressScope.Private, observed.WidestScope);
    }

    [Theory]
    [InlineData("127.0.0.1", AddressScope.Loopback)]
    [InlineData("::1", AddressScope.Loopback)]
    [InlineData("10.1.2.3", AddressScope.Private)]
    [InlineData("172.31.0.1", AddressScope.Private)]
    [InlineData("192.168.1.1", AddressScope.Private)]
    [InlineData("100.64.0.1", AddressScope.Private)]
    [InlineData("169.254.1.1", AddressScope.Private)]
    [InlineData("203.0.113.5", AddressScope.Private)]
    [InlineData("fe80::1", AddressScope.Private)]
    [InlineData("fd00::1", AddressScope.Private)]
    [InlineData("8.8.8.8", AddressScope.Public)]
    [InlineData("172.32.0.1", AddressScope.Public)]
    [InlineData("2606:4700::1111", AddressScope.Public)]
    public void Address_scopes(string address, AddressScope scope)
    {
        Assert.Equal(scope, AddressScopes.Of(IPAddress.Parse(address)));
    }

    private async Task<(Libp2pHost Host, AutoNatService Service)> StartAutoNatAsync(Libp2pHost host)
    {
        var service = new AutoNatService(host, new AutoNatOptions { FirstProbeDelay = TimeSpan.FromHours(1), RefreshInterval = TimeSpan.FromHours(1) });
        service.Start();
        _services.Add(service);
        return (host, service);
    }
}
