using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Parley.Benchmarks;

// Prints the transport figures the foundation issue asks for: one-stream throughput, handshakes per second
// (C# and js-libp2p in the same run), and the resident memory of one idle node; the chat crypto costs and the
// chat's delivery figures on loopback.
var command = args.Length > 0 ? args[0] : "all";
var bytes = ReadOption(args, "--bytes", 256L * 1024 * 1024);
var count = (int)ReadOption(args, "--count", 200);
var results = new Dictionary<string, object?>();

if (command is "all" or "throughput")
{
    var csharp = await TransportBenchmarks.ThroughputMBpsAsync(bytes);
    var js = await JsBench.RunAsync("throughput", "--bytes", bytes.ToString(CultureInfo.InvariantCulture));
    var jsMBps = js?.GetProperty("throughputMBps").GetDouble();
    results["throughput"] = new { bytes, csharpMBps = Math.Round(csharp, 1), jsMBps = jsMBps is null ? (double?)null : Math.Round(jsMBps.Value, 1), ratio = jsMBps is > 0 ? Math.Round(csharp / jsMBps.Value, 2) : (double?)null };
    Console.WriteLine($"throughput, one Noise+yamux stream on loopback: C# {csharp:0.0} MB/s, js {Format(jsMBps)} MB/s, ratio {Ratio(csharp, jsMBps)}");
}
if (command is "all" or "handshakes")
{
    var csharp = await TransportBenchmarks.HandshakesPerSecondAsync(count);
    var js = await JsBench.RunAsync("handshakes", "--count", count.ToString(CultureInfo.InvariantCulture));
    var jsRate = js?.GetProperty("handshakesPerSecond").GetDouble();
    results["handshakes"] = new { count, csharpPerSecond = Math.Round(csharp, 1), jsPerSecond = jsRate is null ? (double?)null : Math.Round(jsRate.Value, 1), ratio = jsRate is > 0 ? Math.Round(csharp / jsRate.Value, 2) : (double?)null };
    Console.WriteLine($"handshakes (dial + noise + yamux + identify), sequential: C# {csharp:0.0}/s, js {Format(jsRate)}/s, ratio {Ratio(csharp, jsRate)}");
}
if (command is "all" or "dht")
{
    var lookups = (int)ReadOption(args, "--lookups", 50);
    var medians = await DhtLookupBenchmark.RunAsync(20, lookups);
    results["dhtLookups"] = medians is null ? null : new { nodesPerKind = 20, lookups, parleyMedianMs = Math.Round(medians.Value.ParleyMedianMs, 1), jsMedianMs = Math.Round(medians.Value.JsMedianMs, 1), ratio = Math.Round(medians.Value.ParleyMedianMs / medians.Value.JsMedianMs, 2) };
    Console.WriteLine(medians is null
        ? "DHT lookups: skipped"
        : $"DHT closest-peer lookups on 20 js + 20 Parley loopback nodes, median: Parley {medians.Value.ParleyMedianMs:0.0} ms, js {medians.Value.JsMedianMs:0.0} ms, ratio {medians.Value.ParleyMedianMs / medians.Value.JsMedianMs:0.00} (goal: at most 0.5)");
}
if (command is "all" or "memory")
{
    var idle = await IdleNodeMemory.MeasureAsync(ReadText(args, "--cli"));
    results["idleNode"] = idle?.Select(r => new { folder = r.Folder, rssMiB = Math.Round(r.RssMegabytes, 1), startMs = Math.Round(r.StartMilliseconds), threads = r.Threads }).ToList();
    foreach (var result in idle ?? [])
    {
        Console.WriteLine($"idle node ({result.Folder}) resident memory after {IdleNodeMemory.Settle.TotalSeconds:0} s: {result.RssMegabytes:0.0} MiB, up (API answering) after {result.StartMilliseconds:0} ms, {result.Threads} threads (goal: at most 50 MB)");
    }
}
if (command is "all" or "crypto")
{
    var crypto = CryptoBenchmark.Run((int)ReadOption(args, "--iterations", 20_000));
    results["crypto"] = crypto;
    Console.WriteLine(CryptoBenchmark.Describe(crypto));
}
if (command is "all" or "sim-runtime")
{
    var runtime = SimulationRuntimeBenchmark.Run((int)ReadOption(args, "--posts", 2_000_000), (int)ReadOption(args, "--yields", 1_000_000));
    results["simulatorRuntime"] = new { posts = runtime.Posts, postsPerSecond = Math.Round(runtime.PostsPerSecond), yields = runtime.Yields, resumptionsPerSecond = Math.Round(runtime.ResumptionsPerSecond) };
    Console.WriteLine(SimulationRuntimeBenchmark.Describe(runtime));
}
if (command is "all" or "ratchet")
{
    var ratchet = RatchetBenchmark.Run((int)ReadOption(args, "--messages", 50_000));
    results["ratchet"] = new
    {
        messages = ratchet.Messages,
        encryptMicros = Math.Round(ratchet.EncryptMicros, 2),
        decryptMicros = Math.Round(ratchet.DecryptMicros, 2),
        ratchetSteps = ratchet.RatchetSteps,
        encryptAfterDhStepMicros = Math.Round(ratchet.EncryptAfterDhStepMicros, 2),
        decryptWithDhStepMicros = Math.Round(ratchet.DecryptWithDhStepMicros, 2),
        sealMicros = Math.Round(ratchet.SealMicros, 2),
        openMicros = Math.Round(ratchet.OpenMicros, 2),
    };
    Console.WriteLine(RatchetBenchmark.Describe(ratchet));
}
if (command is "all" or "chat")
{
    var chat = await ChatBenchmark.RunAsync((int)ReadOption(args, "--nodes", 10), (int)ReadOption(args, "--samples", 200), (int)ReadOption(args, "--chat-messages", 5000), args.Contains("--allocations"));
    results["chat"] = chat;
    Console.WriteLine(ChatBenchmark.Describe(chat));
}
if (command is "all" or "groups")
{
    var sample = (int)ReadOption(args, "--sample", 10);
    var rooms = new List<object>();
    foreach (var members in new[] { 100, 1000 })
    {
        var group = GroupBenchmark.Run(members, sample);
        rooms.Add(new
        {
            members = group.Members,
            sampledMembers = group.Sampled,
            encryptMicros = Math.Round(group.EncryptMicros, 1),
            decryptMicros = Math.Round(group.DecryptMicros, 1),
            ciphertextBytes = group.CiphertextBytes,
            pairwiseFanOutMs = Math.Round(group.PairwiseFanOutMicros / 1000, 2),
            removerCpuMs = Math.Round(group.RemoverCpuMs, 1),
            removerWallMs = Math.Round(group.RemoverWallMs, 1),
            distributionBytes = group.DistributionBytes,
            memberCpuMeanMs = Math.Round(group.MemberCpuMeanMs, 1),
            memberCpuMaxMs = Math.Round(group.MemberCpuMaxMs, 1),
            memberInboundCpuMeanMs = Math.Round(group.MemberInboundCpuMeanMs, 1),
            memberInboundWithDhStepsCpuMeanMs = Math.Round(group.MemberInboundWithDhStepsCpuMeanMs, 1),
            allMembersCpuSeconds = Math.Round(group.AllMembersCpuSeconds, 2),
        });
        Console.WriteLine(GroupBenchmark.Describe(group));
    }
    results["groups"] = rooms;
}
if (command is "rooms")
{
    var rooms = new List<RoomDeliveryBenchmark.Result>();
    foreach (var members in (args.Length > 1 && int.TryParse(args[1], CultureInfo.InvariantCulture, out var only) ? [only] : new[] { 20, 100 }))
    {
        var room = await RoomDeliveryBenchmark.RunAsync(members);
        rooms.Add(room);
        Console.WriteLine(RoomDeliveryBenchmark.Describe(room));
    }
    results["rooms"] = rooms;
}
if (command is "all" or "link")
{
    var link = await LinkBenchmark.RunAsync((int)ReadOption(args, "--contacts", 50), (int)ReadOption(args, "--messages-per-contact", 90), (int)ReadOption(args, "--rooms", 5), (int)ReadOption(args, "--room-messages", 100), (int)ReadOption(args, "--runs", 5));
    results["link"] = link;
    Console.WriteLine(LinkBenchmark.Describe(link));
}
if (command is "all" or "devices")
{
    var fanout = new List<DeviceFanoutBenchmark.Result>();
    foreach (var devices in new[] { 1, 2, 5 })
    {
        var result = await DeviceFanoutBenchmark.RunAsync(devices, (int)ReadOption(args, "--device-messages", 200));
        fanout.Add(result);
        Console.WriteLine(DeviceFanoutBenchmark.Describe(result));
    }
    results["devices"] = fanout;
}
if (command is "all" or "relay")
{
    var relay = await RelayBenchmark.RunAsync((int)ReadOption(args, "--messages", 300));
    results["relay"] = relay;
    Console.WriteLine(RelayBenchmark.Describe(relay));
}
if (command is "files")
{
    // Not part of `all`: it writes a file of each size (64 MiB and 1 GiB unless --sizes says otherwise, in MiB) to a temporary folder.
    var sizes = (ReadText(args, "--sizes") ?? "64,1024").Split(',').Select(s => long.Parse(s, CultureInfo.InvariantCulture) * 1024 * 1024).ToList();
    var files = await FileTransferBenchmark.RunAsync(sizes);
    results["files"] = files;
    Console.WriteLine(FileTransferBenchmark.Describe(files));
}
if (command is "nat")
{
    // --pairs a+a,c+c: only those pairs; --logs DIR: every node's debug log, timestamped, in DIR/<node>.log.
    var tries = await NatBenchmark.RunAsync((int)ReadOption(args, "--tries", 20), ReadText(args, "--pairs")?.Split(','), ReadText(args, "--logs"));
    results["nat"] = tries;
    if (tries is not null)
    {
        Console.WriteLine(NatBenchmark.Describe(tries));
    }
}
if (command is "nat-send")
{
    // Runs inside a NAT lab home (the nat benchmark starts it there): times one message through the node's local API.
    var data = args[Array.IndexOf(args, "--data") + 1];
    var to = args[Array.IndexOf(args, "--to") + 1];
    return await NatBenchmark.SendAndTimeAsync(data, to);
}
Console.WriteLine(JsonSerializer.Serialize(results));
return 0;

static long ReadOption(string[] args, string name, long fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length && long.TryParse(args[index + 1], CultureInfo.InvariantCulture, out var value) ? value : fallback;
}

static string? ReadText(string[] args, string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

static string Format(double? value) => value is null ? "n/a" : value.Value.ToString("0.0", CultureInfo.InvariantCulture);

static string Ratio(double csharp, double? js) => js is > 0 ? (csharp / js.Value).ToString("0.00", CultureInfo.InvariantCulture) : "n/a";
