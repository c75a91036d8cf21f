namespace Parley.Sim;

/// <summary>What to simulate. Times are virtual: hours of network life run in seconds of wall time.</summary>
public sealed record SimulationConfig
{
    public int Nodes { get; init; } = 1000;

    public int K { get; init; } = 20;

    public int Alpha { get; init; } = 3;

    public int DisjointPaths { get; init; } = 1;

    /// <summary>Fraction of the nodes replaced per hour (0.5 = half the network leaves and is replaced by newcomers every hour).</summary>
    public double ChurnPerHour { get; init; }

    /// <summary>Fraction of the nodes that fail at once when measurement starts.</summary>
    public double FailAtOnce { get; init; }

    /// <summary>For this long in the middle of the measured phase the network is split in two halves that cannot reach each other.</summary>
    public TimeSpan Partition { get; init; }

    /// <summary>Chance that one message (request or response) is lost.</summary>
    public double LossRate { get; init; } = 0.01;

    public TimeSpan MinRoundTrip { get; init; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan MaxRoundTrip { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>How long the measured phase lasts after every node has joined.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Value lookups spread evenly over the measured phase.</summary>
    public int Lookups { get; init; } = 1000;

    /// <summary>Records published before the measured phase; lookups ask for them; durability is checked at the end.</summary>
    public int Records { get; init; } = 100;

    /// <summary>Width of the windows of the success-over-time chart.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Bucket refresh interval. Every refresh is a full lookup per stale bucket per node (about 14 at 10,000 nodes), so
    /// with little lookup traffic it dominates the cost of a large simulation; the default keeps large runs short.
    /// </summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromHours(2);

    public int Seed { get; init; } = 1;

    /// <summary>
    /// The Sybil scenario when above zero: this fraction of the nodes come from <see cref="SybilNetworks"/> IPv4 /16
    /// networks, with identities ground to be the closest to one target key; they answer every request about that key
    /// with one another only and drop what is stored under it. Every node then has a public IPv4 address, so the
    /// routing table's subnet limits apply, and the measured lookups are honest nodes looking up the target key.
    /// </summary>
    public double SybilFraction { get; init; }

    public int SybilNetworks { get; init; } = 4;

    /// <summary>Where CSV and SVG files go; null writes none.</summary>
    public string? OutputDirectory { get; init; }
}
