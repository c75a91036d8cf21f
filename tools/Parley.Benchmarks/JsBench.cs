using System.Diagnostics;
using System.Text.Json;

namespace Parley.Benchmarks;

/// <summary>Runs tests/interop/bench.mjs (js-libp2p) so its numbers print beside ours; null when Node or its packages are missing.</summary>
internal static class JsBench
{
    public static async Task<JsonElement?> RunAsync(params string[] arguments)
    {
        var interop = Path.Combine(RepositoryRoot.Find(), "tests", "interop");
        if (!Directory.Exists(Path.Combine(interop, "node_modules")))
        {
            Console.Error.WriteLine("js numbers skipped: run `npm ci` in tests/interop first");
            return null;
        }
        var start = new ProcessStartInfo("node") { WorkingDirectory = interop, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("bench.mjs");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start node");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            Console.Error.WriteLine("js bench timed out");
            return null;
        }
        var line = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault(l => l.TrimStart().StartsWith('{'));
        if (process.ExitCode != 0 || line is null)
        {
            Console.Error.WriteLine($"js bench failed ({process.ExitCode}): {await stderr}");
            return null;
        }
        return JsonDocument.Parse(line).RootElement.Clone();
    }
}

internal static class RepositoryRoot
{
    public static string Find()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Parley.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("run the benchmarks from inside the Parley repository");
    }
}
