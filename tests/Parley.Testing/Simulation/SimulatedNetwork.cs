namespace Parley.Testing.Simulation;

/// <summary>
/// What happens to a message between two simulated nodes (int indexes): its delay from the
/// <see cref="LatencyModel"/>, random loss at <see cref="LossRate"/> from a seeded generator, and partitions. Loss
/// draws come from one sequence, so they reproduce when the simulation asks in the same order, as a
/// <see cref="SimulationScheduler"/> run does. Not thread-safe, like the rest of a simulation.
/// </summary>
public sealed class SimulatedNetwork
{
    // Unlisted nodes share this group, so a partition needs to list only the nodes split off.
    private const int RestGroup = -1;

    private readonly Dictionary<int, int> _groupOf = [];
    private DeterministicRandom _lossDraws;
    private double _lossRate;

    /// <summary>A network with the default latency model; both latency and loss derive from <paramref name="seed"/>.</summary>
    public SimulatedNetwork(long seed)
        : this(new LatencyModel(seed), seed)
    {
    }

    public SimulatedNetwork(LatencyModel latency, long lossSeed)
    {
        ArgumentNullException.ThrowIfNull(latency);
        Latency = latency;
        // Mixed with a constant so equal seeds give unrelated latency and loss sequences.
        _lossDraws = new DeterministicRandom(DeterministicRandom.Mix((ulong)lossSeed ^ 0x6C6F7373UL));
    }

    public LatencyModel Latency { get; }

    /// <summary>The chance, from 0 to 1, that any one message is lost.</summary>
    public double LossRate
    {
        get => _lossRate;
        set
        {
            if (!(value is >= 0 and <= 1))
            {
                throw new ArgumentOutOfRangeException(nameof(value), value, "Must be between 0 and 1.");
            }
            _lossRate = value;
        }
    }

    /// <summary>Whether there is a partition in force.</summary>
    public bool HasPartitions => _groupOf.Count > 0;

    /// <summary>Draws whether one message is lost; draws nothing while <see cref="LossRate"/> is zero.</summary>
    public bool IsLost() => _lossRate > 0 && _lossDraws.NextDouble() < _lossRate;

    /// <summary>True when the two nodes are in different partition groups and so cannot talk.</summary>
    public bool Partitioned(int a, int b) => a != b && GroupOf(a) != GroupOf(b);

    /// <summary>
    /// Splits the network: nodes in different groups cannot talk. Nodes in no group form one more group together.
    /// Replaces any previous partition.
    /// </summary>
    /// <exception cref="ArgumentException">A node is listed in two groups.</exception>
    public void SetPartitions(IEnumerable<IEnumerable<int>> groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var groupOf = new Dictionary<int, int>();
        var group = 0;
        foreach (var members in groups)
        {
            ArgumentNullException.ThrowIfNull(members, nameof(groups));
            foreach (var node in members)
            {
                if (!groupOf.TryAdd(node, group))
                {
                    throw new ArgumentException($"Node {node} is listed in more than one group.", nameof(groups));
                }
            }
            group++;
        }
        _groupOf.Clear();
        foreach (var (node, nodeGroup) in groupOf)
        {
            _groupOf.Add(node, nodeGroup);
        }
    }

    /// <summary>Ends every partition: all nodes can talk again.</summary>
    public void HealPartitions() => _groupOf.Clear();

    /// <summary>
    /// Decides the fate of one message: false when the nodes are partitioned or the message is lost, otherwise true
    /// with the one-way delay after which it arrives.
    /// </summary>
    public bool TryGetDeliveryDelay(int from, int to, out TimeSpan delay)
    {
        if (Partitioned(from, to) || IsLost())
        {
            delay = TimeSpan.Zero;
            return false;
        }
        delay = Latency.OneWay(from, to);
        return true;
    }

    private int GroupOf(int node) => _groupOf.TryGetValue(node, out var group) ? group : RestGroup;
}
