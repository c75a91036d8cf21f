using System.Diagnostics;
using System.Globalization;

namespace Parley.Benchmarks;

/// <summary>Starts `parley node` as its own process, lets it settle, and reads its resident set size from /proc.</summary>
internal static class IdleNodeMemory
{
    public static async Task<double?> MeasureRssMegabytesAsync()
    {
        var cli = Path.Combine(RepositoryRoot.Find(), "src", "Parley.Cli", "bin", "Release", "net10.0", "parley.dll");
        if (!File.Exists(cli))
        {
            Console.Error.WriteLine($"memory skipped: build the CLI in Release first ({cli} not found)");
            return null;
        }
        var data = Directory.CreateTempSubdirectory("parley-bench-");
        try
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { cli, "--data", data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0" })
            {
                start.ArgumentList.Add(argument);
            }
            using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start the node");
            try
            {
                var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
                if (line is null || !line.StartsWith("listening", StringComparison.Ordinal))
                {
                    Console.Error.WriteLine($"node did not start: {line}");
                    return null;
                }
                await Task.Delay(TimeSpan.FromSeconds(3));
                var status = await File.ReadAllLinesAsync($"/proc/{process.Id}/status");
                var rss = status.First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
                var kilobytes = long.Parse(rss.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                return kilobytes / 1024.0;
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }
}
