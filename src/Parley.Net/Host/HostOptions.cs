using Parley.Core.Multiformats;
using Parley.Net.Noise;
using Parley.Net.Resources;
using Parley.Net.Yamux;

namespace Parley.Net.Host;

/// <summary>Limits and timeouts of a libp2p host. Defaults suit a desktop node; tests tighten them.</summary>
public sealed class HostOptions
{
    public IReadOnlyList<Multiaddr> ListenAddresses { get; init; } = [Multiaddr.Parse("/ip4/0.0.0.0/tcp/0")];

    public string AgentVersion { get; init; } = "parley/" + (typeof(HostOptions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    /// <summary>Connections, pending handshakes, streams and buffered memory, by direction, source, peer and protocol;
    /// the connection manager's watermarks.</summary>
    public ResourceLimits Limits { get; init; } = new();

    /// <summary>Covers multistream, Noise and muxer negotiation of a new connection.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public TimeSpan StreamNegotiationTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>A connection with no open streams and no traffic for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    public TimeSpan IdentifyTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The muxer's limits (streams per connection, flow-control windows) and keep-alive pings that detect dead peers.</summary>
    public YamuxOptions Yamux { get; init; } = new() { KeepAliveInterval = TimeSpan.FromSeconds(30) };

    public NoiseOptions Noise { get; init; } = new();

    /// <summary>
    /// Outgoing TCP dials leave from the listen port (SO_REUSEPORT), as go-libp2p's do: a NAT that keeps ports then maps
    /// every connection to one public address, which peers observe and a hole punch can reach.
    /// </summary>
    public bool ReuseListenPort { get; init; } = true;

    /// <summary>Peers at this many distinct IP addresses must report the same observed address before we believe it.</summary>
    public int ObservedAddressThreshold { get; init; } = 2;
}
