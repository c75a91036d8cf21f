using System.Globalization;
using System.Net;

namespace Parley.Net.PortMapping;

/// <summary>The IPv4 default gateway: the home router that NAT-PMP talks to.</summary>
public static class DefaultGateway
{
    private const string RouteTable = "/proc/net/route";
    private const int MaxRouteTableBytes = 1 << 20;

    /// <summary>The gateway of the IPv4 default route; null where there is none, or where it cannot be read (not Linux).</summary>
    public static IPAddress? Find()
    {
        try
        {
            var info = new FileInfo(RouteTable);
            return info.Exists && info.Length <= MaxRouteTableBytes ? Parse(File.ReadAllLines(RouteTable)) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Reads Linux's route table (a header line, then "Iface Destination Gateway Flags …" with addresses as host-order
    /// hex): the first usable route to 0.0.0.0/0 through a gateway.
    /// </summary>
    internal static IPAddress? Parse(IEnumerable<string> lines)
    {
        const int RouteUp = 0x1;
        const int RouteThroughGateway = 0x2;
        foreach (var line in lines.Skip(1))
        {
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 8
                || !uint.TryParse(fields[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var destination)
                || !uint.TryParse(fields[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var gateway)
                || !int.TryParse(fields[3], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var flags)
                || !uint.TryParse(fields[7], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var mask))
            {
                continue;
            }
            if (destination == 0 && mask == 0 && gateway != 0 && (flags & (RouteUp | RouteThroughGateway)) == (RouteUp | RouteThroughGateway))
            {
                // The kernel prints the address's four bytes read as a host-order number: back to those bytes.
                return new IPAddress(BitConverter.GetBytes(gateway));
            }
        }
        return null;
    }
}
