using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Dht.Records;
using Parley.Net.Host;
using Parley.Testing.Interop;
using Xunit.Abstractions;

namespace Parley.Interop.Tests;

/// <summary>
/// Parley's Kademlia DHT and js-libp2p's <c>@libp2p/kad-dht</c> (tests/interop/dht-peer.mjs) in one network on
/// loopback: 5 js and 5 Parley nodes, bootstrapped through each other, on Parley's private protocol id and on the
/// standard <c>/ipfs/kad/1.0.0</c>. The js nodes run in server mode with <c>passthroughMapper</c> (their default
/// mapper drops loopback addresses, which would leave a loopback network empty).
/// Set DEBUG=libp2p:kad-dht* before <c>dotnet test</c> to get the js DHT logs in the failure output.
/// </summary>
public sealed class DhtInteropTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int JsCount = 5;
    private const int ParleyCount = 5;
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan JsCommandTimeout = TimeSpan.FromSeconds(30);

    private readonly CapturingLoggerFactory _logs = new();
    private readonly List<JsPeer> _js = [];
    private readonly List<(Libp2pHost Host, KademliaNode Node)> _parley = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await Task.WhenAll(_js.Select(j => j.DisposeAsync().AsTask()));
        foreach (var (host, node) in _parley)
        {
            await node.DisposeAsync();
            await host.DisposeAsync();
        }
        _logs.Dispose();
    }

    [Fact]
    public Task Parley_protocol_put_get_providers_and_find_peer_both_ways() => RunAsync(DhtOptions.ParleyProtocolId, async ct =>
    {
        var owner = IdentityKey.Generate();

        // Parley put -> js get
        var parleyKey = ParleyRecords.UserRecordKey(owner.PeerId, "written-by-parley");
        var parleyValue = SignedRecord.Create(owner, parleyKey, "hello from Parley"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(1));
        var put = await _parley[0].Node.PutValueAsync(parleyKey, parleyValue, ct);
        Assert.True(put.Stored > 0, $"Parley PUT_VALUE stored at {put.Stored} of {put.Attempted} peers");
        var got = await _js[3].CommandAsync("dht-get", new { key = parleyKey.Text, timeoutMs = 20_000 }, JsCommandTimeout, ct);
        Assert.Equal(Hex(parleyValue), got.GetProperty("valueHex").GetString());
        // The record reached js over GET_VALUE responses from Parley nodes, not only from js peers' stores.
        var servedByParley = got.GetProperty("responses").EnumerateArray()
            .Where(r => IsParley(r.GetProperty("from").GetString()) && r.GetProperty("valueHex").GetString() == Hex(parleyValue))
            .ToList();
        Assert.True(servedByParley.Count > 0, $"no Parley node returned the record to js: {got}");

        // js put -> Parley get (the value is a Parley-signed record: Parley nodes validate what they store)
        var jsKey = ParleyRecords.UserRecordKey(owner.PeerId, "written-by-js");
        var jsValue = SignedRecord.Create(owner, jsKey, "hello from js"u8.ToArray(), 7, DateTimeOffset.UtcNow.AddHours(1));
        var jsPut = await _js[1].CommandAsync("dht-put", new { key = jsKey.Text, valueHex = Hex(jsValue), timeoutMs = 20_000 }, JsCommandTimeout, ct);
        var storedAt = Strings(jsPut, "storedAt");
        Assert.True(storedAt.Any(IsParley), $"js PUT_VALUE was acknowledged by no Parley node: {jsPut}");
        var parleyGot = await _parley[4].Node.GetValueAsync(jsKey, ct);
        Assert.NotNull(parleyGot.Value);
        Assert.Equal(jsValue, parleyGot.Value);

        await AssertProvidersBothWaysAsync(ct);

        // Parley FIND_PEER of a js node, from a full routing table and from a node that only knows one js peer.
        var jsTarget = _js[2];
        var found = await _parley[1].Node.FindPeerAsync(PeerId.Parse(jsTarget.PeerId), ct);
        Assert.NotNull(found);
        Assert.Contains(ListenAddress(jsTarget), found.Addresses.Select(a => a.WithoutPeerId()));
        var fresh = await StartParleyNodeAsync(DhtOptions.ParleyProtocolId, "parley-dht-fresh", ct);
        var entry = Multiaddr.Parse(_js[0].Addresses[0]);
        fresh.Node.RoutingTable.TryAdd(PeerId.Parse(_js[0].PeerId), [entry.WithoutPeerId()]);
        var viaJs = await fresh.Node.FindPeerAsync(PeerId.Parse(jsTarget.PeerId), ct);
        Assert.NotNull(viaJs);
        Assert.Contains(ListenAddress(jsTarget), viaJs.Addresses.Select(a => a.WithoutPeerId()));

        // js FIND_PEER of a Parley node, over the network (useCache: false skips the js peer store).
        var parleyTarget = _parley[1].Host;
        var jsFound = await _js[4].CommandAsync("dht-find-peer", new { peerId = parleyTarget.LocalPeerId.ToString(), useCache = false, timeoutMs = 20_000 }, JsCommandTimeout, ct);
        var jsFoundAddrs = Strings(jsFound, "addrs").Select(a => Multiaddr.Parse(a).WithoutPeerId()).ToList();
        Assert.Contains(parleyTarget.ListenAddresses[0], jsFoundAddrs);
    });

    [Fact]
    public Task Standard_protocol_find_node_and_providers_both_ways() => RunAsync(DhtOptions.StandardProtocolId, async ct =>
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var everyone = _js.Select(j => j.PeerId).Concat(_parley.Select(p => p.Host.LocalPeerId.ToString())).ToList();

        // Parley FIND_NODE lookup: every js node answered (10 nodes < k, so the lookup reaches all of them).
        var parleyClosest = await _parley[0].Node.FindClosestPeersAsync(key, ct);
        var parleyIds = parleyClosest.Closest.Select(p => p.Peer.ToString()).ToList();
        Assert.True(_js.All(j => parleyIds.Contains(j.PeerId)), $"Parley's closest peers lack js nodes: {string.Join(", ", parleyIds)}");
        Assert.Equal(TrueClosest(key, everyone, exclude: _parley[0].Host.LocalPeerId.ToString()), parleyIds[0]);

        // js getClosestPeers: includes Parley nodes and finds the true closest peer.
        var jsClosest = await _js[0].CommandAsync("dht-closest", new { keyHex = Hex(key), timeoutMs = 20_000 }, JsCommandTimeout, ct);
        var jsIds = jsClosest.GetProperty("peers").EnumerateArray().Select(p => p.GetProperty("peerId").GetString()!).ToList();
        Assert.True(jsIds.Any(IsParley), $"js closest peers include no Parley node: {jsClosest}");
        Assert.Contains(TrueClosest(key, everyone, exclude: _js[0].PeerId), jsIds);

        // js lookup of a Parley node's own id: that Parley node answered and is among the closest.
        var jsOfParley = await _js[3].CommandAsync("dht-closest", new { keyHex = Hex(_parley[2].Host.LocalPeerId.Bytes.ToArray()), timeoutMs = 20_000 }, JsCommandTimeout, ct);
        Assert.Contains(_parley[2].Host.LocalPeerId.ToString(), jsOfParley.GetProperty("peers").EnumerateArray().Select(p => p.GetProperty("peerId").GetString()));

        await AssertProvidersBothWaysAsync(ct);
    });

    [Fact]
    public Task Parley_nodes_hand_out_only_listen_addresses() => RunAsync(DhtOptions.ParleyProtocolId, async ct =>
    {
        // What a Parley node keeps in its routing table is what it sends in every closer-peers list. The source
        // address of an inbound connection (an ephemeral port) is not a way to reach that peer.
        var problems = new List<string>();
        foreach (var ((_, node), i) in _parley.Select((p, i) => (p, i)))
        {
            foreach (var e in node.RoutingTable.Snapshot())
            {
                var listen = ListenAddressesOf(e.Peer.ToString());
                var stray = e.Addresses.Where(a => !listen.Contains(a.WithoutPeerId())).ToList();
                if (e.Addresses.Count == 0 || stray.Count > 0)
                {
                    problems.Add($"parley{i} keeps {Name(e.Peer.ToString())} at [{string.Join(" ", e.Addresses)}]; it listens on [{string.Join(" ", listen)}]");
                }
            }
        }

        // js learns addresses from closer-peers lists (kad-dht emits them as peer discovery; libp2p merges them into
        // its peer store and serves them in its own FIND_NODE answers).
        foreach (var ((host, _), i) in _parley.Select((p, i) => (p, i)))
        {
            var found = await _js[i].CommandAsync("dht-find-peer", new { peerId = host.LocalPeerId.ToString(), useCache = false, timeoutMs = 20_000 }, JsCommandTimeout, ct);
            var addrs = Strings(found, "addrs").Select(a => Multiaddr.Parse(a).WithoutPeerId()).ToList();
            var stray = addrs.Where(a => !host.ListenAddresses.Contains(a)).ToList();
            if (stray.Count > 0)
            {
                problems.Add($"js{i} found parley{i} (answer from {Name(found.GetProperty("from").GetString())}) at [{string.Join(" ", addrs)}]; it listens on [{string.Join(" ", host.ListenAddresses)}]");
            }
        }
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    });

    /// <summary>Parley provide -> js findProviders, and js provide -> Parley FindProvidersAsync.</summary>
    private async Task AssertProvidersBothWaysAsync(CancellationToken ct)
    {
        var parleyContent = Multihash.Sha256(RandomNumberGenerator.GetBytes(16)).Bytes.ToArray();
        var provider = _parley[2].Host;
        var told = await _parley[2].Node.ProvideAsync(parleyContent, ct);
        Assert.True(told > 0, "Parley ADD_PROVIDER reached no peer");
        var jsProviders = await _js[4].CommandAsync("dht-find-providers", new { keyHex = Hex(parleyContent), max = 5, timeoutMs = 20_000 }, JsCommandTimeout, ct);
        var match = jsProviders.GetProperty("providers").EnumerateArray()
            .FirstOrDefault(p => p.GetProperty("peerId").GetString() == provider.LocalPeerId.ToString());
        Assert.True(match.ValueKind == JsonValueKind.Object, $"js did not find the Parley provider {provider.LocalPeerId}: {jsProviders}");
        Assert.Contains(provider.ListenAddresses[0], Strings(match, "addrs").Select(a => Multiaddr.Parse(a).WithoutPeerId()));

        var jsContent = Multihash.Sha256(RandomNumberGenerator.GetBytes(16)).Bytes.ToArray();
        var jsProvider = _js[0];
        var provided = await jsProvider.CommandAsync("dht-provide", new { keyHex = Hex(jsContent), timeoutMs = 20_000 }, JsCommandTimeout, ct);
        Assert.True(Strings(provided, "sentTo").Any(IsParley), $"js ADD_PROVIDER reached no Parley node: {provided}");
        var parleyProviders = await _parley[3].Node.FindProvidersAsync(jsContent, 5, ct);
        var found = parleyProviders.FirstOrDefault(p => p.Peer.ToString() == jsProvider.PeerId);
        Assert.True(found is not null, $"Parley did not find the js provider {jsProvider.PeerId}; got [{string.Join(", ", parleyProviders.Select(p => p.Peer))}]");
        Assert.Contains(ListenAddress(jsProvider), found.Addresses.Select(a => a.WithoutPeerId()));
    }

    /// <summary>Builds the mixed network on <paramref name="protocol"/>, runs <paramref name="body"/>, and on failure prints both sides' logs.</summary>
    private async Task RunAsync(string protocol, Func<CancellationToken, Task> body)
    {
        using var cts = new CancellationTokenSource(TestTimeout);
        var started = TimeProvider.System.GetTimestamp();
        try
        {
            await BuildNetworkAsync(protocol, cts.Token);
            output.WriteLine($"network of {JsCount} js + {ParleyCount} Parley nodes on {protocol} ready after {TimeProvider.System.GetElapsedTime(started).TotalSeconds:0.0} s");
            await body(cts.Token);
            output.WriteLine($"done after {TimeProvider.System.GetElapsedTime(started).TotalSeconds:0.0} s");
            if (Environment.GetEnvironmentVariable("PARLEY_DHT_INTEROP_VERBOSE") == "1")
            {
                await DumpDiagnosticsAsync();
            }
        }
        catch (Exception)
        {
            output.WriteLine($"FAILED after {TimeProvider.System.GetElapsedTime(started).TotalSeconds:0.0} s");
            await DumpDiagnosticsAsync();
            throw;
        }
    }

    private async Task BuildNetworkAsync(string protocol, CancellationToken ct)
    {
        var jsStarts = Enumerable.Range(0, JsCount)
            .Select(i => JsPeer.StartScriptAsync("dht-peer.mjs", $"js-dht-interop/{i}", ["--dht-protocol", protocol], ct))
            .ToList();
        try
        {
            await Task.WhenAll(jsStarts);
        }
        finally
        {
            _js.AddRange(jsStarts.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
        }
        for (var i = 0; i < ParleyCount; i++)
        {
            await StartParleyNodeAsync(protocol, $"parley-dht-interop/{i}", ct);
        }

        // Each Parley node joins through two js nodes and the previous Parley node.
        for (var i = 0; i < ParleyCount; i++)
        {
            List<DhtPeer> known = [JsContact(_js[i % JsCount]), JsContact(_js[(i + 1) % JsCount])];
            if (i > 0)
            {
                known.Add(new DhtPeer(_parley[i - 1].Host.LocalPeerId, _parley[i - 1].Host.ListenAddresses));
            }
            var size = await _parley[i].Node.BootstrapAsync(known, ct);
            Assert.True(size > 0, $"Parley node {i} could not join through {string.Join(", ", known.Select(k => k.Peer))}");
        }

        // Each js node joins through two Parley nodes and the next js node.
        await Task.WhenAll(_js.Select((js, i) => js.CommandAsync(
            "dht-bootstrap",
            new { addrs = new[] { ParleyAddress(i % ParleyCount), ParleyAddress((i + 2) % ParleyCount), _js[(i + 1) % JsCount].Addresses[0] }, timeoutMs = 20_000 },
            JsCommandTimeout,
            ct)));

        // Nodes that joined early learn of the later ones with one more self-lookup (js would run its next one
        // only after 5 minutes; the initial one ran 1 s after start, before most peers had joined).
        foreach (var (_, node) in _parley)
        {
            await node.FindClosestPeersAsync(node.LocalPeer.Bytes.ToArray(), ct);
        }
        await Task.WhenAll(_js.Select(js => js.CommandAsync(
            "dht-closest", new { keyHex = Hex(PeerId.Parse(js.PeerId).Bytes.ToArray()), timeoutMs = 20_000 }, JsCommandTimeout, ct)));
        await WaitForRoutingTablesAsync(ct);
    }

    /// <summary>
    /// Polls until every node has every other node in its routing table (js adds peers asynchronously, after identify
    /// and a ping). After the deadline it settles for every node knowing at least one node of each kind.
    /// </summary>
    private async Task WaitForRoutingTablesAsync(CancellationToken ct)
    {
        var deadline = TimeProvider.System.GetTimestamp() + (long)(TimeSpan.FromSeconds(10).TotalSeconds * TimeProvider.System.TimestampFrequency);
        var total = JsCount + ParleyCount;
        while (true)
        {
            var tables = new List<(string Name, IReadOnlyList<string> Peers)>();
            foreach (var (js, i) in _js.Select((j, i) => (j, i)))
            {
                var table = await js.CommandAsync("dht-routing-table", new { peers = true }, JsCommandTimeout, ct);
                tables.Add(($"js{i}", Strings(table, "peers")));
            }
            foreach (var ((host, node), i) in _parley.Take(ParleyCount).Select((p, i) => (p, i)))
            {
                tables.Add(($"parley{i}", node.RoutingTable.Snapshot().Select(e => e.Peer.ToString()).ToList()));
            }
            if (tables.All(t => t.Peers.Count >= total - 1))
            {
                return;
            }
            if (TimeProvider.System.GetTimestamp() > deadline)
            {
                var summary = string.Join("; ", tables.Select(t => $"{t.Name}: {t.Peers.Count(IsJs)} js + {t.Peers.Count(IsParley)} Parley"));
                output.WriteLine($"routing tables not full after the deadline: {summary}");
                Assert.True(tables.All(t => t.Peers.Any(IsJs) && t.Peers.Any(IsParley)), $"some node knows no node of one kind: {summary}");
                return;
            }
            await Task.Delay(100, ct);
        }
    }

    private async Task<(Libp2pHost Host, KademliaNode Node)> StartParleyNodeAsync(string protocol, string agent, CancellationToken ct)
    {
        var host = new Libp2pHost(IdentityKey.Generate(), new HostOptions
        {
            ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
            AgentVersion = agent,
        }, _logs);
        var node = new KademliaNode(
            new NetworkDhtMessenger(host, protocol, logger: _logs.CreateLogger(typeof(NetworkDhtMessenger).FullName!)),
            ParleyRecords.CreateValidators(TimeProvider.System),
            new DhtOptions { ProtocolId = protocol, RunMaintenance = false, MinRequestTimeout = TimeSpan.FromSeconds(3) },
            loggerFactory: _logs);
        _parley.Add((host, node));
        await host.StartAsync(ct);
        node.Start();
        return (host, node);
    }

    private async Task DumpDiagnosticsAsync()
    {
        foreach (var (js, i) in _js.Select((j, i) => (j, i)))
        {
            output.WriteLine($"--- js{i} {js.PeerId} {string.Join(" ", js.Addresses)} stderr:");
            output.WriteLine(js.RecentStderr(60));
            try
            {
                var table = await js.CommandAsync("dht-routing-table", new { peers = true }, TimeSpan.FromSeconds(3));
                output.WriteLine($"routing table: {string.Join(", ", Strings(table, "peers").Select(Name))}");
            }
            catch (Exception e) when (e is JsPeerException or ObjectDisposedException)
            {
                output.WriteLine($"(routing table unavailable: {e.Message})");
            }
        }
        foreach (var ((host, node), i) in _parley.Select((p, i) => (p, i)))
        {
            output.WriteLine($"--- parley{i} {host.LocalPeerId} {string.Join(" ", host.ListenAddresses)} routing table:");
            foreach (var e in node.RoutingTable.Snapshot())
            {
                output.WriteLine($"  {Name(e.Peer.ToString())} {string.Join(" ", e.Addresses)}");
            }
        }
        output.WriteLine("--- Parley logs (last lines):");
        output.WriteLine(_logs.Tail(400));
    }

    private string Name(string? peerId)
    {
        var js = _js.FindIndex(j => j.PeerId == peerId);
        if (js >= 0)
        {
            return $"js{js}";
        }
        var parley = _parley.FindIndex(p => p.Host.LocalPeerId.ToString() == peerId);
        return parley >= 0 ? $"parley{parley}" : peerId ?? "?";
    }

    private bool IsJs(string? peerId) => _js.Any(j => j.PeerId == peerId);

    private bool IsParley(string? peerId) => _parley.Any(p => p.Host.LocalPeerId.ToString() == peerId);

    private string ParleyAddress(int i) => _parley[i].Host.ListenAddresses[0].WithPeerId(_parley[i].Host.LocalPeerId).ToString();

    private List<Multiaddr> ListenAddressesOf(string peerId)
    {
        var js = _js.Find(j => j.PeerId == peerId);
        if (js is not null)
        {
            return [.. js.Addresses.Select(a => Multiaddr.Parse(a).WithoutPeerId())];
        }
        return [.. _parley.Where(p => p.Host.LocalPeerId.ToString() == peerId).SelectMany(p => p.Host.ListenAddresses)];
    }

    private static DhtPeer JsContact(JsPeer js) => new(PeerId.Parse(js.PeerId), [Multiaddr.Parse(js.Addresses[0]).WithoutPeerId()]);

    private static Multiaddr ListenAddress(JsPeer js) => Multiaddr.Parse(js.Addresses[0]).WithoutPeerId();

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    private static List<string> Strings(JsonElement element, string property) =>
        [.. element.GetProperty(property).EnumerateArray().Select(e => e.GetString() ?? "")];

    /// <summary>The peer (other than <paramref name="exclude"/>) whose SHA-256 Kademlia id is XOR-closest to SHA-256(<paramref name="key"/>).</summary>
    private static string TrueClosest(byte[] key, IEnumerable<string> peers, string exclude)
    {
        var target = SHA256.HashData(key);
        return peers.Where(p => p != exclude)
            .OrderBy(p => SHA256.HashData(PeerId.Parse(p).Bytes), Comparer<byte[]>.Create((a, b) => CompareXor(a, b, target)))
            .First();
    }

    private static int CompareXor(byte[] a, byte[] b, byte[] target)
    {
        for (var i = 0; i < target.Length; i++)
        {
            var c = (a[i] ^ target[i]).CompareTo(b[i] ^ target[i]);
            if (c != 0)
            {
                return c;
            }
        }
        return 0;
    }

    /// <summary>Keeps the Parley DHT's debug log (and warnings of everything else) for the failure output.</summary>
    private sealed class CapturingLoggerFactory : ILoggerFactory
    {
        private const int MaxLines = 5000;
        private readonly ConcurrentQueue<string> _lines = new();

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public string Tail(int lines)
        {
            var all = _lines.ToArray();
            return string.Join(Environment.NewLine, all.Skip(Math.Max(0, all.Length - lines)));
        }

        public void Dispose()
        {
        }

        private void Add(string line)
        {
            _lines.Enqueue(line);
            while (_lines.Count > MaxLines && _lines.TryDequeue(out _))
            {
            }
        }

        private sealed class Logger(CapturingLoggerFactory owner, string category) : ILogger
        {
            private readonly LogLevel _minimum = category.StartsWith("Parley.Dht", StringComparison.Ordinal) ? LogLevel.Debug : LogLevel.Warning;

            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= _minimum;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (!IsEnabled(logLevel))
                {
                    return;
                }
                var time = DateTimeOffset.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);
                var shortCategory = category[(category.LastIndexOf('.') + 1)..];
                owner.Add($"{time} {logLevel} {shortCategory}: {formatter(state, exception)}{(exception is null ? "" : " | " + exception.Message)}");
            }
        }
    }
}
