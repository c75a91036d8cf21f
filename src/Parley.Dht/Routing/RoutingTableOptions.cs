using System.Net;
using System.Net.Sockets;

namespace Parley.Dht.Routing;

public sealed record RoutingTableOptions
{
    /// <summary>k: peers per bucket.</summary>
    public int BucketSize { get; init; } = 20;

    /// <summary>Peers that found their bucket full and wait, most recent first, to replace a dead one.</summary>
    public int ReplacementCacheSize { get; init; } = 20;

    /// <summary>Peers per subnet (IPv4 /16, IPv6 /32) in one bucket, so one network cannot own a region of the keyspace.</summary>
    public int MaxPerSubnetPerBucket { get; init; } = 2;

    /// <summary>Peers per subnet (IPv4 /16, IPv6 /32) in the whole table.</summary>
    public int MaxPerSubnetInTable { get; init; } = 3;

    /// <summary>
    /// Addresses that do not count towards the subnet limits. By default loopback, private, shared (CGNAT),
    /// link-local and unique-local addresses, so LAN and test networks work; <see cref="NoDiversityExemption"/>
    /// applies the limits to every address.
    /// </summary>
    public Func<IPAddress, bool> DiversityExempt { get; init; } = IsLocalAddress;

    /// <summary>A bucket not used by a lookup for this long is due for refresh.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Addresses kept per peer, newest first.</summary>
    public int MaxAddressesPerPeer { get; init; } = 8;

    /// <summary>
    /// How long an eviction candidate handed out for a liveness check stays reserved; after that a newcomer gets
    /// a fresh candidate, so a check whose result never came back does not freeze the bucket.
    /// </summary>
    public TimeSpan LivenessCheckTimeout { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// A peer heard from within this long counts as alive without asking (BEP 5's "good" nodes). A newcomer to a
    /// full bucket whose least recently seen peer is this fresh waits in the replacement cache without a liveness
    /// check: at 10,000 nodes almost every lookup answer came from a newcomer, and each cost a ping.
    /// </summary>
    public TimeSpan GoodFor { get; init; } = TimeSpan.FromMinutes(15);

    public static bool NoDiversityExemption(IPAddress address) => false;

    /// <summary>Loopback, unspecified, RFC 1918, RFC 6598, link-local, and IPv6 unique-local addresses.</summary>
    public static bool IsLocalAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address))
        {
            return true;
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            address.TryWriteBytes(b, out _);
            return b[0] == 0
                || b[0] == 10
                || (b[0] == 172 && (b[1] & 0xF0) == 16)
                || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254)
                || (b[0] == 100 && (b[1] & 0xC0) == 64);
        }
        return address.Equals(IPAddress.IPv6Any)
            || address.IsIPv6LinkLocal
            || address.IsIPv6SiteLocal
            || address.IsIPv6UniqueLocal;
    }

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(BucketSize, 1, nameof(BucketSize));
        ArgumentOutOfRangeException.ThrowIfNegative(ReplacementCacheSize, nameof(ReplacementCacheSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPerSubnetPerBucket, 1, nameof(MaxPerSubnetPerBucket));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPerSubnetInTable, 1, nameof(MaxPerSubnetInTable));
        ArgumentNullException.ThrowIfNull(DiversityExempt, nameof(DiversityExempt));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RefreshInterval, TimeSpan.Zero, nameof(RefreshInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxAddressesPerPeer, 1, nameof(MaxAddressesPerPeer));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(LivenessCheckTimeout, TimeSpan.Zero, nameof(LivenessCheckTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(GoodFor, TimeSpan.Zero, nameof(GoodFor));
    }
}
