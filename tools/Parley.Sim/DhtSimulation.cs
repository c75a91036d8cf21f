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
        var result = scheduler.Run(async () =>
        {
            await JoinAllAsync();
            Progress(wall, $"{config.Nodes} nodes joined");
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
        Console.Error.WriteLine($"[{wall.Elapsed:mm\\:ss} wall, {Elapsed():d\\.hh\\:mm\\:ss} virtual, {_world.Messages:N0} messages] {what}");

    /// <summary>Nodes join a few at a time, each through three random members already in, as users arriving would.</summary>
    private async Task JoinAllAsync()
    {
        const int concurrentJoins = 50;
        var first = AddNode();
        first.Dht.Start();
        var pending = new List<Task>();
        for (var i = 1; i < config.Nodes; i++)
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

    private async Task JoinNewNodeAsync()
    {
        var contacts = Enumerable.Range(0, 3).Select(_ => _world.Online[_random.Next(_world.Online.Count)]).Distinct().Select(n => new DhtPeer(n.Peer, n.Addresses)).ToList();
        var node = AddNode();
        node.Dht.Start();
        await node.Dht.BootstrapAsync(contacts, CancellationToken.None);
    }

    private SimNode AddNode()
    {
        var seed = new byte[32];
        _random.NextBytes(seed);
        var node = new SimNode(_world, _nextIndex++, IdentityKey.FromSeed(seed), _options, new Random(_random.Next()));
        _world.Add(node);
        return node;
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
        var searcher = _world.Online[_random.Next(_world.Online.Count)];
        var (key, value) = _records[_random.Next(_records.Count)];
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
