using System.Text.Json;

namespace Parley.Cli.Tests;

/// <summary>
/// A test network of five `parley node` processes on 127.0.0.1, each joined through the ones started before it, all
/// with the low name difficulty every node of a test network must share. Shared by the chat tests, which run one after
/// another (one collection) so that they do not compete for the machine's cores; each test makes its own users in its
/// own data folders under <see cref="Root"/>.
/// </summary>
public sealed class ChatNetwork : IAsyncLifetime
{
    public const string Loopback = "/ip4/127.0.0.1/tcp/0";
    public const string NameDifficulty = "8";
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly List<ParleyProcess> _nodes = [];
    private readonly List<string> _addresses = [];

    public DirectoryInfo Root { get; } = Directory.CreateTempSubdirectory("parley-chat-cli-");

    public IReadOnlyList<string> Addresses => _addresses;

    public async Task InitializeAsync()
    {
        try
        {
            for (var i = 0; i < 5; i++)
            {
                var arguments = new List<string> { "--data", Path.Combine(Root.FullName, $"node{i}"), "--name-difficulty", NameDifficulty };
                arguments.AddRange(BootstrapArguments());
                arguments.AddRange(["node", "--listen", Loopback]);
                var node = ParleyProcess.Start([.. arguments]);
                _nodes.Add(node);
                var listening = await node.ReadUntilAsync(l => l.StartsWith("listening ", StringComparison.Ordinal), Timeout, "its address");
                _addresses.Add(listening["listening ".Length..]);
                await WaitForApiAsync(node);
            }
        }
        catch
        {
            // xunit does not call DisposeAsync when InitializeAsync fails: stop what was started.
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
        _nodes.Clear();
        if (Root.Exists)
        {
            Root.Delete(recursive: true);
        }
    }

    public IEnumerable<string> BootstrapArguments() => _addresses.SelectMany(a => new[] { "--bootstrap", a });

    /// <summary>A fresh data folder for a test's user.</summary>
    public string Folder(string name) => Path.Combine(Root.FullName, $"{name}-{Guid.NewGuid():N}");

    /// <summary>Arguments of a chat command on <paramref name="data"/>, joined to this network and listening on loopback only.</summary>
    public string[] Command(string data, params string[] command) =>
        ["--data", data, "--name-difficulty", NameDifficulty, .. BootstrapArguments(), .. command, "--listen", Loopback];

    /// <summary>Runs a one-shot chat command (with --listen on loopback) to completion.</summary>
    public Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string data, params string[] command) =>
        ParleyProcess.RunAsync(Timeout, Command(data, command));

    /// <summary>Runs a one-shot chat command that must succeed; returns its stdout.</summary>
    public async Task<string> RunOkAsync(string data, params string[] command)
    {
        var (exitCode, stdout, stderr) = await RunAsync(data, command);
        Assert.True(exitCode == 0, $"`parley {string.Join(' ', command)}` on {Path.GetFileName(data)} exited {exitCode}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
        return stdout;
    }

    /// <summary>Runs a one-shot chat command with --json that must succeed; returns the parsed output.</summary>
    public async Task<JsonElement> RunJsonAsync(string data, params string[] command)
    {
        var stdout = await RunOkAsync(data, [.. command, "--json"]);
        try
        {
            using var document = JsonDocument.Parse(stdout);
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"`parley {string.Join(' ', command)} --json` printed no JSON ({e.Message}):\n{stdout}", e);
        }
    }

    /// <summary>Runs a one-shot chat command that must fail; returns its stderr.</summary>
    public async Task<string> RunFailingAsync(string data, params string[] command)
    {
        var (exitCode, stdout, stderr) = await RunAsync(data, command);
        Assert.True(exitCode != 0, $"`parley {string.Join(' ', command)}` should have failed but exited 0\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
        return stderr;
    }

    /// <summary>Starts `parley node` on a user's data folder and waits until its local API answers.</summary>
    public async Task<ParleyProcess> StartNodeAsync(string data, string? umask = null)
    {
        var node = ParleyProcess.StartWithUmask(umask, ["--data", data, "--name-difficulty", NameDifficulty, .. BootstrapArguments(), "node", "--listen", Loopback]);
        try
        {
            await WaitForApiAsync(node);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>The `api` line comes last, once the node has joined, started its chat and serves its local API.</summary>
    public static Task<string> WaitForApiAsync(ParleyProcess node) =>
        node.ReadUntilAsync(l => l.StartsWith("api http://127.0.0.1:", StringComparison.Ordinal), Timeout, "its local API address");
}

[CollectionDefinition(Name)]
public sealed class ChatNetworkCollection : ICollectionFixture<ChatNetwork>
{
    public const string Name = "chat network";
}
