using System.Diagnostics;
using System.Globalization;
using System.Text;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Net.Host;
using Parley.Net.Relay;
using Parley.Testing;

namespace Parley.Benchmarks;

/// <summary>What relaying costs and whether its limits hold under floods, on loopback.</summary>
internal sealed record RelayCost(
    int Messages,
    int MessageBytes,
    double RelayedBytesPerMessage,
    double CpuMicrosPerMessageRelayed,
    double CpuMicrosPerMessageDirect,
    int FloodReservationsAsked,
    int FloodReservationsRefused,
    int ManyPeers,
    int ManyPeersReserved,
    int MaxReservations,
    int FloodCircuitsAsked,
    int FloodCircuitsOpened,
    int MaxCircuitsPerPeer);

/// <summary>
/// A relay on loopback with go-libp2p's default limits: chat-sized messages echoed through one circuit (300 of them fit its 128 KiB) (CPU of the whole
/// process per message, relayed against direct, so the difference is the relay's work, and the bytes the relay
/// copied per message); then one peer flooding reservation requests, many peers reserving at once, and one peer
/// opening circuits to a reserved peer until refused.
/// </summary>
internal static class RelayBenchmark
{
    public static async Task<RelayCost> RunAsync(int messages, int messageBytes = 300, int manyPeers = 160)
    {
        var hosts = new List<Libp2pHost>();
        var options = new RelayOptions();
        try
        {
            var relay = await StartAsync(hosts);
            using var service = new RelayService(relay, options);
            service.Start();
            var alice = await StartAsync(hosts);
            alice.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
            var bob = await StartAsync(hosts);
            using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await alice.ConnectAsync(Address(relay), cts.Token);
            var reservation = await alice.Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
            await bob.ConnectAsync(reservation.CircuitAddresses[0].WithPeerId(alice.LocalPeerId), cts.Token);
            var before = service.Statistics.BytesRelayed;
            var relayedCpu = await EchoCpuMicrosAsync(bob, alice.LocalPeerId, messages, messageBytes, cts.Token);
            var relayedBytes = (double)(service.Statistics.BytesRelayed - before) / messages;
            var carol = await StartAsync(hosts);
            carol.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
            await bob.ConnectAsync(Address(carol), cts.Token);
            var directCpu = await EchoCpuMicrosAsync(bob, carol.LocalPeerId, messages, messageBytes, cts.Token);

            // One peer asks for a reservation over and over.
            var flooder = await StartAsync(hosts);
            await flooder.ConnectAsync(Address(relay), cts.Token);
            var asked = 1000;
            var refused = 0;
            for (var i = 0; i < asked; i++)
            {
                try
                {
                    await flooder.Relay.ReserveAsync(relay.LocalPeerId, cts.Token);
                }
                catch (RelayRefusedException)
                {
                    refused++;
                }
            }

            // Many peers at once (from 127.0.0.1 each: the per-IP limit is lifted for this part to test the total).
            using var crowdRelay = new RelayService(await StartAsync(hosts), new RelayOptions { MaxReservationsPerIp = int.MaxValue });
            crowdRelay.Start();
            var crowdHost = hosts[^1];
            var crowd = new List<Libp2pHost>();
            for (var i = 0; i < manyPeers; i++)
            {
                // Connected one by one: the host admits only 8 pending handshakes per IP, and this is about the relay's limits.
                var peer = await StartAsync(hosts);
                await peer.ConnectAsync(Address(crowdHost), cts.Token);
                crowd.Add(peer);
            }
            var outcomes = await Task.WhenAll(crowd.Select(async peer =>
            {
                try
                {
                    await peer.Relay.ReserveAsync(crowdHost.LocalPeerId, cts.Token);
                    return true;
                }
                catch (PeerConnectionException)
                {
                    return false;
                }
            }));
            var reserved = outcomes.Count(ok => ok);

            // One peer opens circuits to alice until the relay says no.
            var circuitAsked = 40;
            var opened = 0;
            var target = reservation.CircuitAddresses[0].WithPeerId(alice.LocalPeerId);
            for (var i = 0; i < circuitAsked; i++)
            {
                var dialer = await StartAsync(hosts);
                try
                {
                    await dialer.ConnectAsync(target, cts.Token);
                    opened++;
                }
                catch (RelayRefusedException)
                {
                    // Refused: the per-peer circuit limit on alice.
                }
            }
            return new RelayCost(messages, messageBytes, relayedBytes, relayedCpu, directCpu, asked, refused, manyPeers, reserved, options.MaxReservations, circuitAsked, opened, options.MaxCircuitsPerPeer);
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }

    public static string Describe(RelayCost cost) => string.Create(CultureInfo.InvariantCulture, $"""
        relay cost, {cost.Messages} echoed messages of {cost.MessageBytes} bytes: {cost.RelayedBytesPerMessage:0} bytes relayed per message (both ways, Noise and yamux included), CPU {cost.CpuMicrosPerMessageRelayed:0} us per message relayed vs {cost.CpuMicrosPerMessageDirect:0} us direct (all three nodes in one process)
        relay limits: one peer asking {cost.FloodReservationsAsked} reservations: {cost.FloodReservationsRefused} refused; {cost.ManyPeers} peers reserving at once: {cost.ManyPeersReserved} reserved (limit {cost.MaxReservations}); {cost.FloodCircuitsAsked} more circuits to a peer that already has one: {cost.FloodCircuitsOpened} opened (limit {cost.MaxCircuitsPerPeer} per peer)
        """);

    private static async Task<double> EchoCpuMicrosAsync(Libp2pHost from, PeerId to, int messages, int size, CancellationToken cancellationToken)
    {
        var payload = Encoding.UTF8.GetBytes(new string('m', size));
        var echo = new byte[size];
        await using var stream = await from.OpenStreamAsync(to, [EchoProtocol.Id], cancellationToken);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < messages; i++)
        {
            await stream.WriteAsync(payload, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            await stream.ReadExactlyAsync(echo, cancellationToken);
        }
        return (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMicroseconds / messages;
    }

    private static async Task<Libp2pHost> StartAsync(List<Libp2pHost> hosts)
    {
        var host = new Libp2pHost(IdentityKey.Generate(), new HostOptions { ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")] });
        hosts.Add(host);
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    private static Multiaddr Address(Libp2pHost host) => host.ListenAddresses[0].WithPeerId(host.LocalPeerId);
}
