using System.Net;

namespace Parley.Net.Resources;

/// <summary>
/// Every limit the host enforces on what peers can make it hold, in one place (docs/architecture.md, Limits). Inbound
/// and outbound budgets are apart, so peers filling the inbound side never block our own dials. Limits by source
/// address apply to inbound connections: an IPv4 address (/32) and its /24, an IPv6 /64 and its /48.
/// </summary>
public sealed record ResourceLimits
{
    /// <summary>Inbound connections past their handshake; more are closed at accept.</summary>
    public int MaxInboundConnections { get; init; } = 512;

    /// <summary>Connections we dialled; a dial beyond it fails at once with a clear error.</summary>
    public int MaxOutboundConnections { get; init; } = 512;

    /// <summary>Connections to one peer, both directions (simultaneous dials make a second one now and then).</summary>
    public int MaxConnectionsPerPeer { get; init; } = 4;

    /// <summary>Inbound connections, established or in their handshake, from one IPv4 address or one IPv6 /64.</summary>
    public int MaxInboundConnectionsPerAddress { get; init; } = 8;

    /// <summary>The same from one IPv4 /24 or one IPv6 /48.</summary>
    public int MaxInboundConnectionsPerSubnet { get; init; } = 32;

    /// <summary>Inbound connections still in their handshake. When full, a newcomer from a source with fewer pending
    /// handshakes than the busiest source displaces that source's oldest one, so many sources cannot starve a new one.</summary>
    public int MaxPendingHandshakes { get; init; } = 64;

    /// <summary>Pending handshakes from one IPv4 address or one IPv6 /64.</summary>
    public int MaxPendingHandshakesPerAddress { get; init; } = 4;

    /// <summary>Pending handshakes from one IPv4 /24 or one IPv6 /48.</summary>
    public int MaxPendingHandshakesPerSubnet { get; init; } = 16;

    /// <summary>Streams peers opened to us, over all connections; beyond, new ones are reset.</summary>
    public int MaxInboundStreams { get; init; } = 4096;

    /// <summary>Streams we opened, over all connections.</summary>
    public int MaxOutboundStreams { get; init; } = 4096;

    /// <summary>Streams one peer may have open to us, over all its connections.</summary>
    public int MaxInboundStreamsPerPeer { get; init; } = 256;

    /// <summary>Streams we may have open to one peer.</summary>
    public int MaxOutboundStreamsPerPeer { get; init; } = 1024;

    /// <summary>Inbound streams of one protocol, from all peers; see <see cref="ProtocolLimits"/> for other values.</summary>
    public int MaxInboundStreamsPerProtocol { get; init; } = 1024;

    /// <summary>Inbound streams of one protocol from one peer.</summary>
    public int MaxInboundStreamsPerProtocolPerPeer { get; init; } = 128;

    /// <summary>Per-protocol overrides of the two limits above.</summary>
    public IReadOnlyDictionary<string, ProtocolLimit> ProtocolLimits { get; init; } = new Dictionary<string, ProtocolLimit>();

    /// <summary>Receive windows granted to streams (what peers may make us buffer), over all connections. A stream
    /// is opened only with its initial window reserved; a window grows only while the budget allows.</summary>
    public long MaxBufferedBytes { get; init; } = 512L * 1024 * 1024;

    /// <summary>The same for one peer.</summary>
    public long MaxBufferedBytesPerPeer { get; init; } = 64L * 1024 * 1024;

    /// <summary>Networks exempt from the per-address and per-subnet limits (the global ones still apply): by default
    /// loopback, as in go-libp2p, so that several nodes on one machine (tests, simulations) work.</summary>
    public IReadOnlyList<IPNetwork> ExemptNetworks { get; init; } = [IPNetwork.Parse("127.0.0.0/8"), IPNetwork.Parse("::1/128")];

    /// <summary>The connection manager trims connections when there are more than this many...</summary>
    public int HighWatermark { get; init; } = 192;

    /// <summary>...down to this many, closing the least useful first.</summary>
    public int LowWatermark { get; init; } = 128;

    /// <summary>A connection younger than this is never trimmed: it has not had a chance to be useful.</summary>
    public TimeSpan GracePeriod { get; init; } = TimeSpan.FromMinutes(1);

    internal ProtocolLimit LimitOf(string protocol) =>
        ProtocolLimits.TryGetValue(protocol, out var limit) ? limit : new ProtocolLimit(MaxInboundStreamsPerProtocol, MaxInboundStreamsPerProtocolPerPeer);

    internal void Validate()
    {
        foreach (var (name, value) in new (string, long)[]
        {
            (nameof(MaxInboundConnections), MaxInboundConnections), (nameof(MaxOutboundConnections), MaxOutboundConnections),
            (nameof(MaxConnectionsPerPeer), MaxConnectionsPerPeer), (nameof(MaxInboundConnectionsPerAddress), MaxInboundConnectionsPerAddress),
            (nameof(MaxInboundConnectionsPerSubnet), MaxInboundConnectionsPerSubnet), (nameof(MaxPendingHandshakes), MaxPendingHandshakes),
            (nameof(MaxPendingHandshakesPerAddress), MaxPendingHandshakesPerAddress), (nameof(MaxPendingHandshakesPerSubnet), MaxPendingHandshakesPerSubnet),
            (nameof(MaxInboundStreams), MaxInboundStreams), (nameof(MaxOutboundStreams), MaxOutboundStreams),
            (nameof(MaxInboundStreamsPerPeer), MaxInboundStreamsPerPeer), (nameof(MaxOutboundStreamsPerPeer), MaxOutboundStreamsPerPeer),
            (nameof(MaxInboundStreamsPerProtocol), MaxInboundStreamsPerProtocol), (nameof(MaxInboundStreamsPerProtocolPerPeer), MaxInboundStreamsPerProtocolPerPeer),
            (nameof(MaxBufferedBytes), MaxBufferedBytes), (nameof(MaxBufferedBytesPerPeer), MaxBufferedBytesPerPeer),
            (nameof(LowWatermark), LowWatermark),
        })
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(value, name);
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(HighWatermark, LowWatermark, nameof(HighWatermark));
        ArgumentOutOfRangeException.ThrowIfLessThan(GracePeriod, TimeSpan.Zero, nameof(GracePeriod));
    }
}

/// <summary>Inbound streams of one protocol: from all peers together, and from one peer.</summary>
public readonly record struct ProtocolLimit(int Streams, int StreamsPerPeer);
