using System.Text.Json;
using Parley.Testing.Nat;

namespace Parley.Cli.Tests.Nat;

/// <summary>One user of the lab: a `parley node` in a home behind a NAT.</summary>
public sealed record LabUser(string Name, Home Home, string Data, ParleyProcess Node, string Handle, string Device);

/// <summary>
/// The NAT lab with real `parley` processes: four public nodes (the first is everyone's bootstrap; all of them relay)
/// and five users at home: alice and bob behind (a) endpoint-independent NATs, carol behind (b) a port-restricted
/// firewall, dave and erin behind (c) symmetric NATs. Built once for the lab tests, which run one after another.
/// </summary>
public sealed class NatNetwork : IAsyncLifetime
{
    public const int Port = 4001;
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly (string Name, NatType Type)[] People =
    [
        ("alice", NatType.EndpointIndependent), ("bob", NatType.EndpointIndependent), ("carol", NatType.PortRestricted),
        ("dave", NatType.Symmetric), ("erin", NatType.Symmetric),
    ];

    private readonly List<ParleyProcess> _processes = [];

    public NatLab? Lab { get; private set; }

    public DirectoryInfo Root { get; } = Directory.CreateTempSubdirectory("parley-nat-lab-");

    public List<(string Namespace, string Data, ParleyProcess Node, string Address)> PublicNodes { get; } = [];

    public Dictionary<string, LabUser> Users { get; } = [];

    public string Bootstrap => PublicNodes[0].Address;

    public async Task InitializeAsync()
    {
        if (NatLab.UnavailableReason is not null)
        {
            return;
        }
        try
        {
            Lab = NatLab.Create();
            for (var i = 0; i < 4; i++)
            {
                var (ns, ip) = Lab.AddPublicHost();
                var data = Path.Combine(Root.FullName, $"public{i}");
                var bootstrap = PublicNodes.Count == 0 ? [] : new[] { "--bootstrap", Bootstrap };
                var node = Start(ns, ["--data", data, "--name-difficulty", ChatNetwork.NameDifficulty, .. bootstrap, "node", "--listen", $"/ip4/0.0.0.0/tcp/{Port}"]);
                var listening = await node.ReadUntilAsync(l => l.StartsWith($"listening /ip4/{ip}/", StringComparison.Ordinal), Timeout, "its public address");
                PublicNodes.Add((ns, data, node, listening["listening ".Length..]));
                await ChatNetwork.WaitForApiAsync(node);
            }
            var users = await Task.WhenAll(People.Select(p => StartUserAsync(p.Name, Lab.AddHome(p.Type))));
            foreach (var user in users)
            {
                Users[user.Name] = user;
            }
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }
        _processes.Clear();
        Lab?.Dispose();
        Lab = null;
        if (Root.Exists)
        {
            Root.Delete(recursive: true);
        }
    }

    /// <summary>Runs a one-shot command for <paramref name="user"/> inside their home, against their running node.</summary>
    public async Task<string> RunOkAsync(LabUser user, params string[] command)
    {
        var (exitCode, stdout, stderr) = await ParleyProcess.RunInAsync(user.Home.Namespace, Timeout, Arguments(user.Data, command));
        Assert.True(exitCode == 0, $"`parley {string.Join(' ', command)}` for {user.Name} exited {exitCode}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
        return stdout;
    }

    public async Task<JsonElement> RunJsonAsync(LabUser user, params string[] command)
    {
        using var document = JsonDocument.Parse(await RunOkAsync(user, [.. command, "--json"]));
        return document.RootElement.Clone();
    }

    /// <summary>`parley status --json` of a node in <paramref name="ns"/>: status, connections and routing table.</summary>
    public async Task<JsonElement> StatusAsync(string ns, string data)
    {
        // The CLI gives a busy node 2 s to answer before it takes it for dead; on a loaded machine ask again.
        for (var attempt = 1; ; attempt++)
        {
            var (exitCode, stdout, stderr) = await ParleyProcess.RunInAsync(ns, Timeout, Arguments(data, "status", "--json"));
            if (exitCode == 0)
            {
                using var document = JsonDocument.Parse(stdout);
                return document.RootElement.Clone();
            }
            Assert.True(attempt < 3, $"`parley status` in {ns} exited {exitCode}: {stderr}");
        }
    }

    public Task<JsonElement> StatusAsync(LabUser user) => StatusAsync(user.Home.Namespace, user.Data);

    /// <summary>Polls <paramref name="probe"/> until it returns true; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> probe, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await probe())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"not within {timeout.TotalSeconds:0} s: {what}");
            }
            await Task.Delay(250);
        }
    }

    public ParleyProcess Start(string ns, params string[] arguments)
    {
        var process = ParleyProcess.StartIn(ns, arguments);
        _processes.Add(process);
        return process;
    }

    private string[] Arguments(string data, params string[] command) =>
        ["--data", data, "--name-difficulty", ChatNetwork.NameDifficulty, "--bootstrap", Bootstrap, .. command];

    /// <summary>Makes <paramref name="name"/>'s identity in <paramref name="home"/> and starts their node there (not one of <see cref="Users"/>).</summary>
    public async Task<LabUser> StartUserAsync(string name, Home home)
    {
        var data = Path.Combine(Root.FullName, name);
        var (exitCode, stdout, stderr) = await ParleyProcess.RunInAsync(home.Namespace, Timeout, Arguments(data, "init", "--name", name, "--listen", $"/ip4/0.0.0.0/tcp/{Port}"));
        Assert.True(exitCode == 0, $"init of {name} failed\n{stdout}\n{stderr}");
        var node = Start(home.Namespace, Arguments(data, "node", "--listen", $"/ip4/0.0.0.0/tcp/{Port}"));
        var listening = await node.ReadUntilAsync("listening ", Timeout);
        await ChatNetwork.WaitForApiAsync(node);
        var device = listening[(listening.LastIndexOf("/p2p/", StringComparison.Ordinal) + "/p2p/".Length)..];
        return new LabUser(name, home, data, node, stdout.Trim(), device);
    }
}

[CollectionDefinition(Name)]
public sealed class NatNetworkCollection : ICollectionFixture<NatNetwork>
{
    public const string Name = "nat lab";
}
