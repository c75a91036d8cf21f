using System.Text.Json;
using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

public sealed partial class CliTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("parley-cli-test-");

    public void Dispose() => _data.Delete(recursive: true);

    [Fact]
    public async Task Node_prints_its_listen_address_and_answers_ping()
    {
        await using var node = ParleyProcess.Start("--data", _data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0");
        var address = await ReadListeningAddressAsync(node);

        var (exitCode, stdout, stderr) = await ParleyProcess.RunAsync(Timeout, "ping", address);
        Assert.True(exitCode == 0, stderr);
        var peerId = address[(address.LastIndexOf('/') + 1)..];
        Assert.Matches($"^pong {peerId} [0-9.]+ ms$", stdout.Trim());
    }

    [Fact]
    public async Task Node_keeps_its_identity_across_restarts_and_exits_cleanly_on_sigterm()
    {
        string first;
        await using (var node = ParleyProcess.Start("--data", _data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0"))
        {
            first = await ReadListeningAddressAsync(node);
            Assert.Equal(0, await node.TerminateAsync(Timeout));
        }
        await using var again = ParleyProcess.Start("--data", _data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0");
        var second = await ReadListeningAddressAsync(again);
        Assert.Equal(PeerIdOf(first), PeerIdOf(second));
        var keyFile = new FileInfo(Path.Combine(_data.FullName, "node.key"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, keyFile.UnixFileMode);
    }

    [Fact]
    public async Task Node_json_mode_prints_events_as_json()
    {
        await using var node = ParleyProcess.Start("--data", _data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0", "--json");
        using var cts = new CancellationTokenSource(Timeout);
        var line = await node.ReadLineAsync(cts.Token);
        using var json = JsonDocument.Parse(line!);
        Assert.Equal("listening", json.RootElement.GetProperty("event").GetString());
        Assert.Contains("/p2p/12D3KooW", json.RootElement.GetProperty("address").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_to_a_wrong_peer_id_fails_with_a_clear_message()
    {
        await using var node = ParleyProcess.Start("--data", _data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0");
        var address = await ReadListeningAddressAsync(node);
        var impostor = address[..(address.LastIndexOf('/') + 1)] + "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
        var (exitCode, _, stderr) = await ParleyProcess.RunAsync(Timeout, "ping", impostor);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("ping failed", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not-a-multiaddr")]
    [InlineData("/ip4/127.0.0.1/tcp/1")]
    public async Task Ping_with_a_bad_address_fails_with_a_clear_message(string target)
    {
        var (exitCode, _, stderr) = await ParleyProcess.RunAsync(Timeout, "ping", target);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("multiaddr ending in /p2p", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ping_to_nobody_fails_with_a_clear_message()
    {
        var (exitCode, _, stderr) = await ParleyProcess.RunAsync(Timeout, "ping", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("ping failed", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_with_a_corrupt_key_file_refuses_to_start_with_a_clear_message()
    {
        await File.WriteAllTextAsync(Path.Combine(_data.FullName, "node.key"), "garbage");
        var (exitCode, _, stderr) = await ParleyProcess.RunAsync(Timeout, "--data", _data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0");
        Assert.NotEqual(0, exitCode);
        Assert.Contains("not a valid node key", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bare_parley_prints_help_and_fails()
    {
        var (exitCode, stdout, _) = await ParleyProcess.RunAsync(Timeout);
        Assert.NotEqual(0, exitCode);
        Assert.Contains("Usage:", stdout, StringComparison.Ordinal);
        Assert.Contains("up", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_and_up_say_which_bootstrap_peer_they_could_not_use_and_why()
    {
        const string dead = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
        await using (var node = ParleyProcess.Start("--data", _data.FullName, "--bootstrap", dead, "node", "--listen", "/ip4/127.0.0.1/tcp/0"))
        {
            var line = await node.ReadUntilAsync(l => l.StartsWith("bootstrap peer ", StringComparison.Ordinal), Timeout, "the unusable bootstrap peer");
            Assert.StartsWith($"bootstrap peer {dead} not used: cannot connect to /ip4/127.0.0.1/tcp/1", line, StringComparison.Ordinal);
            Assert.Contains("ConnectionRefused", line, StringComparison.Ordinal);
        }

        await using var up = ParleyProcess.Start("--data", Path.Combine(_data.FullName, "up"), "--name-difficulty", "8", "--bootstrap", dead, "up", "--no-mdns", "--name", "ursula", "--listen", "/ip4/127.0.0.1/tcp/0");
        Assert.StartsWith($"bootstrap peer {dead} not used: cannot connect", await up.ReadUntilAsync(l => l.StartsWith("bootstrap peer ", StringComparison.Ordinal), Timeout, "the unusable bootstrap peer"), StringComparison.Ordinal);
        Assert.Contains("not joined: no bootstrap peer could be used", await up.ReadUntilAsync("not joined", Timeout), StringComparison.Ordinal);
        await up.ReadUntilAsync("type /help for commands", Timeout);
        Assert.DoesNotContain("starts a network of its own", up.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Demo_script_says_it_is_building_before_the_build()
    {
        // The script as a user runs it, with `dotnet build` replaced by a stand-in that notes when it ran (the real build
        // is what `./scripts/test` just did); the demo's own help is run by the real dotnet.
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
        var bin = Directory.CreateDirectory(Path.Combine(_data.FullName, "bin"));
        var realDotnet = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, "dotnet")).First(File.Exists);
        var stub = Path.Combine(bin.FullName, "dotnet");
        await File.WriteAllTextAsync(stub, $$"""
            #!/usr/bin/env bash
            if [ "$1" = build ]; then echo 'stand-in build ran' >&2; exit 0; fi
            exec {{realDotnet}} "$@"

            """);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(stub, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        var start = new System.Diagnostics.ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
        start.ArgumentList.Add(Path.Combine(root, "scripts", "demo"));
        start.ArgumentList.Add("--help");
        start.Environment["PATH"] = $"{bin.FullName}:{Environment.GetEnvironmentVariable("PATH")}";
        using var script = System.Diagnostics.Process.Start(start)!;
        var stderr = script.StandardError.ReadToEndAsync();
        var stdout = await script.StandardOutput.ReadToEndAsync();
        await script.WaitForExitAsync();
        var lines = (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(script.ExitCode == 0, $"scripts/demo --help exited {script.ExitCode}\n{stdout}\n{string.Join('\n', lines)}");
        var building = Array.FindIndex(lines, l => l.StartsWith("demo: building parley", StringComparison.Ordinal));
        Assert.True(building >= 0 && building < Array.IndexOf(lines, "stand-in build ran"), string.Join('\n', lines));
        Assert.Contains("Run a local network of Parley nodes", stdout, StringComparison.Ordinal);
    }

    private static async Task<string> ReadListeningAddressAsync(ParleyProcess node)
    {
        using var cts = new CancellationTokenSource(Timeout);
        var line = await node.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException($"node exited: {node.Stderr}");
        var match = ListeningLine().Match(line);
        Assert.True(match.Success, line);
        return match.Groups[1].Value;
    }

    private static string PeerIdOf(string address) => address[(address.LastIndexOf('/') + 1)..];

    [GeneratedRegex("^listening (/ip4/127\\.0\\.0\\.1/tcp/[0-9]+/p2p/12D3KooW[1-9A-HJ-NP-Za-km-z]+)$")]
    private static partial Regex ListeningLine();
}
