using System.Net;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Discovery;
using static Parley.Net.Tests.Discovery.DiscoveryTestData;

namespace Parley.Net.Tests.Discovery;

public sealed class MdnsProtocolTests
{
    private static readonly PeerId Self = RandomPeerId();

    [Fact]
    public void The_specs_worked_example_yields_its_peer_and_both_addresses()
    {
        // libp2p/specs discovery/mdns.md, "Find All Peers", with names compressed as real responders send them.
        const string id = "QmQusTXc1Z9C1mzxsqC9ZTFXCgSkpBRGgW4Jk2QYHxKE22";
        const string name = "ciqcmoputolsfsigvm7nx5fwkko2eq26h46qhbj6o4co7uyn2f2srdy";
        var packet = new PacketBuilder().Header(0x8400, 0, 1, 0, 2);
        packet.Name("_p2p._udp.local").RecordTail(DnsRecordType.Ptr, PacketBuilder.ClassInternet, 120, data => data.Label(name).Pointer(12));
        var instanceAt = 12 + 17 + 10;
        packet.Pointer(instanceAt).RecordTail(DnsRecordType.Txt, PacketBuilder.ClassInternet, 120, data => data.TxtData($"dnsaddr=/ip6/fe80::7573:b0a8:46b0:bfea/tcp/4001/ipfs/{id}"));
        packet.Pointer(instanceAt).RecordTail(DnsRecordType.Txt, PacketBuilder.ClassInternet, 120, data => data.TxtData($"dnsaddr=/ip4/192.168.178.21/tcp/4001/ipfs/{id}"));

        var peers = MdnsProtocol.ReadPeers(DnsMessage.Decode(packet.ToArray()), "ourname", Self, acceptLoopback: false);

        var peer = Assert.Single(peers);
        Assert.Equal(PeerId.Parse(id), peer.Peer);
        Assert.Equal(["/ip6/fe80::7573:b0a8:46b0:bfea/tcp/4001", "/ip4/192.168.178.21/tcp/4001"], peer.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void A_go_libp2p_shaped_response_is_read()
    {
        // zeroconf: PTR answer; SRV, one TXT with every address, A and AAAA as extras; TTL 3200; compressed names.
        var id = IdentityKey.Generate().PeerId;
        const string name = "k3j5h2g7f8d9s0a1q2w3e4r5t6y7u8i9o0p";
        var packet = new PacketBuilder().Header(0x8400, 0, 1, 0, 4);
        packet.Name("_p2p._udp.local").RecordTail(DnsRecordType.Ptr, PacketBuilder.ClassInternet, 3200, data => data.Label(name).Pointer(12));
        var instanceAt = 12 + 17 + 10;
        var hostAt = 0;
        packet.Pointer(instanceAt).RecordTail(DnsRecordType.Srv, PacketBuilder.ClassInternet, 3200, data =>
        {
            data.UInt16(0).UInt16(0).UInt16(4001);
            hostAt = data.Position;
            data.Label(name).Label("local").Root();
        });
        packet.Pointer(instanceAt).RecordTail(DnsRecordType.Txt, PacketBuilder.ClassInternet, 3200, data => data.TxtData(
            $"dnsaddr=/ip4/192.168.1.20/tcp/4001/p2p/{id}",
            $"dnsaddr=/ip4/192.168.1.20/udp/4001/quic-v1/p2p/{id}",
            $"dnsaddr=/ip6/fd00::20/tcp/4001/p2p/{id}"));
        packet.Pointer(hostAt).RecordTail(DnsRecordType.A, PacketBuilder.ClassInternet, 3200, data => data.Bytes(192, 168, 1, 20));
        packet.Pointer(hostAt).RecordTail(DnsRecordType.Aaaa, PacketBuilder.ClassInternet, 3200, data => data.Bytes(IPAddress.Parse("fd00::20").GetAddressBytes()));

        var peers = MdnsProtocol.ReadPeers(DnsMessage.Decode(packet.ToArray()), "ourname", Self, acceptLoopback: false);

        var peer = Assert.Single(peers);
        Assert.Equal(id, peer.Peer);
        // QUIC is not a transport Parley speaks or parses; the TCP addresses remain.
        Assert.Equal(["/ip4/192.168.1.20/tcp/4001", "/ip6/fd00::20/tcp/4001"], peer.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void A_js_libp2p_shaped_response_is_read()
    {
        // @libp2p/mdns: PTR and one TXT record per address, all as answers, uncompressed, TTL 120.
        var id = IdentityKey.Generate().PeerId;
        var instance = "zyxwvutsrqponmlkjihgfedcba9876543210zyxwvutsrqponmlkjihgfedcba9._p2p._udp.local";
        var packet = new PacketBuilder().Header(0x8400, 0, 3, 0, 0)
            .Name("_p2p._udp.local").RecordTail(DnsRecordType.Ptr, PacketBuilder.ClassInternet, 120, data => data.Name(instance))
            .Name(instance).RecordTail(DnsRecordType.Txt, PacketBuilder.ClassInternet, 120, data => data.TxtData($"dnsaddr=/ip4/10.1.2.3/tcp/35000/p2p/{id}"))
            .Name(instance).RecordTail(DnsRecordType.Txt, PacketBuilder.ClassInternet, 120, data => data.TxtData($"dnsaddr=/ip4/127.0.0.1/tcp/35000/p2p/{id}"));

        var peers = MdnsProtocol.ReadPeers(DnsMessage.Decode(packet.ToArray()), "ourname", Self, acceptLoopback: false);

        var peer = Assert.Single(peers);
        Assert.Equal(id, peer.Peer);
        Assert.Equal(["/ip4/10.1.2.3/tcp/35000"], peer.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void Junk_txt_entries_are_skipped()
    {
        var id = RandomPeerId();
        var other = RandomPeerId();
        var response = ResponseWithTxt(
            "peer",
            "dnsaddr=not-a-multiaddr",
            "dnsaddr=",
            "dnsaddr=/ip4/10.0.0.1/tcp/4001",
            $"dnsaddr=/p2p/{id}",
            $"dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/{other}/p2p/{id}",
            $"dnsaddr=/ip4/10.0.0.1/tcp/99999/p2p/{id}",
            $"DNSADDR=/ip4/10.0.0.1/tcp/4001/p2p/{id}",
            $" dnsaddr=/ip4/10.0.0.1/tcp/4001/p2p/{id}",
            "v=spf1 -all",
            "\uFFFD\uFFFD",
            "",
            $"dnsaddr=/ip4/10.0.0.9/tcp/4001/p2p/{id}");

        var peer = Assert.Single(MdnsProtocol.ReadPeers(response, "ourname", Self, acceptLoopback: false));

        Assert.Equal(id, peer.Peer);
        Assert.Equal(["/ip4/10.0.0.9/tcp/4001"], peer.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void Txt_records_outside_the_service_are_skipped()
    {
        var id = RandomPeerId();
        var response = new DnsMessage(0, 0x8400, [], [
            new TxtRecord("_p2p._udp.local", 120, [$"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{id}"]),
            new TxtRecord("printer._ipp._tcp.local", 120, [$"dnsaddr=/ip4/10.0.0.2/tcp/1/p2p/{id}"]),
        ], [], []);

        Assert.Empty(MdnsProtocol.ReadPeers(response, "ourname", Self, acceptLoopback: false));
    }

    [Fact]
    public void Our_own_instance_and_our_own_peer_id_are_skipped()
    {
        var response = new DnsMessage(0, 0x8400, [], [
            new TxtRecord("ourname._p2p._udp.local", 120, [$"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{RandomPeerId()}"]),
            new TxtRecord("OURNAME._P2P._UDP.LOCAL", 120, [$"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{RandomPeerId()}"]),
            new TxtRecord("impostor._p2p._udp.local", 120, [$"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{Self}"]),
        ], [], []);

        Assert.Empty(MdnsProtocol.ReadPeers(response, "ourname", Self, acceptLoopback: false));
    }

    [Fact]
    public void Loopback_addresses_are_skipped_unless_accepted()
    {
        var id = RandomPeerId();
        var response = ResponseWithTxt("peer", $"dnsaddr=/ip4/127.0.0.1/tcp/1/p2p/{id}", $"dnsaddr=/ip6/::1/tcp/1/p2p/{id}");

        Assert.Empty(MdnsProtocol.ReadPeers(response, "ourname", Self, acceptLoopback: false));
        var peer = Assert.Single(MdnsProtocol.ReadPeers(response, "ourname", Self, acceptLoopback: true));
        Assert.Equal(["/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/1"], peer.Addresses.Select(a => a.ToString()));
    }

    [Fact]
    public void Addresses_per_peer_are_capped_at_16_and_deduplicated()
    {
        var id = RandomPeerId();
        var strings = Enumerable.Range(1, 40).Select(port => $"dnsaddr=/ip4/10.0.0.1/tcp/{port}/p2p/{id}").Prepend($"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{id}").ToArray();

        var peer = Assert.Single(MdnsProtocol.ReadPeers(ResponseWithTxt("peer", strings), "ourname", Self, acceptLoopback: false));

        Assert.Equal(16, peer.Addresses.Count);
        Assert.Equal(16, peer.Addresses.Distinct().Count());
    }

    [Fact]
    public void Peers_per_response_are_capped()
    {
        var strings = Enumerable.Range(0, 40).Select(_ => $"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{RandomPeerId()}").ToArray();

        var peers = MdnsProtocol.ReadPeers(ResponseWithTxt("peer", strings), "ourname", Self, acceptLoopback: false);

        Assert.Equal(MdnsProtocol.MaxPeersPerResponse, peers.Count);
    }

    [Fact]
    public void Our_response_has_the_ptr_answer_and_srv_txt_and_address_additionals()
    {
        var addresses = new[] { "/ip4/192.168.1.5/tcp/4001", "/ip6/fd00::5/tcp/4002", "/ip4/192.168.1.5/tcp/4003" }
            .Select(text => Multiaddr.Parse(text).WithPeerId(Self)).ToList();

        var response = MdnsProtocol.Response("ourname", addresses);

        Assert.Equal(0x8400, response.Flags);
        Assert.Empty(response.Questions);
        Assert.Equal(["_p2p._udp.local PTR ourname._p2p._udp.local ttl=120 flush=False"], Describe(response.Answers));
        Assert.Equal(
            [
                "ourname._p2p._udp.local SRV 0 0 4001 ourname.local ttl=120 flush=False",
                $"ourname._p2p._udp.local TXT [dnsaddr=/ip4/192.168.1.5/tcp/4001/p2p/{Self} | dnsaddr=/ip6/fd00::5/tcp/4002/p2p/{Self} | dnsaddr=/ip4/192.168.1.5/tcp/4003/p2p/{Self}] ttl=120 flush=False",
                "ourname.local A 192.168.1.5 ttl=120 flush=False",
                "ourname.local AAAA fd00::5 ttl=120 flush=False",
            ],
            Describe(response.Additionals));
    }

    [Fact]
    public void Our_response_reads_back_as_us()
    {
        var addresses = new[] { Multiaddr.Parse("/ip4/192.168.1.5/tcp/4001").WithPeerId(Self) };

        var decoded = DnsMessage.Decode(MdnsProtocol.Response("ourname", addresses).Encode());

        var peer = Assert.Single(MdnsProtocol.ReadPeers(decoded, "listener", RandomPeerId(), acceptLoopback: false));
        Assert.Equal(Self, peer.Peer);
        Assert.Equal([Multiaddr.Parse("/ip4/192.168.1.5/tcp/4001")], peer.Addresses);
    }

    [Theory]
    [InlineData("_p2p._udp.local", (int)DnsRecordType.Ptr, true)]
    [InlineData("_P2P._UDP.Local", (int)DnsRecordType.Ptr, true)]
    [InlineData("_p2p._udp.local", (int)DnsRecordType.Any, true)]
    [InlineData("ourname._p2p._udp.local", (int)DnsRecordType.Txt, true)]
    [InlineData("ourname._p2p._udp.local", (int)DnsRecordType.Srv, true)]
    [InlineData("ourname.local", (int)DnsRecordType.A, true)]
    [InlineData("ourname.local", (int)DnsRecordType.Aaaa, true)]
    [InlineData("_p2p._udp.local", (int)DnsRecordType.Txt, false)]
    [InlineData("other._p2p._udp.local", (int)DnsRecordType.Txt, false)]
    [InlineData("_services._dns-sd._udp.local", (int)DnsRecordType.Ptr, false)]
    [InlineData("_ipfs-discovery._udp.local", (int)DnsRecordType.Ptr, false)]
    public void Which_questions_we_answer(string name, int type, bool answered)
    {
        var query = new DnsMessage(0, 0, [new DnsQuestion(name, (DnsRecordType)type)], [], [], []);

        Assert.Equal(answered, MdnsProtocol.ShouldAnswer(query, "ourname"));
    }

    [Fact]
    public void Responses_are_never_answered()
    {
        var response = MdnsProtocol.Query() with { Flags = DnsMessage.ResponseFlag };

        Assert.False(MdnsProtocol.ShouldAnswer(response, "ourname"));
    }

    [Theory]
    [InlineData(120u, false)]
    [InlineData(60u, false)]
    [InlineData(59u, true)]
    public void A_query_that_already_knows_our_answer_is_not_answered(uint knownTtl, bool answered)
    {
        var query = MdnsProtocol.Query() with { Answers = [new PtrRecord("_p2p._udp.local", knownTtl, "ourname._p2p._udp.local")] };

        Assert.Equal(answered, MdnsProtocol.ShouldAnswer(query, "ourname"));
    }

    [Fact]
    public void Peer_names_are_random_lower_case_alphanumeric_labels_of_32_to_63_characters()
    {
        var names = Enumerable.Range(0, 200).Select(_ => MdnsProtocol.NewPeerName()).ToList();

        Assert.All(names, name =>
        {
            Assert.InRange(name.Length, 32, 63);
            Assert.Matches("^[a-z0-9]+$", name);
        });
        Assert.Equal(names.Count, names.Distinct().Count());
    }

    private static DnsMessage ResponseWithTxt(string peerName, params string[] strings) =>
        new(0, 0x8400, [], [new PtrRecord("_p2p._udp.local", 120, peerName + "._p2p._udp.local")], [], [new TxtRecord(peerName + "._p2p._udp.local", 120, strings)]);
}
