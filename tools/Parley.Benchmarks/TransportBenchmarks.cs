using System.Diagnostics;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Net.Host;

namespace Parley.Benchmarks;

internal static class TransportBenchmarks
{
    private const string SinkProtocol = "/parley/sink/1.0.0";

    /// <summary>Pushes <paramref name="bytes"/> through one stream to a host that only counts them.</summary>
    public static async Task<double> ThroughputMBpsAsync(long bytes)
    {
        await using var server = await StartHostAsync();
        await using var client = await StartHostAsync();
        var received = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        server.SetStreamHandler(SinkProtocol, async (stream, ct) =>
        {
            var buffer = new byte[256 * 1024];
            long total = 0;
            int read;
            while ((read = await stream.ReadAsync(buffer, ct)) > 0)
            {
                total += read;
            }
            received.TrySetResult(total);
        });
        await client.ConnectAsync(server.ListenAddresses[0].WithPeerId(server.LocalPeerId), CancellationToken.None);
        await using var stream = await client.OpenStreamAsync(server.LocalPeerId, [SinkProtocol], CancellationToken.None);
        var chunk = new byte[256 * 1024];
        Random.Shared.NextBytes(chunk);
        var started = Stopwatch.GetTimestamp();
        for (long sent = 0; sent < bytes; sent += chunk.Length)
        {
            await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, bytes - sent)));
        }
        await stream.CloseWriteAsync(CancellationToken.None);
        var total = await received.Task.WaitAsync(TimeSpan.FromMinutes(5));
        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return total / seconds / 1e6;
    }

    /// <summary>Sequential fresh connections from new identities, each complete once identify has answered.</summary>
    public static async Task<double> HandshakesPerSecondAsync(int count)
    {
        await using var server = await StartHostAsync();
        var address = server.ListenAddresses[0].WithPeerId(server.LocalPeerId);
        await using (var warmup = await StartHostAsync(listen: false))
        {
            await warmup.ConnectAsync(address, CancellationToken.None);
            await warmup.Identify.IdentifyAsync(server.LocalPeerId, CancellationToken.None);
        }
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            await using var client = await StartHostAsync(listen: false);
            await client.ConnectAsync(address, CancellationToken.None);
            await client.Identify.IdentifyAsync(server.LocalPeerId, CancellationToken.None);
        }
        return count / Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private static async Task<Libp2pHost> StartHostAsync(bool listen = true)
    {
        var host = new Libp2pHost(IdentityKey.Generate(), new HostOptions
        {
            ListenAddresses = listen ? [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")] : [],
        });
        await host.StartAsync(CancellationToken.None);
        return host;
    }
}
