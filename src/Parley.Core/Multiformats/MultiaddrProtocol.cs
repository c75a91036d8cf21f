using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Parley.Core.Identity;

namespace Parley.Core.Multiformats;

/// <summary>The multiaddr protocols Parley understands; values are their codes in multiformats/multiaddr protocols.csv.</summary>
public enum MultiaddrProtocol
{
    Ip4 = 4,
    Tcp = 6,
    Dns = 53,
    Dns4 = 54,
    Dns6 = 55,
    Dnsaddr = 56,
    Ip6 = 41,
    Udp = 273,
    P2pCircuit = 290,
    P2p = 421,
}

/// <summary>Names, value sizes and the text/binary value codecs of each <see cref="MultiaddrProtocol"/>.</summary>
internal static class MultiaddrProtocolTable
{
    /// <summary>Marks values that carry a varint length prefix in the binary form.</summary>
    public const int VariableSize = -1;

    /// <summary>A DNS name is at most 255 octets on the wire (RFC 1035 section 2.3.4).</summary>
    public const int MaxDnsNameLength = 255;

    /// <summary>Longest textual IPv6 address (full groups plus an embedded dotted quad).</summary>
    private const int MaxIp6TextLength = 45;

    /// <exception cref="FormatException">A code Parley does not implement.</exception>
    public static MultiaddrProtocol FromCode(ulong code) => code switch
    {
        (ulong)MultiaddrProtocol.Ip4 => MultiaddrProtocol.Ip4,
        (ulong)MultiaddrProtocol.Tcp => MultiaddrProtocol.Tcp,
        (ulong)MultiaddrProtocol.Dns => MultiaddrProtocol.Dns,
        (ulong)MultiaddrProtocol.Dns4 => MultiaddrProtocol.Dns4,
        (ulong)MultiaddrProtocol.Dns6 => MultiaddrProtocol.Dns6,
        (ulong)MultiaddrProtocol.Dnsaddr => MultiaddrProtocol.Dnsaddr,
        (ulong)MultiaddrProtocol.Ip6 => MultiaddrProtocol.Ip6,
        (ulong)MultiaddrProtocol.Udp => MultiaddrProtocol.Udp,
        (ulong)MultiaddrProtocol.P2pCircuit => MultiaddrProtocol.P2pCircuit,
        (ulong)MultiaddrProtocol.P2p => MultiaddrProtocol.P2p,
        _ => throw new FormatException($"unsupported multiaddr protocol code {code}"),
    };

    /// <exception cref="FormatException">A name Parley does not implement.</exception>
    public static MultiaddrProtocol FromName(string name) => name switch
    {
        "ip4" => MultiaddrProtocol.Ip4,
        "tcp" => MultiaddrProtocol.Tcp,
        "dns" => MultiaddrProtocol.Dns,
        "dns4" => MultiaddrProtocol.Dns4,
        "dns6" => MultiaddrProtocol.Dns6,
        "dnsaddr" => MultiaddrProtocol.Dnsaddr,
        "ip6" => MultiaddrProtocol.Ip6,
        "udp" => MultiaddrProtocol.Udp,
        "p2p-circuit" => MultiaddrProtocol.P2pCircuit,
        // "ipfs" is the historical name of the same code; it is read but never written.
        "p2p" or "ipfs" => MultiaddrProtocol.P2p,
        _ => throw new FormatException($"unsupported multiaddr protocol '{Abbreviate(name)}'"),
    };

    public static string Name(MultiaddrProtocol protocol) => protocol switch
    {
        MultiaddrProtocol.Ip4 => "ip4",
        MultiaddrProtocol.Tcp => "tcp",
        MultiaddrProtocol.Dns => "dns",
        MultiaddrProtocol.Dns4 => "dns4",
        MultiaddrProtocol.Dns6 => "dns6",
        MultiaddrProtocol.Dnsaddr => "dnsaddr",
        MultiaddrProtocol.Ip6 => "ip6",
        MultiaddrProtocol.Udp => "udp",
        MultiaddrProtocol.P2pCircuit => "p2p-circuit",
        MultiaddrProtocol.P2p => "p2p",
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "not a multiaddr protocol"),
    };

    /// <summary>The fixed value size in bytes, or <see cref="VariableSize"/>.</summary>
    public static int ValueSize(MultiaddrProtocol protocol) => protocol switch
    {
        MultiaddrProtocol.Ip4 => 4,
        MultiaddrProtocol.Ip6 => 16,
        MultiaddrProtocol.Tcp or MultiaddrProtocol.Udp => 2,
        MultiaddrProtocol.P2pCircuit => 0,
        _ => VariableSize,
    };

    /// <summary>Converts a text value to its binary form.</summary>
    /// <exception cref="FormatException">The text is not a valid value for <paramref name="protocol"/>.</exception>
    public static byte[] ParseValue(MultiaddrProtocol protocol, string text) => protocol switch
    {
        MultiaddrProtocol.Ip4 => ParseIp4(text),
        MultiaddrProtocol.Ip6 => ParseIp6(text),
        MultiaddrProtocol.Tcp or MultiaddrProtocol.Udp => ParsePort(protocol, text),
        MultiaddrProtocol.Dns or MultiaddrProtocol.Dns4 or MultiaddrProtocol.Dns6 or MultiaddrProtocol.Dnsaddr => ParseDnsName(protocol, text),
        MultiaddrProtocol.P2p => ParsePeerId(text),
        MultiaddrProtocol.P2pCircuit => text.Length == 0 ? [] : throw new FormatException("/p2p-circuit takes no value"),
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "not a multiaddr protocol"),
    };

    /// <summary>The canonical text form of a binary value that <see cref="ValidateValue"/> accepted.</summary>
    public static string FormatValue(MultiaddrProtocol protocol, ReadOnlySpan<byte> value) => protocol switch
    {
        MultiaddrProtocol.Ip4 => FormatIp4(value),
        MultiaddrProtocol.Ip6 => FormatIp6(value),
        MultiaddrProtocol.Tcp or MultiaddrProtocol.Udp => BinaryPrimitives.ReadUInt16BigEndian(value).ToString(CultureInfo.InvariantCulture),
        MultiaddrProtocol.Dns or MultiaddrProtocol.Dns4 or MultiaddrProtocol.Dns6 or MultiaddrProtocol.Dnsaddr => Encoding.ASCII.GetString(value),
        MultiaddrProtocol.P2p => PeerId.FromBytes(value).ToString(),
        MultiaddrProtocol.P2pCircuit => string.Empty,
        _ => throw new ArgumentOutOfRangeException(nameof(protocol), protocol, "not a multiaddr protocol"),
    };

    /// <summary>
    /// Checks a binary value of the right size without making its text, and returns the peer id a /p2p value names
    /// (null for the other protocols).
    /// </summary>
    /// <exception cref="FormatException">The bytes are not a valid value for <paramref name="protocol"/>.</exception>
    public static PeerId? ValidateValue(MultiaddrProtocol protocol, ReadOnlySpan<byte> value)
    {
        switch (protocol)
        {
            case MultiaddrProtocol.Dns or MultiaddrProtocol.Dns4 or MultiaddrProtocol.Dns6 or MultiaddrProtocol.Dnsaddr:
                if (!IsValidDnsName(value))
                {
                    throw new FormatException($"invalid {Name(protocol)} name in binary multiaddr");
                }
                return null;
            case MultiaddrProtocol.P2p:
                try
                {
                    return PeerId.FromBytes(value);
                }
                catch (FormatException e)
                {
                    throw new FormatException($"invalid p2p peer id in binary multiaddr: {e.Message}", e);
                }
            default:
                return null;
        }
    }

    /// <summary>Keeps hostile input from turning into huge exception messages.</summary>
    public static string Abbreviate(string text) => text.Length <= 64 ? text : text[..64] + "...";

    /// <summary>Strict dotted quad: .NET's IPAddress.Parse also takes "127.1", "0x7f.0.0.1" and octal octets.</summary>
    private static byte[] ParseIp4(string text)
    {
        var octets = text.Split('.');
        var bytes = new byte[4];
        if (octets.Length != bytes.Length)
        {
            throw new FormatException($"invalid ip4 address '{Abbreviate(text)}'");
        }
        for (var i = 0; i < bytes.Length; i++)
        {
            var octet = ParseCanonicalDecimal(octets[i], byte.MaxValue);
            if (octet < 0)
            {
                throw new FormatException($"invalid ip4 address '{Abbreviate(text)}'");
            }
            bytes[i] = (byte)octet;
        }
        return bytes;
    }

    private static string FormatIp4(ReadOnlySpan<byte> value) =>
        string.Create(CultureInfo.InvariantCulture, $"{value[0]}.{value[1]}.{value[2]}.{value[3]}");

    private static byte[] ParseIp6(string text)
    {
        // Only hex digits, ':' and '.' (embedded IPv4): no zone ("%eth0", that is /ip6zone), brackets or spaces.
        if (text.Length > MaxIp6TextLength
            || !text.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.')
            || !IPAddress.TryParse(text, out var address)
            || address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new FormatException($"invalid ip6 address '{Abbreviate(text)}'");
        }
        return address.GetAddressBytes();
    }

    /// <summary>
    /// RFC 5952 text (lowercase, longest run of two or more zero groups compressed, first run on ties), with
    /// IPv4-mapped addresses as "::ffff:a.b.c.d" like go-multiaddr. Written out because IPAddress.ToString also
    /// uses dotted notation for the deprecated IPv4-compatible range, which other implementations print in hex.
    /// </summary>
    private static string FormatIp6(ReadOnlySpan<byte> value)
    {
        Span<ushort> groups = stackalloc ushort[8];
        for (var i = 0; i < groups.Length; i++)
        {
            groups[i] = BinaryPrimitives.ReadUInt16BigEndian(value[(2 * i)..]);
        }
        if (!value[..10].ContainsAnyExcept((byte)0) && groups[5] == 0xffff)
        {
            return "::ffff:" + FormatIp4(value[12..]);
        }
        int zeroRunStart = -1, zeroRunLength = 0;
        for (var i = 0; i < groups.Length;)
        {
            if (groups[i] != 0)
            {
                i++;
                continue;
            }
            var start = i;
            while (i < groups.Length && groups[i] == 0)
            {
                i++;
            }
            if (i - start > zeroRunLength)
            {
                (zeroRunStart, zeroRunLength) = (start, i - start);
            }
        }
        if (zeroRunLength < 2)
        {
            zeroRunStart = -1;
        }
        var text = new StringBuilder(39);
        for (var i = 0; i < groups.Length; i++)
        {
            if (i == zeroRunStart)
            {
                text.Append("::");
                i += zeroRunLength - 1;
                continue;
            }
            if (text.Length > 0 && text[^1] != ':')
            {
                text.Append(':');
            }
            text.Append(groups[i].ToString("x", CultureInfo.InvariantCulture));
        }
        return text.ToString();
    }

    private static byte[] ParsePort(MultiaddrProtocol protocol, string text)
    {
        var port = ParseCanonicalDecimal(text, ushort.MaxValue);
        if (port < 0)
        {
            throw new FormatException($"invalid {Name(protocol)} port '{Abbreviate(text)}' (0..65535, no sign or leading zeros)");
        }
        var bytes = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)port);
        return bytes;
    }

    /// <summary>Plain ASCII digits with no sign or leading zeros, at most <paramref name="max"/>; -1 otherwise.</summary>
    private static int ParseCanonicalDecimal(string text, int max)
    {
        if (text.Length is 0 or > 5 || (text.Length > 1 && text[0] == '0') || !text.All(char.IsAsciiDigit))
        {
            return -1;
        }
        var value = int.Parse(text, NumberStyles.None, CultureInfo.InvariantCulture);
        return value <= max ? value : -1;
    }

    private static byte[] ParseDnsName(MultiaddrProtocol protocol, string text)
    {
        if (!IsValidDnsName(text.AsSpan()))
        {
            throw new FormatException($"invalid {Name(protocol)} name '{Abbreviate(text)}'");
        }
        return Encoding.ASCII.GetBytes(text);
    }

    /// <summary>
    /// Non-empty, at most 255 characters, printable ASCII without '/' (which would split the text form).
    /// Internationalised names travel as punycode, so nothing outside ASCII is needed.
    /// </summary>
    private static bool IsValidDnsName(ReadOnlySpan<char> name) =>
        name.Length is > 0 and <= MaxDnsNameLength && !name.ContainsAnyExceptInRange('!', '~') && !name.Contains('/');

    /// <summary>The same rule on the binary form.</summary>
    private static bool IsValidDnsName(ReadOnlySpan<byte> name) =>
        name.Length is > 0 and <= MaxDnsNameLength && !name.ContainsAnyExceptInRange((byte)'!', (byte)'~') && !name.Contains((byte)'/');

    private static byte[] ParsePeerId(string text)
    {
        try
        {
            return PeerId.Parse(text).Bytes.ToArray();
        }
        catch (FormatException e)
        {
            throw new FormatException($"invalid p2p peer id '{Abbreviate(text)}': {e.Message}", e);
        }
    }
}
