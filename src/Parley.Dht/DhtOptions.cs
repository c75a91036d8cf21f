namespace Parley.Dht;

/// <summary>Kademlia parameters. Defaults follow the libp2p kad-dht spec and go-libp2p-kad-dht.</summary>
public sealed class DhtOptions
{
    public const string ParleyProtocolId = "/parley/kad/1.0.0";
    public const string StandardProtocolId = "/ipfs/kad/1.0.0";

    /// <summary>Parley's own DHT by default; <see cref="StandardProtocolId"/> joins a public libp2p DHT.</summary>
    public string ProtocolId { get; init; } = ParleyProtocolId;

    /// <summary>Bucket size and replication factor.</summary>
    public int K { get; init; } = 20;

    /// <summary>Requests in flight per lookup path.</summary>
    public int Alpha { get; init; } = 3;

    /// <summary>S/Kademlia disjoint lookup paths; 1 is plain Kademlia.</summary>
    public int DisjointPaths { get; init; } = 1;

    /// <summary>Valid records a GET_VALUE must see before it stops early.</summary>
    public int GetQuorum { get; init; } = 3;

    /// <summary>Bounds of the adaptive per-request timeout.</summary>
    public TimeSpan MinRequestTimeout { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A lookup gives up after this long and returns what it has.</summary>
    public TimeSpan LookupTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public int MaxMessageSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>How often the maintenance loop runs bucket refresh, republish, re-replication and expiry.</summary>
    public TimeSpan MaintenanceInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Records this node stores for others are pushed to the current k closest this often.</summary>
    public TimeSpan ReplicationInterval { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Buckets no lookup touched for this long are refreshed by a lookup of a random id in them.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Peers waiting per bucket for a place to free up.</summary>
    public int ReplacementCacheSize { get; init; } = 20;

    /// <summary>Server answers and advertises the kad protocol; a node others cannot dial runs as a client (see <see cref="DhtMode"/>).</summary>
    public DhtMode Mode { get; init; } = DhtMode.Server;

    /// <summary>Disabling maintenance is for tests that drive every step themselves.</summary>
    public bool RunMaintenance { get; init; } = true;
}

/// <summary>
/// As in go-libp2p-kad-dht: a server answers queries and enters other nodes' routing tables; a client (a node that
/// cannot be dialled) only asks. Both look up, put, get and provide.
/// </summary>
public enum DhtMode
{
    Server,
    Client,
}
