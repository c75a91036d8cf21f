using System.Diagnostics;
using System.Text;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Dht.Records;
using Parley.Testing.Simulation;

namespace Parley.Sim;

/// <summary>One lookup as the simulation saw it.</summary>
public sealed record LookupSample(TimeSpan At, bool Success, TimeSpan Latency, int Hops);

public sealed record SimulationReport(
    SimulationConfig Config,
    IReadOnlyList<LookupSample> Lookups,
    double SuccessRate,
    double MeanHops,
    Percentiles LatencyMs,
    IReadOnlyList<(TimeSpan WindowStart, double SuccessRate, int Lookups)> SuccessOverTime,
    double RecordsRetrievableAtEnd,
    int NodesJoined,
    int NodesDeparted,
    long Messages,
    TimeSpan VirtualDuration,
    TimeSpan WallTime,
    double ManagedMegabytesPerNode);

/// <summary>
/// The real <see cref="KademliaNode"/> code, thousands of instances, on a simulated network under virtual time:
/// join, publish records, then a measured phase of value lookups with churn, loss and mass failure, then a
/// durability check. Single-threaded and seeded, so a run is reproducible.
/// </summary>
public sealed class DhtSimulation(SimulationConfig config)
{
    private readonly Random _random = new(config.Seed);
    private readonly List<(RecordKey Key, byte[] Value)> _records = [];
    private readonly List<LookupSample> _samples = [];
    private SimWorld _world = null!;
    private DhtOptions _options = null!;
    private SybilBehaviour? _sybils;
    private (RecordKey Key, byte[] Value) _target;
    private int _nextIndex;
    private int _departed;
    private Stopwatch _wall = new();

    public SimulationReport Run()
    {
        _wall = Stopwatch.StartNew();
        var wall = _wall;
        var scheduler = new SimulationScheduler();
        var network = new SimulatedNetwork(new LatencyModel(config.Seed, config.MinRoundTrip, config.MaxRoundTrip, LatencyDistribution.LogNormal), config.Seed + 1)
        {
            LossRate = config.LossRate,
        };
        _world = new SimWorld(scheduler, network);
        _options = new DhtOptions
        {
            K = config.K,
            Alpha = config.Alpha,
            DisjointPaths = config.DisjointPaths,
            MaintenanceInterval = TimeSpan.FromMinutes(5),
            RefreshInterval = config.RefreshInterval,
            ReplicationInterval = TimeSpan.FromHours(1),
            // Small replacement caches keep 10,000 routing tables within memory; churn refills them quickly.
            ReplacementCacheSize = 4,
        };
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        double recordsAtEnd = 0;
        TimeSpan measuredStart = default;
        var sybilCount = (int)(config.Nodes * config.SybilFraction);
        if (sybilCount > 0)
        {
            _target = CreateRecord("target");
            _sybils = new SybilBehaviour(_target.Key.ToArray(), config.K);
        }
        var result = scheduler.Run(async () =>
        {
            await JoinAllAsync(config.Nodes - sybilCount);
            Progress(wall, $"{config.Nodes - sybilCount} nodes joined");
            if (sybilCount > 0)
            {
                await JoinSybilsAsync(sybilCount);
                Progress(wall, $"{sybilCount} Sybils from {config.SybilNetworks} /16 networks joined");
                await _world.Online.First(n => n.Sybil is null).Dht.PutValueAsync(_target.Key, _target.Value, CancellationToken.None);
            }
            await PublishRecordsAsync();
            Progress(wall, $"{config.Records} records published");
            measuredStart = Elapsed();
            if (config.FailAtOnce > 0)
            {
                FailAtOnce(config.FailAtOnce);
            }
            await MeasureAsync();
            Progress(wall, $"{_samples.Count} lookups measured");
            recordsAtEnd = await CheckDurabilityAsync();
        });
        if (result.StopReason != SimulationStopReason.EntryCompleted)
        {
            throw new InvalidOperationException($"simulation stopped early: {result.StopReason} at {result.StoppedAt}");
        }
        var memoryPerNode = (GC.GetTotalMemory(forceFullCollection: true) - memoryBefore) / 1e6 / Math.Max(1, _world.Online.Count);
        var successes = _samples.Count(s => s.Success);
        var windows = _samples
            .GroupBy(s => (int)((s.At - measuredStart) / config.Window))
            .OrderBy(g => g.Key)
            .Select(g => (measuredStart + g.Key * config.Window, g.Count(s => s.Success) / (double)g.Count(), g.Count()))
            .ToList();
        return new SimulationReport(
            config,
            _samples,
            _samples.Count == 0 ? 0 : successes / (double)_samples.Count,
            _samples.Count == 0 ? 0 : _samples.Where(s => s.Success).DefaultIfEmpty().Average(s => s?.Hops ?? 0),
            Percentiles.OfMilliseconds(_samples.Where(s => s.Success).Select(s => s.Latency)),
            windows,
            recordsAtEnd,
            _nextIndex,
            _departed,
            _world.Messages,
            result.StoppedAt - VirtualTimeProvider.DefaultStart,
            wall.Elapsed,
            memoryPerNode);
    }

    private TimeSpan Elapsed() => _world.Time.GetUtcNow() - VirtualTimeProvider.DefaultStart;

    private void Progress(Stopwatch wall, string what) =>
        Console.Error.WriteLine($"[{(int)wall.Elapsed.TotalHours}:{wall.Elapsed:mm\\:ss} wall, {Elapsed():d\\.hh\\:mm\\:ss} virtual, {_world.Messages:N0} messages] {what}");

    /// <summary>Nodes join a few at a time, each through three random members already in, as users arriving would.</summary>
    private async Task JoinAllAsync(int count)
    {
        const int concurrentJoins = 50;
        var first = AddNode();
        first.Dht.Start();
        var pending = new List<Task>();
        for (var i = 1; i < count; i++)
        {
            pending.Add(JoinNewNodeAsync());
            if (pending.Count == concurrentJoins)
            {
                await Task.WhenAll(pending);
                pending.Clear();
            }
        }
        await Task.WhenAll(pending);
    }

    private async Task JoinNewNodeAsync(SimNode? node = null)
    {
        var contacts = Enumerable.Range(0, 3).Select(_ => _world.Online[_random.Next(_world.Online.Count)]).Distinct().Select(n => new DhtPeer(n.Peer, n.Addresses)).ToList();
        node ??= AddNode();
        node.Dht.Start();
        await node.Dht.BootstrapAsync(contacts, CancellationToken.None);
    }

    private SimNode AddNode()
    {
        var seed = new byte[32];
        _random.NextBytes(seed);
        // In the Sybil scenario honest nodes are spread over the IPv4 space (first octets 1 to 99 but 10 and 45).
        var address = _sybils is null ? null : new System.Net.IPAddress([(byte)_random.Next(46, 100), (byte)_random.Next(256), (byte)_random.Next(256), (byte)_random.Next(1, 255)]);
        var node = new SimNode(_world, _nextIndex++, IdentityKey.FromSeed(seed), _options, new Random(_random.Next()), address);
        _world.Add(node);
        return node;
    }

    /// <summary>
    /// The attackers: identities ground until each is closer to the target key than honest nodes are likely to be
    /// (two bits past log2 of the network's size), on addresses in a handful of /16 networks (45.16.0.0/16, 45.32…),
    /// joining through honest members like anyone.
    /// </summary>
    private async Task JoinSybilsAsync(int count)
    {
        var prefixBits = (int)Math.Ceiling(Math.Log2(config.Nodes)) + 2;
        var grinder = new Random(_random.Next());
        var sybils = new List<SimNode>();
        for (var i = 0; i < count; i++)
        {
            var network = (byte)(16 * (1 + (i % config.SybilNetworks)));
            var address = new System.Net.IPAddress([45, network, (byte)_random.Next(256), (byte)_random.Next(1, 255)]);
            var sybil = new SimNode(_world, _nextIndex++, _sybils!.Grind(grinder, prefixBits), _options, new Random(_random.Next()), address, _sybils);
            _sybils.Add(sybil);
            sybils.Add(sybil);
        }
        foreach (var batch in sybils.Chunk(50))
        {
            await Task.WhenAll(batch.Select(sybil =>
            {
                var join = JoinNewNodeAsync(sybil);
                _world.Add(sybil);
                return join;
            }));
        }
    }

    private (RecordKey Key, byte[] Value) CreateRecord(string name)
    {
        var seed = new byte[32];
        _random.NextBytes(seed);
        var owner = IdentityKey.FromSeed(seed);
        var key = ParleyRecords.UserRecordKey(owner.PeerId, name);
        return (key, SignedRecord.Create(owner, key, Encoding.UTF8.GetBytes($"value of {name}"), 1, _world.Time.GetUtcNow() + TimeSpan.FromDays(6)));
    }

    private async Task PublishRecordsAsync()
    {
        var expires = _world.Time.GetUtcNow() + TimeSpan.FromDays(6);
        var puts = new List<Task>();
        for (var i = 0; i < config.Records; i++)
        {
            var seed = new byte[32];
            _random.NextBytes(seed);
            var owner = IdentityKey.FromSeed(seed);
            var key = ParleyRecords.UserRecordKey(owner.PeerId, $"record-{i}");
            var value = SignedRecord.Create(owner, key, Encoding.UTF8.GetBytes($"value {i}"), 1, expires);
            _records.Add((key, value));
            var publisher = _world.Online[_random.Next(_world.Online.Count)];
            puts.Add(publisher.Dht.PutValueAsync(key, value, CancellationToken.None));
        }
        await Task.WhenAll(puts);
    }

    private void FailAtOnce(double fraction)
    {
        var victims = _world.Online.OrderBy(_ => _random.Next()).Take((int)(fraction * _world.Online.Count)).ToList();
        foreach (var victim in victims)
        {
            Depart(victim);
        }
    }

    private async Task MeasureAsync()
    {
        var lookups = new List<Task>();
        var spacing = config.Duration / Math.Max(1, config.Lookups);
        var churnEvents = (int)(config.ChurnPerHour * config.Nodes * config.Duration.TotalHours);
        var churnSpacing = churnEvents > 0 ? config.Duration / churnEvents : TimeSpan.MaxValue;
        var nextChurn = churnSpacing;
        var elapsed = TimeSpan.Zero;
        var partitionStart = (config.Duration - config.Partition) / 2;
        var partitioned = false;
        for (var i = 0; i < config.Lookups; i++)
        {
            await Task.Delay(spacing, _world.Time);
            elapsed += spacing;
            while (elapsed >= nextChurn)
            {
                // One leaves at once (a crash, a laptop lid), one newcomer joins through random members.
                Depart(_world.Online[_random.Next(_world.Online.Count)]);
                lookups.Add(JoinNewNodeAsync());
                nextChurn += churnSpacing;
            }
            if (config.Partition > TimeSpan.Zero && !partitioned && elapsed >= partitionStart && elapsed < partitionStart + config.Partition)
            {
                // Two halves by node index; newcomers (higher indexes) fall on either side the same way.
                _world.Network.SetPartitions([Enumerable.Range(0, _nextIndex + config.Nodes).Where(n => n % 2 == 0)]);
                partitioned = true;
                Progress(_wall, "network split in two");
            }
            else if (partitioned && elapsed >= partitionStart + config.Partition)
            {
                _world.Network.HealPartitions();
                partitioned = false;
                Progress(_wall, "partition healed");
            }
            lookups.Add(LookupAsync());
            if (config.Lookups >= 10 && (i + 1) % (config.Lookups / 10) == 0)
            {
                Progress(_wall, $"{i + 1} of {config.Lookups} lookups started, {_world.Online.Count} nodes online");
            }
        }
        await Task.WhenAll(lookups);
    }

    private async Task LookupAsync()
    {
        var at = Elapsed();
        SimNode searcher;
        do
        {
            searcher = _world.Online[_random.Next(_world.Online.Count)];
        }
        while (searcher.Sybil is not null);
        // In the Sybil scenario every measured lookup is an honest node looking for the key under attack.
        var (key, value) = _sybils is null ? _records[_random.Next(_records.Count)] : _target;
        var result = await searcher.Dht.GetValueAsync(key, CancellationToken.None);
        var success = result.Value is not null && result.Value.AsSpan().SequenceEqual(value);
        _samples.Add(new LookupSample(at, success, result.Elapsed, result.Hops));
    }

    private async Task<double> CheckDurabilityAsync()
    {
        if (_records.Count == 0)
        {
            return 1;
        }
        var found = await Task.WhenAll(_records.Select(async record =>
        {
            var searcher = _world.Online[_random.Next(_world.Online.Count)];
            var result = await searcher.Dht.GetValueAsync(record.Key, CancellationToken.None);
            return result.Value is not null;
        }));
        return found.Count(f => f) / (double)found.Length;
    }

    private void Depart(SimNode node)
    {
        _world.TakeOffline(node);
        _departed++;
        _world.Scheduler.Observe(node.Dht.DisposeAsync().AsTask());
    }
}
