using System.Diagnostics;
using System.Text.Json;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Net.Host;
using Parley.Testing.Interop;
using Parley.Testing.Simulation;

namespace Parley.Benchmarks;

/// <summary>
/// A loopback network of js-libp2p and Parley DHT nodes (same protocol id, alpha 3, one path on both sides); the
/// same closest-peer lookups run from a Parley node and from a js node, and the medians are compared.
/// </summary>
internal static class DhtLookupBenchmark
{
    public static async Task<(double ParleyMedianMs, double JsMedianMs)?> RunAsync(int perKind, int lookups)
    {
        var js = new List<JsPeer>();
        var parley = new List<(Libp2pHost Host, KademliaNode Node)>();
        try
        {
            try
            {
                js.AddRange(await Task.WhenAll(Enumerable.Range(0, perKind).Select(i =>
                    JsPeer.StartScriptAsync("dht-peer.mjs", $"js-bench/{i}", ["--alpha", "3", "--disjoint-paths", "1"]))));
            }
            catch (Exception e) when (e is JsPeerException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                Console.Error.WriteLine($"DHT benchmark skipped: cannot start js nodes ({e.Message})");
                return null;
            }
            for (var i = 0; i < perKind; i++)
            {
                var host = new Libp2pHost(IdentityKey.Generate(), new HostOptions { ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")] });
                await host.StartAsync(CancellationToken.None);
                var node = new KademliaNode(new NetworkDhtMessenger(host, DhtOptions.ParleyProtocolId), ParleyRecords.CreateValidators(TimeProvider.System), new DhtOptions { RunMaintenance = false });
                node.Start();
                parley.Add((host, node));
            }
            for (var i = 0; i < perKind; i++)
            {
                List<DhtPeer> known = [Contact(js[i]), Contact(js[(i + 1) % perKind])];
                if (i > 0)
                {
                    known.Add(new DhtPeer(parley[i - 1].Host.LocalPeerId, parley[i - 1].Host.ListenAddresses));
                }
                await parley[i].Node.BootstrapAsync(known, CancellationToken.None);
            }
            await Task.WhenAll(js.Select((peer, i) => peer.CommandAsync(
                "dht-bootstrap",
                new { addrs = new[] { Address(parley[i]), Address(parley[(i + 3) % perKind]), js[(i + 1) % perKind].Addresses[0] }, timeoutMs = 120_000 },
                TimeSpan.FromSeconds(180))));
            foreach (var (_, node) in parley)
            {
                await node.FindClosestPeersAsync(node.LocalPeer.Bytes.ToArray(), CancellationToken.None);
            }

            var keys = Enumerable.Range(0, lookups).Select(_ => Multihash.Sha256(Guid.NewGuid().ToByteArray()).Bytes.ToArray()).ToList();
            var searcher = parley[0].Node;
            var jsSearcher = js[0];
            // Warm-up round on other keys: both sides dial the peers they will use.
            foreach (var key in keys.Take(5))
            {
                await searcher.FindClosestPeersAsync(Multihash.Sha256(key).Bytes.ToArray(), CancellationToken.None);
            }
            await jsSearcher.CommandAsync("dht-bench", new { op = "closest", keysHex = keys.Take(5).Select(k => Convert.ToHexString(Multihash.Sha256(k).Bytes)).ToArray(), concurrency = 1 }, TimeSpan.FromMinutes(5));

            // Alternating one lookup on each side, so that both see the same load on a shared machine.
            var parleyLatencies = new List<double>();
            var jsLatencies = new List<double>();
            foreach (var key in keys)
            {
                var started = Stopwatch.GetTimestamp();
                await searcher.FindClosestPeersAsync(key, CancellationToken.None);
                parleyLatencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                var jsResult = await jsSearcher.CommandAsync("dht-bench", new { op = "closest", keysHex = new[] { Convert.ToHexString(key) }, concurrency = 1 }, TimeSpan.FromMinutes(1));
                if (jsResult.GetProperty("succeeded").GetInt32() == 1)
                {
                    jsLatencies.Add(jsResult.GetProperty("medianMs").GetDouble());
                }
            }
            if (jsLatencies.Count == 0)
            {
                throw new InvalidOperationException("every js lookup failed");
            }
            return (new Percentiles(parleyLatencies).P50, new Percentiles(jsLatencies).P50);
        }
        finally
        {
            foreach (var peer in js)
            {
                await peer.DisposeAsync();
            }
            foreach (var (host, node) in parley)
            {
                await node.DisposeAsync();
                await host.DisposeAsync();
            }
        }
    }

    private static DhtPeer Contact(JsPeer peer)
    {
        var address = Multiaddr.Parse(peer.Addresses[0]);
        return new DhtPeer(address.PeerId!, [address.WithoutPeerId()]);
    }

    private static string Address((Libp2pHost Host, KademliaNode Node) node) => node.Host.ListenAddresses[0].WithPeerId(node.Host.LocalPeerId).ToString();
}
