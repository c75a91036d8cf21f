using System.Globalization;
using System.Text.Json;
using Parley.Sim;
using Parley.Testing.Simulation;

// Runs the real DHT code on a simulated network and prints what it measured. Flags:
//   --nodes N --k K --alpha A --d D --churn FRACTION_PER_HOUR --fail FRACTION --loss P --partition-minutes M
//   --hours H --lookups N --records N --refresh-minutes M --seed S --out DIR
//   --sybil FRACTION --sybil-networks N (the eclipse scenario: lookups are honest nodes asking for the attacked key)
var config = new SimulationConfig
{
    Nodes = Int("--nodes", 1000),
    K = Int("--k", 20),
    Alpha = Int("--alpha", 3),
    DisjointPaths = Int("--d", 1),
    ChurnPerHour = Double("--churn", 0),
    FailAtOnce = Double("--fail", 0),
    LossRate = Double("--loss", 0.01),
    Partition = TimeSpan.FromMinutes(Double("--partition-minutes", 0)),
    Duration = TimeSpan.FromHours(Double("--hours", 1)),
    Lookups = Int("--lookups", 1000),
    Records = Int("--records", 100),
    RefreshInterval = TimeSpan.FromMinutes(Double("--refresh-minutes", 120)),
    Seed = Int("--seed", 1),
    SybilFraction = Double("--sybil", 0),
    SybilNetworks = Int("--sybil-networks", 4),
    OutputDirectory = Text("--out"),
};
Console.Error.WriteLine($"simulating {config.Nodes} nodes, k={config.K}, alpha={config.Alpha}, d={config.DisjointPaths}, churn {config.ChurnPerHour:0.##}/h, fail {config.FailAtOnce:P0}, loss {config.LossRate:P1}, {config.Duration.TotalHours:0.##} h");
var report = new DhtSimulation(config).Run();

var summary = new
{
    nodes = config.Nodes,
    k = config.K,
    alpha = config.Alpha,
    disjointPaths = config.DisjointPaths,
    churnPerHour = config.ChurnPerHour,
    failAtOnce = config.FailAtOnce,
    lossRate = config.LossRate,
    partitionMinutes = config.Partition.TotalMinutes,
    sybilFraction = config.SybilFraction,
    sybilNetworks = config.SybilNetworks,
    virtualHours = Math.Round(report.VirtualDuration.TotalHours, 2),
    lookups = report.Lookups.Count,
    lookupSuccessRate = Math.Round(report.SuccessRate, 4),
    meanHops = Math.Round(report.MeanHops, 2),
    latencyMs = new { p50 = Math.Round(report.LatencyMs.P50), p90 = Math.Round(report.LatencyMs.P90), p99 = Math.Round(report.LatencyMs.P99), mean = Math.Round(report.LatencyMs.Mean) },
    recordsRetrievableAtEnd = Math.Round(report.RecordsRetrievableAtEnd, 4),
    nodesJoined = report.NodesJoined,
    nodesDeparted = report.NodesDeparted,
    messages = report.Messages,
    wallSeconds = Math.Round(report.WallTime.TotalSeconds, 1),
    managedMegabytesPerNode = Math.Round(report.ManagedMegabytesPerNode, 3),
    peakWorkingSetMegabytes = Math.Round(Environment.WorkingSet / 1e6),
};
Console.WriteLine(JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));

if (config.OutputDirectory is { } output)
{
    Directory.CreateDirectory(output);
    await File.WriteAllTextAsync(Path.Combine(output, "summary.json"), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
    await using (var csv = new StreamWriter(Path.Combine(output, "lookups.csv")))
    {
        var writer = new CsvWriter(csv);
        writer.WriteRow("at_seconds", "success", "latency_ms", "hops");
        foreach (var sample in report.Lookups)
        {
            writer.WriteRow(sample.At.TotalSeconds, sample.Success, sample.Latency.TotalMilliseconds, sample.Hops);
        }
    }
    await using (var csv = new StreamWriter(Path.Combine(output, "success-over-time.csv")))
    {
        var writer = new CsvWriter(csv);
        writer.WriteRow("window_start_minutes", "success_rate", "lookups");
        foreach (var (start, rate, count) in report.SuccessOverTime)
        {
            writer.WriteRow(start.TotalMinutes, rate, count);
        }
    }
    var cdf = new SvgPlot($"Value lookup latency CDF ({config.Nodes} nodes)") { XLabel = "latency (ms)", YLabel = "fraction of lookups", YMin = 0, YMax = 1 };
    cdf.AddSeries("FIND_VALUE", report.LatencyMs.Cdf());
    cdf.Save(Path.Combine(output, "latency-cdf.svg"));
    var success = new SvgPlot($"Lookup success over time (churn {config.ChurnPerHour:0.##}/h, fail {config.FailAtOnce:P0})") { XLabel = "time (minutes)", YLabel = "success rate", YMin = 0, YMax = 1 };
    success.AddSeries("success", report.SuccessOverTime.Select(w => (w.WindowStart.TotalMinutes, w.SuccessRate)));
    success.Save(Path.Combine(output, "success-over-time.svg"));
    Console.Error.WriteLine($"wrote summary.json, lookups.csv, success-over-time.csv, latency-cdf.svg, success-over-time.svg to {output}");
}
return 0;

string? Text(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

int Int(string name, int fallback) => Text(name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

double Double(string name, double fallback) => Text(name) is { } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;
