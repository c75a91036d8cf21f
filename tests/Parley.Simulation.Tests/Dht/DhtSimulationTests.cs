using Parley.Sim;

namespace Parley.Simulation.Tests.Dht;

/// <summary>
/// The real DHT code on the simulated network, small and fast: the properties the full-size runs measure must
/// hold in shape here (the figures themselves come from tools/Parley.Sim, see docs/benchmarks.md).
/// </summary>
[Collection(nameof(DhtSimulations))]
public sealed class DhtSimulationTests
{
    [Fact]
    public void Every_lookup_succeeds_in_a_stable_network_of_500()
    {
        var report = new DhtSimulation(new SimulationConfig
        {
            Nodes = 500,
            Lookups = 200,
            Records = 30,
            Duration = TimeSpan.FromMinutes(20),
            LossRate = 0.01,
            Seed = 7,
        }).Run();

        Assert.Equal(1.0, report.SuccessRate);
        Assert.InRange(report.MeanHops, 1, 4);
        Assert.Equal(1.0, report.RecordsRetrievableAtEnd);
        Assert.True(report.LatencyMs.P50 < 1000, $"median lookup {report.LatencyMs.P50} ms");
    }

    /// <summary>A fifth of the nodes, from four /16 networks, with ids ground next to one key, answer about it with
    /// one another only and drop it: honest lookups for it still succeed (the lookup's subnet limit).</summary>
    [Fact]
    public void Honest_lookups_succeed_while_sybils_from_four_networks_eclipse_the_key()
    {
        var report = new DhtSimulation(new SimulationConfig
        {
            Nodes = 300,
            SybilFraction = 0.2,
            SybilNetworks = 4,
            Lookups = 100,
            Records = 5,
            Duration = TimeSpan.FromMinutes(20),
            Seed = 17,
        }).Run();

        Assert.Equal(100, report.Lookups.Count);
        Assert.True(report.SuccessRate >= 0.95, $"success {report.SuccessRate:P2}");
    }

    [Fact]
    public void Lookups_keep_succeeding_while_half_the_network_is_replaced_per_hour()
    {
        var report = new DhtSimulation(new SimulationConfig
        {
            Nodes = 200,
            ChurnPerHour = 0.5,
            Lookups = 200,
            Records = 30,
            Duration = TimeSpan.FromHours(1),
            Seed = 11,
        }).Run();

        Assert.True(report.NodesDeparted >= 90, $"only {report.NodesDeparted} departures");
        Assert.True(report.SuccessRate >= 0.98, $"success {report.SuccessRate:P2}");
        Assert.True(report.RecordsRetrievableAtEnd >= 0.95, $"{report.RecordsRetrievableAtEnd:P0} of records retrievable");
    }

    [Fact]
    public void Lookups_succeed_right_after_thirty_percent_of_nodes_fail_at_once()
    {
        var report = new DhtSimulation(new SimulationConfig
        {
            Nodes = 200,
            FailAtOnce = 0.3,
            Lookups = 100,
            Records = 30,
            Duration = TimeSpan.FromMinutes(10),
            Seed = 13,
        }).Run();

        Assert.Equal(60, report.NodesDeparted);
        Assert.True(report.SuccessRate >= 0.97, $"success {report.SuccessRate:P2}");
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var config = new SimulationConfig { Nodes = 100, Lookups = 50, Records = 10, Duration = TimeSpan.FromMinutes(5), Seed = 3 };
        var first = new DhtSimulation(config).Run();
        var second = new DhtSimulation(config).Run();
        Assert.Equal(first.Messages, second.Messages);
        Assert.Equal(first.Lookups.Select(l => l.Latency), second.Lookups.Select(l => l.Latency));
    }
}

/// <summary>Simulations are CPU-bound and single-threaded each; run them one at a time.</summary>
[CollectionDefinition(nameof(DhtSimulations), DisableParallelization = true)]
public sealed class DhtSimulations;
