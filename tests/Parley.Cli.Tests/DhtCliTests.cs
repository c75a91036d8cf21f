using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

/// <summary>The one-shot `parley dht` commands against a small network of `parley node` processes on 127.0.0.1.</summary>
public sealed partial class DhtCliTests : IAsyncLifetime
{
    private const string Loopback = "/ip4/127.0.0.1/tcp/0";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private readonly List<ParleyProcess> _nodes = [];
    private readonly List<string> _addresses = [];
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("parley-dht-cli-");

    public async Task InitializeAsync()
    {
        try
        {
            for (var i = 0; i < 4; i++)
            {
                await StartNodeAsync(i);
            }
        }
        catch
        {
            // xunit does not call DisposeAsync when InitializeAsync fails: stop what was started.
            await DisposeAsync();
            throw;
        }
    }

    private async Task StartNodeAsync(int index)
    {
        var arguments = new List<string> { "--data", Path.Combine(_data.FullName, $"node{index}"), "node", "--listen", "/ip4/127.0.0.1/tcp/0" };
        foreach (var address in _addresses)
        {
            arguments.Add("--bootstrap");
            arguments.Add(address);
        }
        var node = ParleyProcess.Start([.. arguments]);
        _nodes.Add(node);
        using var cts = new CancellationTokenSource(Timeout);
        var listening = await node.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException(node.Stderr);
        _addresses.Add(listening["listening ".Length..]);
        string? line;
        do
        {
            line = await node.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException(node.Stderr);
        }
        while (!line.StartsWith("joined", StringComparison.Ordinal));
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
        _nodes.Clear();
        if (_data.Exists)
        {
            _data.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Put_then_get_through_different_bootstrap_peers()
    {
        var client = Path.Combine(_data.FullName, "client");
        var (putExit, putOut, putErr) = await ParleyProcess.RunAsync(Timeout, "--data", client, "--bootstrap", _addresses[0], "dht", "--listen", Loopback, "put", "greeting", "hello from the cli");
        Assert.True(putExit == 0, putErr);
        var key = StoredLine().Match(putOut).Groups[1].Value;
        Assert.StartsWith("/parley-kv/", key, StringComparison.Ordinal);

        var (getExit, getOut, getErr) = await ParleyProcess.RunAsync(Timeout, "--data", client, "--bootstrap", _addresses[3], "--bootstrap", _addresses[1], "dht", "--listen", Loopback, "get", key);
        Assert.True(getExit == 0, getErr);
        Assert.Equal("hello from the cli", getOut.Trim());
    }

    [Fact]
    public async Task Provide_then_providers_and_find_peer()
    {
        var (provideExit, provideOut, provideErr) = await ParleyProcess.RunAsync(Timeout, "--bootstrap", _addresses[1], "dht", "--listen", Loopback, "provide", "some content");
        Assert.True(provideExit == 0, provideErr);
        var provider = ProviderLine().Match(provideOut).Groups[1].Value;

        var (listExit, listOut, listErr) = await ParleyProcess.RunAsync(Timeout, "--bootstrap", _addresses[2], "dht", "--listen", Loopback, "providers", "some content");
        Assert.True(listExit == 0, listErr);
        Assert.Contains(provider, listOut, StringComparison.Ordinal);

        var wanted = _addresses[0][(_addresses[0].LastIndexOf('/') + 1)..];
        var (findExit, findOut, findErr) = await ParleyProcess.RunAsync(Timeout, "--bootstrap", _addresses[3], "dht", "--listen", Loopback, "find-peer", wanted);
        Assert.True(findExit == 0, findErr);
        Assert.Contains(_addresses[0], findOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_or_dead_bootstrap_and_unknown_keys_fail_clearly()
    {
        var (noBootstrap, _, noBootstrapErr) = await ParleyProcess.RunAsync(Timeout, "dht", "--listen", Loopback, "get", "/parley-kv/x/y");
        Assert.NotEqual(0, noBootstrap);
        Assert.Contains("--bootstrap", noBootstrapErr, StringComparison.Ordinal);

        var (dead, _, deadErr) = await ParleyProcess.RunAsync(Timeout, "--bootstrap", "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq", "dht", "--listen", Loopback, "get", "/parley-kv/x/y");
        Assert.NotEqual(0, dead);
        Assert.Contains("no bootstrap peer answered", deadErr, StringComparison.Ordinal);

        var (missing, _, missingErr) = await ParleyProcess.RunAsync(Timeout, "--bootstrap", _addresses[0], "dht", "--listen", Loopback, "get", "/parley-kv/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq/nothing");
        Assert.NotEqual(0, missing);
        Assert.Contains("no record found", missingErr, StringComparison.Ordinal);
    }

    [GeneratedRegex("^stored (\\S+) at [0-9]+ of [0-9]+ closest peers", RegexOptions.Multiline)]
    private static partial Regex StoredLine();

    [GeneratedRegex("^announced (\\S+) as a provider", RegexOptions.Multiline)]
    private static partial Regex ProviderLine();
}
