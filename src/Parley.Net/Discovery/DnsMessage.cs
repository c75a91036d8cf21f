using System.Net;

namespace Parley.Net.Discovery;

/// <summary>The DNS record types mDNS peer discovery reads or writes; other types are skipped when reading.</summary>
internal enum DnsRecordType : ushort
{
    A = 1,
    Ptr = 12,
    Txt = 16,
    Aaaa = 28,
    Srv = 33,
    Any = 255,
}

/// <param name="UnicastResponse">The mDNS "QU" bit (top bit of the question class, RFC 6762 section 5.4).</param>
internal sealed record DnsQuestion(string Name, DnsRecordType Type, bool UnicastResponse = false);

/// <summary>A resource record of class IN. <see cref="CacheFlush"/> is the mDNS top bit of the class (RFC 6762 section 10.2).</summary>
internal abstract record DnsRecord(string Name, uint Ttl, bool CacheFlush)
{
    public abstract DnsRecordType Type { get; }
}

internal sealed record PtrRecord(string Name, uint Ttl, string Target, bool CacheFlush = false) : DnsRecord(Name, Ttl, CacheFlush)
{
    public override DnsRecordType Type => DnsRecordType.Ptr;
}

/// <summary>TXT character-strings, each at most 255 bytes of UTF-8; bytes that are not UTF-8 read as U+FFFD.</summary>
internal sealed record TxtRecord(string Name, uint Ttl, IReadOnlyList<string> Strings, bool CacheFlush = false) : DnsRecord(Name, Ttl, CacheFlush)
{
    public override DnsRecordType Type => DnsRecordType.Txt;
}

internal sealed record SrvRecord(string Name, uint Ttl, ushort Priority, ushort Weight, ushort Port, string Target, bool CacheFlush = false)
    : DnsRecord(Name, Ttl, CacheFlush)
{
    public override DnsRecordType Type => DnsRecordType.Srv;
}

/// <summary>An A record for an IPv4 address, an AAAA record for an IPv6 one.</summary>
internal sealed record AddressRecord(string Name, uint Ttl, IPAddress Address, bool CacheFlush = false) : DnsRecord(Name, Ttl, CacheFlush)
{
    public override DnsRecordType Type =>
        Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? DnsRecordType.A : DnsRecordType.Aaaa;
}

/// <summary>
/// A DNS message (RFC 1035 section 4) reduced to what mDNS discovery needs. Names are dotted strings without the
/// trailing dot. Reading follows compression pointers; writing never compresses. Both directions are bounded by
/// <see cref="MaxSize"/> (RFC 6762 section 17) and reject anything malformed with a <see cref="FormatException"/>.
/// </summary>
internal sealed record DnsMessage(
    ushort Id,
    ushort Flags,
    IReadOnlyList<DnsQuestion> Questions,
    IReadOnlyList<DnsRecord> Answers,
    IReadOnlyList<DnsRecord> Authorities,
    IReadOnlyList<DnsRecord> Additionals)
{
    public const int MaxSize = 9000;
    public const int HeaderSize = 12;

    /// <summary>Questions plus records a message may declare; real mDNS packets carry a handful, this stops count floods.</summary>
    public const int MaxEntries = 256;

    /// <summary>QR: the message is a response.</summary>
    public const ushort ResponseFlag = 0x8000;

    /// <summary>AA: the responder is authoritative, which mDNS responses always are (RFC 6762 section 18.4).</summary>
    public const ushort AuthoritativeFlag = 0x0400;

    public bool IsResponse => (Flags & ResponseFlag) != 0;

    /// <exception cref="FormatException">Truncated, oversized, a compression loop, counts the packet cannot hold, or a malformed record.</exception>
    public static DnsMessage Decode(ReadOnlySpan<byte> packet) => new DnsMessageReader(packet).ReadMessage();

    /// <exception cref="FormatException">A name, label or TXT string too long for DNS, or a message over <see cref="MaxSize"/>.</exception>
    public byte[] Encode() => DnsMessageWriter.Write(this);
}
