using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Net.Discovery;

/// <summary>
/// The record shapes of libp2p mDNS discovery (libp2p/specs discovery/mdns.md), as go-libp2p and js-libp2p send
/// and read them: a PTR query for <see cref="ServiceName"/>; a response with the PTR answer and, in the additional
/// records, SRV, TXT <c>dnsaddr=&lt;multiaddr&gt;/p2p/&lt;id&gt;</c> strings and A/AAAA records for the SRV host.
/// </summary>
internal static class MdnsProtocol
{
    public const string ServiceName = "_p2p._udp.local";
    public const string DnsaddrPrefix = "dnsaddr=";

    /// <summary>What js-libp2p announces with; go-libp2p uses zeroconf's 3200.</summary>
    public const uint RecordTtlSeconds = 120;

    public const int MaxAddressesPerPeer = 16;
    public const int MaxPeersPerResponse = 16;

    /// <summary>A TXT character-string is at most 255 bytes (RFC 6763 section 6.1), prefix included.</summary>
    public const int MaxTxtStringLength = 255;

    /// <summary>SRV needs a port even though libp2p reads only TXT; go-libp2p always sends 4001, we do when an address has none.</summary>
    private const ushort FallbackSrvPort = 4001;

    private const string PeerNameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    private const string ServiceSuffix = "." + ServiceName;

    /// <summary>The spec's peer-name: random lower-case alphanumerics, 32 to 63 long like go-libp2p's (a DNS label holds 63).</summary>
    public static string NewPeerName() => RandomNumberGenerator.GetString(PeerNameAlphabet, RandomNumberGenerator.GetInt32(32, 64));

    public static string InstanceName(string peerName) => peerName + ServiceSuffix;

    /// <summary>The SRV target and A/AAAA owner, named like go-libp2p's (peer-name in the .local domain).</summary>
    public static string HostName(string peerName) => peerName + ".local";

    /// <summary>The "find all peers" question; byte for byte what go-libp2p and js-libp2p send.</summary>
    public static DnsMessage Query() => new(0, 0, [new DnsQuestion(ServiceName, DnsRecordType.Ptr)], [], [], []);

    /// <param name="addresses">Addresses ending in our /p2p id, each short enough for a TXT string.</param>
    public static DnsMessage Response(string peerName, IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        var instance = InstanceName(peerName);
        var host = HostName(peerName);
        var additionals = new List<DnsRecord>
        {
            new SrvRecord(instance, RecordTtlSeconds, 0, 0, SrvPort(addresses), host),
            // One record with a string per address, as go-libp2p sends it: its zeroconf keeps only the last TXT record
            // per name, while js-libp2p reads every string of every record.
            new TxtRecord(instance, RecordTtlSeconds, addresses.Select(address => DnsaddrPrefix + address).ToList()),
        };
        // go-libp2p's zeroconf reports a peer only once the SRV host has an A or AAAA record.
        foreach (var ip in addresses.Select(HostIp).OfType<IPAddress>().Distinct())
        {
            additionals.Add(new AddressRecord(host, RecordTtlSeconds, ip));
        }
        return new DnsMessage(
            0,
            DnsMessage.ResponseFlag | DnsMessage.AuthoritativeFlag,
            [],
            [new PtrRecord(ServiceName, RecordTtlSeconds, instance)],
            [],
            additionals);
    }

    /// <summary>
    /// True for a query that asks for libp2p peers, our service instance or our host (the spec's "gotchas"), unless
    /// it already lists our PTR with at least half its lifetime left (known-answer suppression, RFC 6762 section 7.1).
    /// </summary>
    public static bool ShouldAnswer(DnsMessage query, string peerName)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.IsResponse)
        {
            return false;
        }
        var instance = InstanceName(peerName);
        var host = HostName(peerName);
        var asked = query.Questions.Any(question =>
            (NameEquals(question.Name, ServiceName) && question.Type is DnsRecordType.Ptr or DnsRecordType.Any)
            || (NameEquals(question.Name, instance) && question.Type is DnsRecordType.Srv or DnsRecordType.Txt or DnsRecordType.Any)
            || (NameEquals(question.Name, host) && question.Type is DnsRecordType.A or DnsRecordType.Aaaa or DnsRecordType.Any));
        var knownAnswer = query.Answers.OfType<PtrRecord>().Any(ptr =>
            NameEquals(ptr.Name, ServiceName) && NameEquals(ptr.Target, instance) && ptr.Ttl >= RecordTtlSeconds / 2);
        return asked && !knownAnswer;
    }

    /// <summary>
    /// The peers a response announces: every <c>dnsaddr=</c> string of every TXT record owned by a
    /// <c>&lt;peer-name&gt;._p2p._udp.local</c> instance, in any section (js-libp2p reads answers and additionals,
    /// go-libp2p all three). Our own instance, our own id, junk strings, addresses without exactly one trailing /p2p,
    /// and loopback addresses unless <paramref name="acceptLoopback"/> are skipped; peers and addresses are bounded.
    /// </summary>
    public static List<MdnsPeer> ReadPeers(DnsMessage response, string ownPeerName, PeerId localPeer, bool acceptLoopback)
    {
        ArgumentNullException.ThrowIfNull(response);
        var ownInstance = InstanceName(ownPeerName);
        var addressesByPeer = new Dictionary<PeerId, List<Multiaddr>>();
        var txtRecords = response.Answers.Concat(response.Authorities).Concat(response.Additionals).OfType<TxtRecord>();
        foreach (var txt in txtRecords.Where(txt => IsServiceInstance(txt.Name) && !NameEquals(txt.Name, ownInstance)))
        {
            foreach (var text in txt.Strings)
            {
                if (!TryReadDnsaddr(text, out var peer, out var address) || peer == localPeer || (!acceptLoopback && IsLoopback(address)))
                {
                    continue;
                }
                if (!addressesByPeer.TryGetValue(peer, out var addresses))
                {
                    if (addressesByPeer.Count == MaxPeersPerResponse)
                    {
                        continue;
                    }
                    addresses = [];
                    addressesByPeer.Add(peer, addresses);
                }
                if (addresses.Count < MaxAddressesPerPeer && !addresses.Contains(address))
                {
                    addresses.Add(address);
                }
            }
        }
        return addressesByPeer.Select(entry => new MdnsPeer(entry.Key, entry.Value)).ToList();
    }

    /// <summary>True when the address starts with a loopback /ip4 or /ip6.</summary>
    public static bool IsLoopback(Multiaddr address) => HostIp(address) is { } ip && IPAddress.IsLoopback(ip);

    private static bool TryReadDnsaddr(string text, [NotNullWhen(true)] out PeerId? peer, [NotNullWhen(true)] out Multiaddr? address)
    {
        peer = null;
        address = null;
        if (!text.StartsWith(DnsaddrPrefix, StringComparison.Ordinal)
            || !Multiaddr.TryParse(text[DnsaddrPrefix.Length..], out var full)
            || full.PeerId is not { } id
            || full.Components.Count < 2
            || full.Components.Count(component => component.Protocol == MultiaddrProtocol.P2p) != 1)
        {
            return false;
        }
        peer = id;
        address = full.WithoutPeerId();
        return true;
    }

    private static IPAddress? HostIp(Multiaddr address)
    {
        var first = address.Components[0];
        return first.Protocol is MultiaddrProtocol.Ip4 or MultiaddrProtocol.Ip6 ? IPAddress.Parse(first.Value) : null;
    }

    private static ushort SrvPort(IReadOnlyList<Multiaddr> addresses)
    {
        var port = addresses
            .Select(address => address.ValueOf(MultiaddrProtocol.Tcp) ?? address.ValueOf(MultiaddrProtocol.Udp))
            .FirstOrDefault(value => value is not null);
        return port is null ? FallbackSrvPort : ushort.Parse(port, CultureInfo.InvariantCulture);
    }

    private static bool IsServiceInstance(string name) =>
        name.Length > ServiceSuffix.Length && name.EndsWith(ServiceSuffix, StringComparison.OrdinalIgnoreCase);

    /// <summary>DNS names compare case-insensitively (RFC 1035 section 2.3.3; the spec calls peer-names case-insensitive).</summary>
    private static bool NameEquals(string left, string right) => string.Equals(left, right, StringComparison.OrdinalIgnoreCase);
}
