using System.Net;
using System.Net.Sockets;
using Parley.Core.Multiformats;

namespace Parley.Net.Transport;

/// <summary>Where an IP address can be reached from: this host only, one local network, or the internet.</summary>
public enum AddressScope
{
    Loopback,
    Private,
    Public,
}

public static class AddressScopes
{
    /// <summary>
    /// IPv4 ranges that are not reachable across the internet: RFC 1918, carrier-grade NAT (RFC 6598), link-local,
    /// "this network", the IETF protocol and documentation blocks, benchmarking and reserved space. The same list
    /// js-libp2p uses, so both agree on which addresses are worth handing to others.
    /// </summary>
    private static readonly (uint Network, int Bits)[] NonPublicIPv4 =
    [
        (Ip4(0, 0, 0, 0), 8), (Ip4(10, 0, 0, 0), 8), (Ip4(100, 64, 0, 0), 10), (Ip4(169, 254, 0, 0), 16), (Ip4(172, 16, 0, 0), 12),
        (Ip4(192, 0, 0, 0), 24), (Ip4(192, 0, 2, 0), 24), (Ip4(192, 88, 99, 0), 24), (Ip4(192, 168, 0, 0), 16), (Ip4(198, 18, 0, 0), 15),
        (Ip4(198, 51, 100, 0), 24), (Ip4(203, 0, 113, 0), 24), (Ip4(224, 0, 0, 0), 3),
    ];

    public static AddressScope Of(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (IPAddress.IsLoopback(address))
        {
            return AddressScope.Loopback;
        }
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var value = (uint)IPAddress.NetworkToHostOrder(BitConverter.ToInt32(address.GetAddressBytes()));
            return Array.Exists(NonPublicIPv4, r => value >> (32 - r.Bits) == r.Network >> (32 - r.Bits)) ? AddressScope.Private : AddressScope.Public;
        }
        var bytes = address.GetAddressBytes();
        var uniqueLocal = (bytes[0] & 0xfe) == 0xfc;
        var documentation = bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0d && bytes[3] == 0xb8;
        return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || uniqueLocal || documentation || address.Equals(IPAddress.IPv6Any) || address.IsIPv6Multicast
            ? AddressScope.Private
            : AddressScope.Public;
    }

    /// <summary>The scope of an /ip4 or /ip6 address; null for DNS names, relayed and other addresses.</summary>
    public static AddressScope? Of(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.TryGetTcpEndPoint(out var endPoint) ? Of(endPoint.Address) : null;
    }

    public static bool IsPublic(Multiaddr address) => Of(address) == AddressScope.Public;

    private static uint Ip4(byte a, byte b, byte c, byte d) => (uint)(a << 24 | b << 16 | c << 8 | d);
}
