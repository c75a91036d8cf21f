namespace Parley.Testing.Simulation;

public enum LatencyDistribution
{
    /// <summary>Round-trip times spread evenly between the bounds.</summary>
    Uniform,

    /// <summary>
    /// Round-trip times log-normally distributed, as measured on the Internet: most pairs near the geometric mean of
    /// the bounds, a long tail towards the maximum. The bounds sit two standard deviations either side of the median.
    /// </summary>
    LogNormal,
}

/// <summary>
/// A fixed round-trip time for every pair of nodes, drawn once per pair from a distribution and derived from a hash
/// of (seed, lower index, higher index): symmetric, the same on every call and every run with the same seed, and
/// nothing stored, so 10,000 nodes cost no memory. Nodes are plain int indexes.
/// </summary>
public sealed class LatencyModel
{
    /// <summary>Default lower bound: a round trip within one region.</summary>
    public static readonly TimeSpan DefaultMinRoundTrip = TimeSpan.FromMilliseconds(20);

    /// <summary>Default upper bound: a round trip between continents.</summary>
    public static readonly TimeSpan DefaultMaxRoundTrip = TimeSpan.FromMilliseconds(300);

    // Log-normal draws outside the bounds are redrawn (about 5% are); after this many tries, clamp.
    private const int MaxLogNormalDraws = 32;

    private readonly ulong _seedHash;
    private readonly double _logMedian;
    private readonly double _logSigma;

    public LatencyModel(long seed)
        : this(seed, DefaultMinRoundTrip, DefaultMaxRoundTrip, LatencyDistribution.LogNormal)
    {
    }

    public LatencyModel(long seed, TimeSpan minRoundTrip, TimeSpan maxRoundTrip, LatencyDistribution distribution)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(minRoundTrip, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRoundTrip, minRoundTrip);
        if (!Enum.IsDefined(distribution))
        {
            throw new ArgumentOutOfRangeException(nameof(distribution), distribution, "Unknown distribution.");
        }
        Seed = seed;
        MinRoundTrip = minRoundTrip;
        MaxRoundTrip = maxRoundTrip;
        Distribution = distribution;
        _seedHash = DeterministicRandom.Mix((ulong)seed);
        var logMin = Math.Log(minRoundTrip.Ticks);
        var logMax = Math.Log(maxRoundTrip.Ticks);
        _logMedian = (logMin + logMax) / 2;
        _logSigma = (logMax - logMin) / 4;
    }

    public long Seed { get; }

    public TimeSpan MinRoundTrip { get; }

    public TimeSpan MaxRoundTrip { get; }

    public LatencyDistribution Distribution { get; }

    /// <summary>The round-trip time between two nodes; zero from a node to itself.</summary>
    public TimeSpan RoundTrip(int a, int b)
    {
        if (a == b)
        {
            return TimeSpan.Zero;
        }
        var pairKey = ((ulong)(uint)Math.Min(a, b) << 32) | (uint)Math.Max(a, b);
        var pairHash = DeterministicRandom.Mix(_seedHash ^ pairKey);
        var draws = new DeterministicRandom(pairHash);
        var ticks = Distribution == LatencyDistribution.Uniform
            ? MinRoundTrip.Ticks + (draws.NextDouble() * (MaxRoundTrip.Ticks - MinRoundTrip.Ticks))
            : DrawLogNormalTicks(ref draws);
        return TimeSpan.FromTicks((long)Math.Round(ticks));
    }

    /// <summary>Half the round trip: the delay of one message from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public TimeSpan OneWay(int from, int to) => RoundTrip(from, to) / 2;

    private double DrawLogNormalTicks(ref DeterministicRandom draws)
    {
        double ticks = 0;
        for (var attempt = 0; attempt < MaxLogNormalDraws; attempt++)
        {
            // Box-Muller: two uniform draws give one standard normal; 1 - u keeps the logarithm finite.
            var normal = Math.Sqrt(-2 * Math.Log(1 - draws.NextDouble())) * Math.Cos(2 * Math.PI * draws.NextDouble());
            ticks = Math.Exp(_logMedian + (_logSigma * normal));
            if (ticks >= MinRoundTrip.Ticks && ticks <= MaxRoundTrip.Ticks)
            {
                return ticks;
            }
        }
        return Math.Clamp(ticks, MinRoundTrip.Ticks, MaxRoundTrip.Ticks);
    }
}
