using System.Net;

namespace Parley.Net.Discovery;

/// <summary>Where <see cref="MdnsDiscovery"/> listens and sends, and how often it asks.</summary>
public sealed class MdnsOptions
{
    /// <summary>The mDNS IPv4 group (RFC 6762 section 3).</summary>
    public static IPAddress Ipv4Group => IPAddress.Parse("224.0.0.251");

    /// <summary>The link-local mDNS IPv6 group (RFC 6762 section 3).</summary>
    public static IPAddress Ipv6Group => IPAddress.Parse("ff02::fb");

    /// <summary>The group to join and send to; its address family decides whether the socket is IPv4 or IPv6.</summary>
    public IPAddress MulticastGroup { get; init; } = Ipv4Group;

    public int Port { get; init; } = 5353;

    /// <summary>
    /// A local address of the interface to join the group on and send from. Null lets the kernel choose, which for
    /// IPv6 usually means no route to the link-local group: set it there. An IPv6 scope id, when present, is taken
    /// as the interface index.
    /// </summary>
    public IPAddress? LocalInterface { get; init; }

    /// <summary>
    /// Announce loopback listen addresses and accept loopback addresses from others. Off by default: a loopback
    /// address heard from another machine would point at something of ours, never at that peer.
    /// </summary>
    public bool AnnounceLoopback { get; init; }

    /// <summary>How often to ask the link for peers; js-libp2p also uses 10 seconds.</summary>
    public TimeSpan QueryInterval { get; init; } = TimeSpan.FromSeconds(10);
}
