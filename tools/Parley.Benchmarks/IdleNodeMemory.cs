using System.Diagnostics;
using System.Globalization;

namespace Parley.Benchmarks;

/// <summary>
/// Starts `parley node` as a user starts it (the `parley` executable, default options but a loopback listen address,
/// the local API on), lets it sit idle, and reads its resident set size from /proc: once on a fresh data folder, and
/// once on a folder with an identity (`parley init` first), where the node also runs the user's chat.
/// </summary>
internal static class IdleNodeMemory
{
    public static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    public sealed record Result(string Folder, double RssMegabytes, double StartMilliseconds, int Threads);

    /// <param name="cli">The `parley` executable; null: the Release build's (src/Parley.Cli/bin/Release/net10.0/parley).</param>
    public static async Task<IReadOnlyList<Result>?> MeasureAsync(string? cli)
    {
        cli ??= Path.Combine(RepositoryRoot.Find(), "src", "Parley.Cli", "bin", "Release", "net10.0", "parley");
        if (!File.Exists(cli))
        {
            Console.Error.WriteLine($"memory skipped: build the CLI in Release first ({cli} not found)");
            return null;
        }
        var results = new List<Result>();
        var data = Directory.CreateTempSubdirectory("parley-bench-");
        try
        {
            results.Add(await MeasureOnceAsync(cli, data.FullName, "fresh"));
            using (var init = Start(cli, "--data", data.FullName, "init", "--name", "bench"))
            {
                await init.WaitForExitAsync();
                if (init.ExitCode != 0)
                {
                    throw new InvalidOperationException($"parley init failed: {await init.StandardError.ReadToEndAsync()}");
                }
            }
            // The first start after init claims the name (proof of work); the figure is for the starts after it.
            await MeasureOnceAsync(cli, data.FullName, "identity, first start", TimeSpan.FromSeconds(5));
            results.Add(await MeasureOnceAsync(cli, data.FullName, "identity"));
        }
        finally
        {
            data.Delete(recursive: true);
        }
        return results;
    }

    private static async Task<Result> MeasureOnceAsync(string cli, string folder, string what, TimeSpan? settle = null)
    {
        var started = Stopwatch.GetTimestamp();
        using var process = Start(cli, "--data", folder, "node", "--listen", "/ip4/127.0.0.1/tcp/0");
        try
        {
            // The last line a starting node prints is the API's address: from then on it is up and idle.
            while (await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60)) is { } line)
            {
                if (line.StartsWith("api ", StringComparison.Ordinal))
                {
                    break;
                }
            }
            var startMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the node exited: {await process.StandardError.ReadToEndAsync()}");
            }
            var idle = (settle ?? Settle) - Stopwatch.GetElapsedTime(started);
            if (idle > TimeSpan.Zero)
            {
                await Task.Delay(idle);
            }
            var status = await File.ReadAllLinesAsync($"/proc/{process.Id}/status");
            var kilobytes = long.Parse(Field(status, "VmRSS:"), CultureInfo.InvariantCulture);
            return new Result(what, kilobytes / 1024.0, startMs, int.Parse(Field(status, "Threads:"), CultureInfo.InvariantCulture));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static string Field(string[] status, string name) =>
        status.First(l => l.StartsWith(name, StringComparison.Ordinal)).Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1];

    private static Process Start(string cli, params string[] arguments)
    {
        var start = new ProcessStartInfo(cli) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return Process.Start(start) ?? throw new InvalidOperationException($"cannot start {cli}");
    }
}
