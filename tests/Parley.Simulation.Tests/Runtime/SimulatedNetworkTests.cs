using Parley.Testing.Simulation;

namespace Parley.Simulation.Tests.Runtime;

public sealed class SimulatedNetworkTests
{
    private static readonly TimeSpan Min = LatencyModel.DefaultMinRoundTrip;
    private static readonly TimeSpan Max = LatencyModel.DefaultMaxRoundTrip;

    [Theory]
    [InlineData(LatencyDistribution.LogNormal)]
    [InlineData(LatencyDistribution.Uniform)]
    public void Round_trips_are_deterministic_symmetric_and_within_bounds(LatencyDistribution distribution)
    {
        var model = new LatencyModel(42, Min, Max, distribution);
        var again = new LatencyModel(42, Min, Max, distribution);
        var otherSeed = new LatencyModel(43, Min, Max, distribution);
        var differences = 0;

        for (var a = 0; a < 200; a++)
        {
            for (var b = a + 1; b < 200; b++)
            {
                var rtt = model.RoundTrip(a, b);
                Assert.InRange(rtt, Min, Max);
                Assert.Equal(rtt, model.RoundTrip(b, a));
                Assert.Equal(rtt, again.RoundTrip(a, b));
                Assert.Equal(rtt / 2, model.OneWay(b, a));
                differences += otherSeed.RoundTrip(a, b) == rtt ? 0 : 1;
            }
        }

        Assert.True(differences > 19_000, $"only {differences} pairs differ between seeds");
        Assert.Equal(TimeSpan.Zero, model.RoundTrip(5, 5));
    }

    [Fact]
    public void Log_normal_round_trips_centre_on_the_geometric_mean_with_a_tail_towards_the_maximum()
    {
        var model = new LatencyModel(1);
        var stats = Percentiles.OfMilliseconds(Enumerable.Range(0, 100_000).Select(i => model.RoundTrip(i, i + 1_000_000)));

        var geometricMean = Math.Sqrt(Min.TotalMilliseconds * Max.TotalMilliseconds); // about 77 ms
        Assert.InRange(stats.P50, geometricMean * 0.95, geometricMean * 1.05);
        Assert.True(stats.Mean > stats.P50, "a log-normal distribution is skewed right");
        Assert.InRange(stats.P90, 150, 230);
        Assert.True(stats.Min >= Min.TotalMilliseconds && stats.Max <= Max.TotalMilliseconds);
    }

    [Fact]
    public void Uniform_round_trips_spread_evenly()
    {
        var model = new LatencyModel(1, Min, Max, LatencyDistribution.Uniform);
        var stats = Percentiles.OfMilliseconds(Enumerable.Range(0, 100_000).Select(i => model.RoundTrip(-i, i + 1)));

        Assert.InRange(stats.P50, 155, 165);
        Assert.InRange(stats.P90, 267, 277);
    }

    [Fact]
    public void Loss_rate_is_respected_statistically_and_reproducibly()
    {
        var network = new SimulatedNetwork(5) { LossRate = 0.1 };
        var again = new SimulatedNetwork(5) { LossRate = 0.1 };
        var lost = 0;

        for (var i = 0; i < 200_000; i++)
        {
            var isLost = network.IsLost();
            Assert.Equal(isLost, again.IsLost());
            lost += isLost ? 1 : 0;
        }

        Assert.InRange(lost / 200_000.0, 0.097, 0.103);
        network.LossRate = 0;
        Assert.DoesNotContain(true, Enumerable.Range(0, 1000).Select(_ => network.IsLost()));
        network.LossRate = 1;
        Assert.DoesNotContain(false, Enumerable.Range(0, 1000).Select(_ => network.IsLost()));
        Assert.Throws<ArgumentOutOfRangeException>(() => network.LossRate = 1.5);
    }

    [Fact]
    public void Partitioned_nodes_cannot_talk_until_healed()
    {
        var network = new SimulatedNetwork(3);
        network.SetPartitions([[1, 2], [3]]);

        Assert.True(network.HasPartitions);
        Assert.False(network.Partitioned(1, 2));
        Assert.True(network.Partitioned(1, 3));
        Assert.True(network.Partitioned(3, 2));
        Assert.True(network.Partitioned(1, 99)); // unlisted nodes form a group of their own
        Assert.False(network.Partitioned(98, 99));
        Assert.False(network.TryGetDeliveryDelay(2, 3, out _));
        Assert.True(network.TryGetDeliveryDelay(1, 2, out var delay));
        Assert.Equal(network.Latency.OneWay(1, 2), delay);

        network.HealPartitions();
        Assert.False(network.Partitioned(1, 3));
        Assert.True(network.TryGetDeliveryDelay(2, 3, out _));
        Assert.Throws<ArgumentException>(() => network.SetPartitions([[1, 2], [2, 3]]));
    }

    [Fact]
    public void Lost_messages_are_not_delivered()
    {
        var network = new SimulatedNetwork(9) { LossRate = 0.5 };

        var delivered = Enumerable.Range(0, 10_000).Count(i => network.TryGetDeliveryDelay(i, i + 1, out _));

        Assert.InRange(delivered, 4_800, 5_200);
    }
}
