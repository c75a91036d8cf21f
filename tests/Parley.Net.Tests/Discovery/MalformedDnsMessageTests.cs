using Parley.Core.Multiformats;
using Parley.Net.Discovery;

namespace Parley.Net.Tests.Discovery;

/// <summary>Hostile and broken packets are refused with a <see cref="FormatException"/>, quickly, and never with anything else.</summary>
public sealed class MalformedDnsMessageTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(11)]
    public void Shorter_than_a_header_is_refused(int length)
    {
        Assert.Throws<FormatException>(() => DnsMessage.Decode(new byte[length]));
    }

    [Fact]
    public void Over_9000_bytes_is_refused()
    {
        var packet = new byte[DnsMessage.MaxSize + 1];

        var error = Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
        Assert.Contains("9000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_truncation_of_a_valid_response_is_refused()
    {
        var peer = DiscoveryTestData.RandomPeerId();
        var packet = MdnsProtocol.Response("peername", [Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001").WithPeerId(peer)]).Encode();

        for (var length = 0; length < packet.Length; length++)
        {
            Assert.Throws<FormatException>(() => DnsMessage.Decode(packet.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Trailing_bytes_after_the_last_record_are_refused()
    {
        byte[] packet = [.. MdnsProtocol.Query().Encode(), 0x00];

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void A_pointer_to_itself_is_refused()
    {
        var packet = new PacketBuilder().Header(0, 1, 0, 0, 0).Pointer(12).UInt16(12).UInt16(1).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void A_forward_pointer_is_refused()
    {
        var packet = new PacketBuilder().Header(0, 1, 0, 0, 0).Pointer(18).UInt16(12).UInt16(1).Name("a.local").ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void A_pointer_back_into_the_same_name_is_refused()
    {
        // "a" then a pointer to "a": a loop that only ever points backwards from the pointer itself.
        var packet = new PacketBuilder().Header(0, 1, 0, 0, 0).Label("a").Pointer(12).UInt16(12).UInt16(1).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void Two_names_pointing_at_each_other_are_refused()
    {
        var packet = new PacketBuilder().Header(0, 2, 0, 0, 0)
            .Label("a").Pointer(20).UInt16(12).UInt16(1) // question 1 at 12: "a" -> question 2
            .Label("b").Pointer(12).UInt16(12).UInt16(1) // question 2 at 20: "b" -> question 1
            .ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void A_name_over_255_bytes_built_from_pointers_is_refused()
    {
        var label = new string('x', 63);
        var packet = new PacketBuilder().Header(0, 4, 0, 0, 0);
        var previous = packet.Position;
        packet.Label(label).Root().UInt16(12).UInt16(1);
        for (var i = 0; i < 3; i++)
        {
            var here = packet.Position;
            packet.Label(label).Pointer(previous).UInt16(12).UInt16(1);
            previous = here;
        }

        var error = Assert.Throws<FormatException>(() => DnsMessage.Decode(packet.ToArray()));
        Assert.Contains("255", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0x40)]
    [InlineData(0x80)]
    public void Extended_label_types_are_refused(byte labelType)
    {
        var packet = new PacketBuilder().Header(0, 1, 0, 0, 0).Bytes(labelType, 0x00).UInt16(12).UInt16(1).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Theory]
    [InlineData(0xFFFF, 0, 0, 0)]
    [InlineData(0, 0xFFFF, 0, 0)]
    [InlineData(0, 0, 0xFFFF, 0)]
    [InlineData(0, 0, 0, 0xFFFF)]
    [InlineData(0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)]
    [InlineData(200, 0, 0, 0)]
    [InlineData(1, 0, 0, 50)]
    public void Counts_the_packet_cannot_hold_are_refused_before_reading(int questions, int answers, int authorities, int additionals)
    {
        var packet = new PacketBuilder().Header(0, questions, answers, authorities, additionals).Name("_p2p._udp.local").UInt16(12).UInt16(1).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void More_entries_than_the_bound_are_refused_even_when_they_fit()
    {
        var packet = new PacketBuilder().Header(0, DnsMessage.MaxEntries + 1, 0, 0, 0);
        for (var i = 0; i <= DnsMessage.MaxEntries; i++)
        {
            packet.Root().UInt16(12).UInt16(1);
        }

        var error = Assert.Throws<FormatException>(() => DnsMessage.Decode(packet.ToArray()));
        Assert.Contains("entries", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData((int)DnsRecordType.A, 5)]
    [InlineData((int)DnsRecordType.A, 3)]
    [InlineData((int)DnsRecordType.Aaaa, 4)]
    public void Address_records_of_the_wrong_size_are_refused(int type, int size)
    {
        var packet = new PacketBuilder().Header(0x8400, 0, 1, 0, 0)
            .Name("a.local").RecordTail((DnsRecordType)type, PacketBuilder.ClassInternet, 1, data => data.Bytes(new byte[size])).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void Record_data_longer_than_the_packet_is_refused()
    {
        var packet = new PacketBuilder().Header(0x8400, 0, 1, 0, 0)
            .Name("a.local").UInt16(16).UInt16(1).UInt32(1).UInt16(200).Bytes(3, 0x61, 0x62, 0x63).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void A_txt_string_overrunning_its_record_is_refused()
    {
        var packet = new PacketBuilder().Header(0x8400, 0, 1, 0, 1)
            .Name("a.local").RecordTail(DnsRecordType.Txt, PacketBuilder.ClassInternet, 1, data => data.Bytes(10, 0x61, 0x62))
            .Name("b.local").RecordTail(DnsRecordType.A, PacketBuilder.ClassInternet, 1, data => data.Bytes(1, 2, 3, 4)).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void Ptr_data_with_bytes_after_the_name_is_refused()
    {
        var packet = new PacketBuilder().Header(0x8400, 0, 1, 0, 0)
            .Name("_p2p._udp.local").RecordTail(DnsRecordType.Ptr, PacketBuilder.ClassInternet, 1, data => data.Name("x._p2p._udp.local").Bytes(0xAA)).ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void A_ptr_name_running_past_its_data_is_refused()
    {
        // The declared data length ends inside the target name; the name continues into the next record's bytes.
        var packet = new PacketBuilder().Header(0x8400, 0, 1, 0, 0)
            .Name("_p2p._udp.local").UInt16(12).UInt16(1).UInt32(1).UInt16(2).Name("x._p2p._udp.local").ToArray();

        Assert.Throws<FormatException>(() => DnsMessage.Decode(packet));
    }

    [Fact]
    public void Random_bytes_only_ever_fail_with_format_exception()
    {
        var random = new Random(5353);
        for (var i = 0; i < 20_000; i++)
        {
            var packet = new byte[random.Next(0, 600)];
            random.NextBytes(packet);
            if (packet.Length >= 12)
            {
                // Small counts, so that the body gets parsed instead of failing the count check every time.
                packet[4] = 0;
                packet[5] = (byte)random.Next(0, 3);
                packet[6] = 0;
                packet[7] = (byte)random.Next(0, 4);
                packet[8] = 0;
                packet[9] = 0;
                packet[10] = 0;
                packet[11] = (byte)random.Next(0, 4);
            }
            DecodeAndReadOrFormatException(packet);
        }
    }

    [Fact]
    public void Mutated_responses_only_ever_fail_with_format_exception()
    {
        var peer = DiscoveryTestData.RandomPeerId();
        var original = MdnsProtocol.Response(
            "mutant",
            [Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001").WithPeerId(peer), Multiaddr.Parse("/ip6/fe80::1/tcp/4001").WithPeerId(peer)]).Encode();
        var random = new Random(251);
        for (var i = 0; i < 20_000; i++)
        {
            var packet = (byte[])original.Clone();
            for (var flips = random.Next(1, 6); flips > 0; flips--)
            {
                packet[random.Next(packet.Length)] = (byte)random.Next(256);
            }
            DecodeAndReadOrFormatException(packet);
        }
    }

    private static void DecodeAndReadOrFormatException(byte[] packet)
    {
        DnsMessage message;
        try
        {
            message = DnsMessage.Decode(packet);
        }
        catch (FormatException)
        {
            return;
        }
        // Whatever decodes must also be safe to interpret.
        MdnsProtocol.ReadPeers(message, "self", DiscoveryTestData.RandomPeerId(), acceptLoopback: false);
        MdnsProtocol.ShouldAnswer(message, "self");
    }
}
