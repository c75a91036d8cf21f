using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Parley.Core.Multiformats;

namespace Parley.Dht.Routing;

/// <summary>
/// The subnets a peer's addresses fall in, for the IP-diversity limits: IPv4 /16 and IPv6 /32, as go-libp2p-kbucket
/// groups them (less its ASN lookup). A group is a long: the family in bits 32..39, the prefix below.
/// </summary>
internal static class SubnetGroups
{
    private const long Ip4Family = 4L << 32;
    private const long Ip6Family = 6L << 32;

    /// <summary>Distinct groups of the IP addresses that are not exempt; DNS and other names say nothing and are skipped.</summary>
    public static long[] Of(IReadOnlyList<Multiaddr> addresses, Func<IPAddress, bool> exempt)
    {
        long[]? groups = null;
        var count = 0;
        foreach (var address in addresses)
        {
            if (!TryGroup(address, exempt, out var group) || (groups is not null && Array.IndexOf(groups, group, 0, count) >= 0))
            {
                continue;
            }
            groups ??= new long[addresses.Count];
            groups[count++] = group;
        }
        return groups is null ? [] : count == groups.Length ? groups : groups[..count];
    }

    private static bool TryGroup(Multiaddr address, Func<IPAddress, bool> exempt, out long group)
    {
        group = 0;
        var host = address.Components[0];
        if (host.Protocol is not (MultiaddrProtocol.Ip4 or MultiaddrProtocol.Ip6) || !IPAddress.TryParse(host.Value, out var ip))
        {
            return false;
        }
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }
        if (exempt(ip))
        {
            return false;
        }
        Span<byte> bytes = stackalloc byte[16];
        ip.TryWriteBytes(bytes, out _);
        group = ip.AddressFamily == AddressFamily.InterNetwork
            ? Ip4Family | BinaryPrimitives.ReadUInt16BigEndian(bytes)
            : Ip6Family | BinaryPrimitives.ReadUInt32BigEndian(bytes);
        return true;
    }
}
