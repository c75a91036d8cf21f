using System.Net;
using Parley.Net.Discovery;
using static Parley.Net.Tests.Discovery.DiscoveryTestData;

namespace Parley.Net.Tests.Discovery;

public sealed class DnsMessageTests
{
    [Fact]
    public void The_find_all_peers_query_is_byte_for_byte_what_go_and_js_libp2p_send()
    {
        byte[] expected =
        [
            0x00, 0x00, 0x00, 0x00, // id 0, flags 0: a standard query
            0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // one question, no records
            0x04, (byte)'_', (byte)'p', (byte)'2', (byte)'p',
            0x04, (byte)'_', (byte)'u', (byte)'d', (byte)'p',
            0x05, (byte)'l', (byte)'o', (byte)'c', (byte)'a', (byte)'l',
            0x00,
            0x00, 0x0C, // PTR
            0x00, 0x01, // IN, QU bit clear
        ];

        Assert.Equal(expected, MdnsProtocol.Query().Encode());
    }

    [Fact]
    public void Every_record_kind_round_trips()
    {
        var message = new DnsMessage(
            0x1234,
            DnsMessage.ResponseFlag | DnsMessage.AuthoritativeFlag,
            [new DnsQuestion("_p2p._udp.local", DnsRecordType.Ptr, UnicastResponse: true), new DnsQuestion("Host.Local", DnsRecordType.Any)],
            [new PtrRecord("_p2p._udp.local", 120, "abc._p2p._udp.local")],
            [new TxtRecord("abc._p2p._udp.local", 7, ["one"], CacheFlush: true)],
            [
                new SrvRecord("abc._p2p._udp.local", 120, 1, 2, 4001, "abc.local", CacheFlush: true),
                new TxtRecord("abc._p2p._udp.local", 120, ["dnsaddr=/ip4/10.0.0.1/tcp/4001", "", "k=v"]),
                new AddressRecord("abc.local", 120, IPAddress.Parse("10.0.0.1")),
                new AddressRecord("abc.local", uint.MaxValue, IPAddress.Parse("fe80::1")),
            ]);

        var decoded = DnsMessage.Decode(message.Encode());

        Assert.Equal(message.Id, decoded.Id);
        Assert.Equal(message.Flags, decoded.Flags);
        Assert.True(decoded.IsResponse);
        Assert.Equal(message.Questions, decoded.Questions);
        Assert.Equal(Describe(message.Answers), Describe(decoded.Answers));
        Assert.Equal(Describe(message.Authorities), Describe(decoded.Authorities));
        Assert.Equal(Describe(message.Additionals), Describe(decoded.Additionals));
    }

    [Fact]
    public void An_empty_txt_record_is_written_as_one_empty_string()
    {
        var message = new DnsMessage(0, DnsMessage.ResponseFlag, [], [new TxtRecord("a.local", 1, [])], [], []);

        var bytes = message.Encode();

        Assert.Equal([0x00, 0x01, 0x00], bytes[^3..]); // data length 1, then a zero-length string
        Assert.Equal(["a.local TXT [] ttl=1 flush=False"], Describe(DnsMessage.Decode(bytes).Answers));
    }

    [Fact]
    public void Compression_pointers_are_followed_in_owner_names_and_record_data()
    {
        var packet = new PacketBuilder().Header(0x8400, 0, 2, 0, 1);
        var serviceAt = packet.Position;
        packet.Name("_p2p._udp.local").RecordTail(DnsRecordType.Ptr, PacketBuilder.ClassInternet, 120, data => data.Label("peer").Pointer(serviceAt));
        var instanceAt = serviceAt + 17 + 10;
        packet.Pointer(instanceAt).RecordTail(DnsRecordType.Srv, PacketBuilder.CacheFlushInternet, 120, data => data.UInt16(0).UInt16(0).UInt16(4001).Label("peer").Label("local").Root());
        var hostAt = packet.Position - 12; // "peer.local" inside the SRV data
        packet.Pointer(hostAt).RecordTail(DnsRecordType.A, PacketBuilder.ClassInternet, 120, data => data.Bytes(192, 168, 1, 7));

        var message = DnsMessage.Decode(packet.ToArray());

        Assert.Equal(
            [
                "_p2p._udp.local PTR peer._p2p._udp.local ttl=120 flush=False",
                "peer._p2p._udp.local SRV 0 0 4001 peer.local ttl=120 flush=True",
            ],
            Describe(message.Answers));
        Assert.Equal(["peer.local A 192.168.1.7 ttl=120 flush=False"], Describe(message.Additionals));
    }

    [Fact]
    public void Records_of_other_types_and_classes_are_skipped_not_rejected()
    {
        var packet = new PacketBuilder().Header(0x8400, 0, 3, 0, 0)
            .Name("peer.local").RecordTail((DnsRecordType)47, PacketBuilder.CacheFlushInternet, 120, data => data.Bytes(0xC0, 0x0C, 0x00, 0x01, 0x40)) // NSEC, as Avahi sends
            .Name("peer.local").RecordTail(DnsRecordType.A, 3, 120, data => data.Bytes(1, 2, 3, 4)) // class CH
            .Name("peer.local").RecordTail(DnsRecordType.A, PacketBuilder.ClassInternet, 120, data => data.Bytes(10, 0, 0, 2));

        var message = DnsMessage.Decode(packet.ToArray());

        Assert.Equal(["peer.local A 10.0.0.2 ttl=120 flush=False"], Describe(message.Answers));
    }

    [Fact]
    public void Names_keep_their_case()
    {
        var message = new DnsMessage(0, 0, [new DnsQuestion("_P2P._udp.LOCAL", DnsRecordType.Ptr)], [], [], []);

        Assert.Equal("_P2P._udp.LOCAL", DnsMessage.Decode(message.Encode()).Questions[0].Name);
    }

    [Theory]
    [InlineData("a..local")]
    [InlineData(".local")]
    [InlineData("a-label-of-sixty-four-bytes-is-one-more-than-dns-allows-01234567.local")]
    public void Names_dns_cannot_carry_are_refused_when_encoding(string name)
    {
        var message = new DnsMessage(0, 0, [new DnsQuestion(name, DnsRecordType.Ptr)], [], [], []);

        Assert.Throws<FormatException>(message.Encode);
    }

    [Fact]
    public void A_name_over_255_bytes_is_refused_when_encoding()
    {
        var name = string.Join('.', Enumerable.Repeat(new string('a', 63), 4));
        var message = new DnsMessage(0, 0, [new DnsQuestion(name, DnsRecordType.Ptr)], [], [], []);

        Assert.Throws<FormatException>(message.Encode);
    }

    [Fact]
    public void A_txt_string_over_255_bytes_is_refused_when_encoding()
    {
        var message = new DnsMessage(0, DnsMessage.ResponseFlag, [], [new TxtRecord("a.local", 1, [new string('x', 256)])], [], []);

        Assert.Throws<FormatException>(message.Encode);
    }

    [Fact]
    public void A_message_over_9000_bytes_is_refused_when_encoding()
    {
        var strings = Enumerable.Repeat(new string('x', 255), 40).ToList();
        var message = new DnsMessage(0, DnsMessage.ResponseFlag, [], [new TxtRecord("a.local", 1, strings)], [], []);

        var error = Assert.Throws<FormatException>(message.Encode);
        Assert.Contains("9000", error.Message, StringComparison.Ordinal);
    }
}
