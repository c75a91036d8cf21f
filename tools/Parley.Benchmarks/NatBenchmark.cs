using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Parley.Node.Api;
using Parley.Testing.Nat;

namespace Parley.Benchmarks;

/// <summary>One try: did the pair end on a direct connection, and how long the first message took from send to delivered.</summary>
internal sealed record NatTry(string Pair, bool Direct, bool Delivered, double? FirstMessageMs);

/// <summary>
/// Reachability figures from the NAT lab with real `parley` processes: for each pair of NAT types, a long-running
/// user X writes to a new user Y who never talked to anyone (fresh identity) and the benchmark records the time from
/// send to delivered (timed inside X's namespace against X's local API) and whether the pair ends on a direct
/// connection within 10 s. Needs root (network namespaces, nftables).
/// </summary>
internal static class NatBenchmark
{
    private const string Difficulty = "8";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly string Parley = Path.Combine(AppContext.BaseDirectory, "parley.dll");
    private static readonly string Self = Path.Combine(AppContext.BaseDirectory, "Parley.Benchmarks.dll");
    private static string? s_logs;

    /// <param name="only">The pairs to run ("a+a", "a+b", "a+c", "c+c"); all when null.</param>
    /// <param name="logs">A folder for each node's debug log, each line stamped with the UTC time it was read; no logs when null.</param>
    public static async Task<IReadOnlyList<NatTry>?> RunAsync(int tries, IReadOnlyCollection<string>? only = null, string? logs = null)
    {
        if (NatLab.UnavailableReason is { } reason)
        {
            Console.WriteLine($"NAT lab: skipped ({reason})");
            return null;
        }
        s_logs = logs is null ? null : Directory.CreateDirectory(logs).FullName;
        var root = Directory.CreateTempSubdirectory("parley-nat-bench-");
        var processes = new List<Process>();
        using var lab = NatLab.Create();
        try
        {
            string? bootstrap = null;
            for (var i = 0; i < 3; i++)
            {
                var (ns, ip) = lab.AddPublicHost();
                var node = Start(processes, ns, Arguments(root, $"public{i}", bootstrap, "node", "--listen", "/ip4/0.0.0.0/tcp/4001"));
                var line = await ReadUntilAsync(node, l => l.StartsWith($"listening /ip4/{ip}/", StringComparison.Ordinal));
                await ReadUntilAsync(node, l => l.StartsWith("api ", StringComparison.Ordinal));
                bootstrap ??= line["listening ".Length..];
            }
            var pairs = new[]
            {
                ("a+a", NatType.EndpointIndependent, NatType.EndpointIndependent),
                ("a+b", NatType.EndpointIndependent, NatType.PortRestricted),
                ("a+c", NatType.EndpointIndependent, NatType.Symmetric),
                ("c+c", NatType.Symmetric, NatType.Symmetric),
            };
            var results = await Task.WhenAll(pairs.Where(p => only is null || only.Contains(p.Item1)).Select(p => RunPairAsync(lab, root, processes, bootstrap!, p.Item1, p.Item2, p.Item3, tries)));
            return results.SelectMany(r => r).ToList();
        }
        finally
        {
            foreach (var process in processes)
            {
                Kill(process);
            }
            root.Delete(recursive: true);
        }
    }

    /// <summary>Inside X's namespace: sends one message through X's running node and waits until it is delivered.</summary>
    public static async Task<int> SendAndTimeAsync(string data, string to)
    {
        var port = int.Parse(await File.ReadAllTextAsync(Path.Combine(data, LocalApi.PortFile)), CultureInfo.InvariantCulture);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = Timeout };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(data, LocalApi.TokenFile))).Trim());
        var options = new JsonSerializerOptions(JsonSerializerDefaults.Web);
        // This process is new: its first request pays for loading and compiling the HTTP and JSON code (0.1 s to
        // several seconds under load), which is not the node's latency. One request before the clock starts.
        (await http.GetAsync("api/status")).Dispose();
        _ = JsonSerializer.Serialize(new SendRequest(to, "warm-up"), options);
        var started = Stopwatch.GetTimestamp();
        var sentAt = DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
        using var response = await http.PostAsJsonAsync("api/messages", new SendRequest(to, "the first message"), options);
        response.EnsureSuccessStatusCode();
        var sent = (await response.Content.ReadFromJsonAsync<MessageDto>(options))!;
        while (Stopwatch.GetElapsedTime(started) < Timeout)
        {
            var messages = await http.GetFromJsonAsync<List<MessageDto>>($"api/messages/{Uri.EscapeDataString(to)}?limit=5", options) ?? [];
            var state = messages.FirstOrDefault(m => m.Id == sent.Id)?.State;
            if (state is "delivered" or "read")
            {
                Console.WriteLine(JsonSerializer.Serialize(new { delivered = true, ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds, sentAt }));
                return 0;
            }
            await Task.Delay(10);
        }
        Console.WriteLine(JsonSerializer.Serialize(new { delivered = false, ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds, sentAt }));
        return 0;
    }

    public static string Describe(IReadOnlyList<NatTry> tries)
    {
        var text = new StringBuilder();
        foreach (var pair in tries.GroupBy(t => t.Pair))
        {
            // A try that broke in the harness (a node too slow to come up or answer) is neither direct nor relayed.
            var completed = pair.Where(t => t.FirstMessageMs is not null).ToList();
            var direct = completed.Count(t => t.Direct);
            var delivered = completed.Where(t => t.Delivered).Select(t => t.FirstMessageMs!.Value).ToList();
            text.AppendLine(CultureInfo.InvariantCulture, $"NAT {pair.Key}: direct {direct}/{completed.Count} completed tries ({(completed.Count == 0 ? 0 : 100.0 * direct / completed.Count):0}%; {pair.Count() - completed.Count} broke in the harness), first message delivered {delivered.Count}/{completed.Count}, p50 {Percentile(delivered, 50):0} ms, p99 {Percentile(delivered, 99):0} ms");
        }
        var all = tries.Where(t => t.Delivered).Select(t => t.FirstMessageMs!.Value).ToList();
        text.Append(CultureInfo.InvariantCulture, $"first message between NATed users who never talked, send to delivered, all pairs: p50 {Percentile(all, 50):0} ms, p99 {Percentile(all, 99):0} ms (goal: p50 <= 2000 ms)");
        return text.ToString();
    }

    private static async Task<List<NatTry>> RunPairAsync(NatLab lab, DirectoryInfo root, List<Process> processes, string bootstrap, string name, NatType xType, NatType yType, int tries)
    {
        var xHome = lab.AddHome(xType);
        var yHome = lab.AddHome(yType);
        var xData = $"{name}-x";
        await RunAsync(xHome.Namespace, Arguments(root, xData, bootstrap, "init", "--name", "x" + name[0]));
        var x = Start(processes, xHome.Namespace, Arguments(root, xData, bootstrap, "node", "--listen", "/ip4/0.0.0.0/tcp/4001"));
        await ReadUntilAsync(x, l => l.StartsWith("api ", StringComparison.Ordinal));
        var results = new List<NatTry>();
        for (var t = 0; t < tries; t++)
        {
            try
            {
                results.Add(await TryOnceAsync(root, processes, bootstrap, name, xHome, yHome, xData, t));
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or JsonException or OperationCanceledException)
            {
                // A try that broke (a node did not come up in time) counts as neither direct nor delivered.
                Console.Error.WriteLine($"{name} try {t + 1} failed: {e.Message}");
                results.Add(new NatTry(name, false, false, null));
            }
        }
        return results;
    }

    private static async Task<NatTry> TryOnceAsync(DirectoryInfo root, List<Process> processes, string bootstrap, string name, Home xHome, Home yHome, string xData, int t)
    {
        // A new port for every new Y, so no socket of an earlier try (TIME_WAIT) holds the 4-tuple a punch needs.
        var yData = $"{name}-y{t}";
        var port = (5000 + t).ToString(CultureInfo.InvariantCulture);
        // A name of its own: a name takes at most 16 claimants.
        var handle = (await RunAsync(yHome.Namespace, Arguments(root, yData, bootstrap, "init", "--name", $"y{name.Replace("+", "", StringComparison.Ordinal)}{t}", "--listen", $"/ip4/0.0.0.0/tcp/{port}"))).Trim();
        var y = Start(processes, yHome.Namespace, Arguments(root, yData, bootstrap, "node", "--listen", $"/ip4/0.0.0.0/tcp/{port}"));
        var listening = await ReadUntilAsync(y, l => l.StartsWith("listening ", StringComparison.Ordinal));
        var device = listening[(listening.LastIndexOf("/p2p/", StringComparison.Ordinal) + 5)..];
        await ReadUntilAsync(y, l => l.StartsWith("api ", StringComparison.Ordinal));
        await WaitAsync(async () => (await StatusAsync(yHome.Namespace, root, yData, bootstrap)).GetProperty("status").GetProperty("relays").GetArrayLength() > 0, "Y's relay reservation");
        // nat-send waits up to Timeout for "delivered" and then reports it undelivered: it gets longer than that, or a
        // slow delivery would count as a try that broke in the harness.
        var timing = JsonDocument.Parse(await RunRawAsync(xHome.Namespace, Timeout * 2, "dotnet", Self, "nat-send", "--data", Path.Combine(root.FullName, xData), "--to", handle)).RootElement;
        var direct = false;
        var deadline = Stopwatch.StartNew();
        while (!direct && deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            var status = await StatusAsync(xHome.Namespace, root, xData, bootstrap);
            direct = status.GetProperty("connections").EnumerateArray().Any(c => c.GetProperty("peer").GetString() == device && !c.GetProperty("relayed").GetBoolean());
        }
        Console.Error.WriteLine($"{name} try {t + 1}: {(direct ? "direct" : "relayed")}, first message {timing.GetProperty("ms").GetDouble():0} ms (sent {timing.GetProperty("sentAt").GetString()})");
        Kill(y);
        return new NatTry(name, direct, timing.GetProperty("delivered").GetBoolean(), timing.GetProperty("ms").GetDouble());
    }

    private static string[] Arguments(DirectoryInfo root, string data, string? bootstrap, params string[] command) =>
        ["--data", Path.Combine(root.FullName, data), "--name-difficulty", Difficulty, .. bootstrap is null ? [] : new[] { "--bootstrap", bootstrap }, .. s_logs is null ? [] : new[] { "--log-level", "Debug" }, .. command];

    private static async Task<JsonElement> StatusAsync(string ns, DirectoryInfo root, string data, string bootstrap)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return JsonDocument.Parse(await RunAsync(ns, Arguments(root, data, bootstrap, "status", "--json"))).RootElement;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // A busy node may miss the CLI's 2 s probe; ask again.
            }
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> probe, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await probe())
        {
            if (deadline.Elapsed > Timeout)
            {
                throw new TimeoutException($"no {what} within {Timeout.TotalSeconds} s");
            }
            await Task.Delay(250);
        }
    }

    private static Task<string> RunAsync(string ns, string[] arguments) => RunRawAsync(ns, Timeout, ["dotnet", Parley, .. arguments]);

    private static async Task<string> RunRawAsync(string ns, TimeSpan limit, params string[] command)
    {
        using var process = Process.Start(StartInfo(ns, command)) ?? throw new InvalidOperationException("cannot start a process");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(limit);
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'{string.Join(' ', command)}' in {ns} exited {process.ExitCode}: {await stderr}");
        }
        return await stdout;
    }

    private static Process Start(List<Process> processes, string ns, string[] arguments)
    {
        var process = Process.Start(StartInfo(ns, ["dotnet", Parley, .. arguments])) ?? throw new InvalidOperationException("cannot start parley");
        lock (processes)
        {
            processes.Add(process);
        }
        _ = s_logs is null ? process.StandardError.ReadToEndAsync() : CopyLogAsync(process, Path.Combine(s_logs, Path.GetFileName(arguments[Array.IndexOf(arguments, "--data") + 1]) + ".log"));
        return process;
    }

    /// <summary>The node's log lines, each stamped with the UTC time it was read (the console logger has no timestamps).</summary>
    private static async Task CopyLogAsync(Process process, string path)
    {
        await using var log = new StreamWriter(path, append: true) { AutoFlush = true };
        while (await process.StandardError.ReadLineAsync() is { } line)
        {
            await log.WriteLineAsync($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }
    }

    private static ProcessStartInfo StartInfo(string ns, string[] command)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in NatLab.InNamespace(ns, command))
        {
            start.ArgumentList.Add(argument);
        }
        start.ArgumentList.RemoveAt(0);
        return start;
    }

    private static async Task<string> ReadUntilAsync(Process process, Func<string, bool> match)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (match(line))
            {
                return line;
            }
        }
        throw new InvalidOperationException("the node ended before it was ready");
    }

    private static void Kill(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
    }

    private static double Percentile(List<double> values, int percentile)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(percentile / 100.0 * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}
