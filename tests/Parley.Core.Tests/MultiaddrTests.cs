using System.Net;
using System.Net.Sockets;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Core.Tests;

public class MultiaddrTests
{
    private const string ShaPeer = "QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC";
    private const string ShaPeerHex = "a503221220d52ebb89d85b02a284948203a62ff28389c57c9f42beec4ec20db76a68911c0b";

    // The Ed25519 peer id of the libp2p peer-ids spec test vector (see PeerIdTests).
    private const string EdPeer = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    private const string EdPeerHex = "a503260024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    /// <summary>
    /// Text and binary forms. Sources: multiformats/multiaddr protocols/ip46.md and test/multiaddr.feature,
    /// go-multiaddr multiaddr_test.go (TestStringToBytes), rust-multiaddr tests/lib.rs (construct_success),
    /// the js-multiaddr resolve() doc example; rows marked "derived" are built by the spec's rules from those.
    /// </summary>
    public static TheoryData<string, string> Vectors => new()
    {
        { "/ip4/127.0.0.1/tcp/4001", "047f000001060fa1" },
        { "/ip4/192.0.2.42/tcp/443", "04c000022a0601bb" },
        { "/ip4/127.0.0.1/udp/1234", "047f000001910204d2" },
        { "/ip4/127.0.0.1/tcp/4321", "047f0000010610e1" },
        { "/ip4/127.0.0.1/udp/1234/ip4/127.0.0.1/tcp/4321", "047f000001910204d2047f0000010610e1" },
        { "/ip4/0.0.0.0", "0400000000" },
        { "/ip6/::1", "2900000000000000000000000000000001" },
        { "/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21", "29260100094f819700803eca6566e80c21" },
        { "/ip6/fe80::4f83:b267:765b:d572", "29fe800000000000004f83b267765bd572" },
        { "/udp/0", "91020000" },
        { "/tcp/0", "060000" },
        { "/udp/65535", "9102ffff" },
        { "/tcp/65535", "06ffff" },
        { "/p2p/" + ShaPeer, ShaPeerHex },
        { "/p2p/" + ShaPeer + "/tcp/1234", ShaPeerHex + "0604d2" },
        { "/ip4/127.0.0.1/p2p/" + ShaPeer + "/tcp/1234", "047f000001" + ShaPeerHex + "0604d2" },
        { "/ip4/147.75.83.83/tcp/4001/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb", "04934b5353060fa1a503221220c10f9319dac35c270a6b74cd644cb3acfc1f6efc8c821f8eb282599fd1814f64" },
        { "/dnsaddr/sjc-1.bootstrap.libp2p.io", "3819736a632d312e626f6f7473747261702e6c69627032702e696f" },
        {
            "/dnsaddr/sjc-1.bootstrap.libp2p.io/tcp/1234/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
            "3819736a632d312e626f6f7473747261702e6c69627032702e696f0604d2a50322122006b3608aa000274049eb28ad8e793a26ff6fab281a7d3bd77cd18eb745dfaabb"
        },
        // derived
        { "/dns4/example.com/tcp/443", "360b6578616d706c652e636f6d0601bb" },
        { "/dns6/example.com/tcp/443", "370b6578616d706c652e636f6d0601bb" },
        { "/dns/example.com/tcp/443", "350b6578616d706c652e636f6d0601bb" },
        { "/ip6/::1/tcp/4001/p2p/" + EdPeer, "2900000000000000000000000000000001060fa1" + EdPeerHex },
        { "/ip4/127.0.0.1/udp/4001", "047f00000191020fa1" },
        // p2p-circuit is code 0x0122 with no value
        { "/p2p-circuit", "a202" },
        { "/ip4/127.0.0.1/tcp/4001/p2p/" + ShaPeer + "/p2p-circuit/p2p/" + EdPeer, "047f000001060fa1" + ShaPeerHex + "a202" + EdPeerHex },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Text_to_bytes(string text, string hex)
    {
        Assert.Equal(hex, Convert.ToHexStringLower(Multiaddr.Parse(text).ToBytes()));
    }

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Bytes_to_text(string text, string hex)
    {
        var multiaddr = Multiaddr.FromBytes(Convert.FromHexString(hex));

        Assert.Equal(text, multiaddr.ToString());
        Assert.Equal(hex, Convert.ToHexStringLower(multiaddr.ToBytes()));
        Assert.Equal(multiaddr, Multiaddr.Parse(multiaddr.ToString()));
    }

    [Fact]
    public void A_circuit_address_splits_into_relay_and_target()
    {
        var relayed = Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001/p2p/" + ShaPeer + "/p2p-circuit/p2p/" + EdPeer);

        Assert.True(relayed.IsCircuit);
        Assert.True(relayed.TryGetCircuit(out var relay, out var target));
        Assert.Equal("/ip4/192.0.2.1/tcp/4001/p2p/" + ShaPeer, relay.ToString());
        Assert.Equal(EdPeer, target!.ToString());
        Assert.Equal(EdPeer, relayed.PeerId!.ToString());
        Assert.True(relayed.WithoutPeerId().TryGetCircuit(out _, out var none));
        Assert.Null(none);
        Assert.False(relayed.TryGetTcpEndPoint(out _));
    }

    [Theory]
    [InlineData("/ip4/192.0.2.1/tcp/4001/p2p-circuit")]
    [InlineData("/p2p-circuit/p2p/" + EdPeer)]
    [InlineData("/ip4/192.0.2.1/tcp/4001/p2p/" + ShaPeer + "/p2p-circuit/p2p/" + EdPeer + "/p2p-circuit")]
    [InlineData("/ip4/192.0.2.1/tcp/4001/p2p/" + ShaPeer + "/p2p-circuit/tcp/1")]
    public void Not_a_usable_circuit(string text)
    {
        Assert.False(Multiaddr.Parse(text).TryGetCircuit(out _, out _));
    }

    [Fact]
    public void Components_carry_canonical_text_values()
    {
        var multiaddr = Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001/p2p/" + EdPeer);

        Assert.Equal(
            [
                new MultiaddrComponent(MultiaddrProtocol.Ip4, "127.0.0.1"),
                new MultiaddrComponent(MultiaddrProtocol.Tcp, "4001"),
                new MultiaddrComponent(MultiaddrProtocol.P2p, EdPeer),
            ],
            multiaddr.Components);
    }

    [Fact]
    public void Ipfs_is_read_as_p2p_and_printed_as_p2p()
    {
        var ipfs = Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001/ipfs/" + ShaPeer);

        Assert.Equal("/ip4/127.0.0.1/tcp/4001/p2p/" + ShaPeer, ipfs.ToString());
        Assert.Equal(Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001/p2p/" + ShaPeer), ipfs);
    }

    [Fact]
    public void A_cid_peer_id_is_accepted_and_printed_in_base58()
    {
        var peer = PeerId.Parse(EdPeer);

        var multiaddr = Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001/p2p/" + peer.ToCidString());

        Assert.Equal("/ip4/10.0.0.1/tcp/4001/p2p/" + EdPeer, multiaddr.ToString());
        Assert.Equal(peer, multiaddr.PeerId);
    }

    // From go-multiaddr multiaddr_test.go's list of valid addresses (the ones within Parley's protocols).
    [Theory]
    [InlineData("/p2p/bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm")]
    [InlineData("/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u")]
    [InlineData("/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV")]
    [InlineData("/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234")]
    [InlineData("/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21")]
    [InlineData("/ip4/127.0.0.1/udp/0")]
    public void Go_multiaddr_valid_addresses_parse_and_round_trip(string text)
    {
        var multiaddr = Multiaddr.Parse(text);

        Assert.Equal(multiaddr, Multiaddr.Parse(multiaddr.ToString()));
        Assert.Equal(multiaddr, Multiaddr.FromBytes(multiaddr.ToBytes()));
    }

    [Theory]
    [InlineData("/ip6/2001:0db8:0000:0000:0000:0000:0000:0001", "/ip6/2001:db8::1")]
    [InlineData("/ip6/2001:db8:0:0:1:0:0:1", "/ip6/2001:db8::1:0:0:1")]
    [InlineData("/ip6/2001:db8:0:1:1:1:1:1", "/ip6/2001:db8:0:1:1:1:1:1")]
    [InlineData("/ip6/2001:db8::0:1", "/ip6/2001:db8::1")]
    [InlineData("/ip6/FE80::A", "/ip6/fe80::a")]
    [InlineData("/ip6/0:0:0:0:0:0:0:0", "/ip6/::")]
    [InlineData("/ip6/1:2:3:4:5:6:7::", "/ip6/1:2:3:4:5:6:7:0")]
    [InlineData("/ip6/1::", "/ip6/1::")]
    [InlineData("/ip6/::ffff:127.0.0.1", "/ip6/::ffff:127.0.0.1")]
    [InlineData("/ip6/::ffff:7f00:1", "/ip6/::ffff:127.0.0.1")]
    [InlineData("/ip6/::1.2.3.4", "/ip6/::102:304")]
    [InlineData("/ip6/64:ff9b::1.2.3.4", "/ip6/64:ff9b::102:304")]
    public void Ip6_is_printed_in_canonical_compressed_form(string text, string canonical)
    {
        var multiaddr = Multiaddr.Parse(text);

        Assert.Equal(canonical, multiaddr.ToString());
        Assert.Equal(canonical, Multiaddr.FromBytes(multiaddr.ToBytes()).ToString());
    }

    [Fact]
    public void One_trailing_slash_is_tolerated()
    {
        Assert.Equal(Multiaddr.Parse("/ip4/127.0.0.1/tcp/1234"), Multiaddr.Parse("/ip4/127.0.0.1/tcp/1234/"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("/")]
    [InlineData("//")]
    [InlineData("ip4/1.2.3.4")]
    [InlineData(" /ip4/1.2.3.4")]
    [InlineData("/ip4")]
    [InlineData("/ip4/")]
    [InlineData("/ip4/1.2.3.4//tcp/1")]
    [InlineData("/ip4/1.2.3.4/tcp/1//")]
    [InlineData("/ip4/::1")]
    [InlineData("/ip4/fdpsofodsajfdoisa")]
    [InlineData("/ip4/1.2.3")]
    [InlineData("/ip4/1.2.3.4.5")]
    [InlineData("/ip4/256.0.0.1")]
    [InlineData("/ip4/01.2.3.4")]
    [InlineData("/ip4/1.2.3.-4")]
    [InlineData("/ip4/1.2.3.4 ")]
    [InlineData("/ip4/127.1")]
    [InlineData("/ip4/0x7f.0.0.1")]
    [InlineData("/ip4/1.2.3.4/ip4")]
    [InlineData("/ip6")]
    [InlineData("/ip6/1.2.3.4")]
    [InlineData("/ip6/fe80::1%eth0")]
    [InlineData("/ip6/fe80::1%1")]
    [InlineData("/ip6/[::1]")]
    [InlineData("/ip6/:::")]
    [InlineData("/ip6/1:2:3:4:5:6:7:8:9")]
    [InlineData("/ip6/12345::1")]
    [InlineData("/ip6/gggg::1")]
    [InlineData("/tcp")]
    [InlineData("/tcp/65536")]
    [InlineData("/tcp/70000")]
    [InlineData("/tcp/-1")]
    [InlineData("/tcp/+80")]
    [InlineData("/tcp/080")]
    [InlineData("/tcp/8o")]
    [InlineData("/tcp/ 80")]
    [InlineData("/tcp/99999999999")]
    [InlineData("/udp/65536")]
    [InlineData("/ip4/127.0.0.1/tcp")]
    [InlineData("/ip4/127.0.0.1/tcp/jfodsajfidosajfoidsa")]
    [InlineData("/ip4/127.0.0.1/p2p")]
    [InlineData("/ip4/127.0.0.1/p2p/tcp")]
    [InlineData("/ip4/127.0.0.1/ipfs")]
    [InlineData("/p2p/QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY")]
    [InlineData("/p2p/?unknownmultibase")]
    [InlineData("/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNK")]
    [InlineData("/p2p/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")]
    [InlineData("/unknown/1.2.3.4")]
    [InlineData("/ip4/127.0.0.1/udp/1234/quic-v1")]
    [InlineData("/ip4/127.0.0.1/tcp/127/ws")]
    [InlineData("/p2p-circuit/tcp")]
    [InlineData("/IP4/127.0.0.1")]
    [InlineData("/dns4")]
    [InlineData("/dns4/")]
    [InlineData("/dns4/exa mple.com")]
    [InlineData("/dns4/exämple.com")]
    [InlineData("/dnsaddr/tab\there")]
    public void Malformed_text_is_rejected(string text)
    {
        Assert.Throws<FormatException>(() => Multiaddr.Parse(text));
        Assert.False(Multiaddr.TryParse(text, out var result));
        Assert.Null(result);
    }

    [Fact]
    public void Dns_names_are_bounded()
    {
        var longest = new string('a', 255);
        Assert.Equal("/dns4/" + longest, Multiaddr.Parse("/dns4/" + longest).ToString());
        Assert.Throws<FormatException>(() => Multiaddr.Parse("/dns4/" + longest + "a"));
    }

    [Fact]
    public void Text_that_would_exceed_the_byte_bound_is_rejected()
    {
        // 204 ip4 components are 1020 bytes; 205 are 1025.
        var fits = string.Concat(Enumerable.Repeat("/ip4/1.2.3.4", 204));
        Assert.Equal(1020, Multiaddr.Parse(fits).ToBytes().Length);
        Assert.Throws<FormatException>(() => Multiaddr.Parse(fits + "/ip4/1.2.3.4"));
        Assert.Throws<FormatException>(() => Multiaddr.Parse("/dns4/" + new string('a', Multiaddr.MaxTextLength)));
    }

    [Fact]
    public void Parse_null_is_an_argument_error_and_TryParse_null_is_false()
    {
        Assert.Throws<ArgumentNullException>(() => Multiaddr.Parse(null!));
        Assert.False(Multiaddr.TryParse(null, out var result));
        Assert.Null(result);
    }

    [Fact]
    public void TryParse_accepts_valid_text()
    {
        Assert.True(Multiaddr.TryParse("/ip4/127.0.0.1/tcp/4001", out var result));
        Assert.Equal("/ip4/127.0.0.1/tcp/4001", result.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("04")]
    [InlineData("047f0000")]
    [InlineData("047f00000106")]
    [InlineData("047f0000010600")]
    [InlineData("047f000001060fa100")]
    [InlineData("047f000001060fa1ff")]
    [InlineData("047f000001060fa106")]
    [InlineData("06")]
    [InlineData("2900")]
    [InlineData("a503")]
    [InlineData("a50380")]
    [InlineData("a503221220d52ebb89")]
    [InlineData("a50300")]
    [InlineData("a503050003010203")]
    [InlineData("a503161114000102030405060708090a0b0c0d0e0f10111213")]
    [InlineData("a5032d002b08011227000000000000000000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("8080808080808080808001")]
    [InlineData("8400")]
    [InlineData("0001")]
    [InlineData("00")]
    [InlineData("cc03")]
    [InlineData("cd03")]
    [InlineData("dd03")]
    [InlineData("a302")]
    [InlineData("3600")]
    [InlineData("36012f")]
    [InlineData("3601ff")]
    [InlineData("360120")]
    [InlineData("3605616263")]
    [InlineData("36ffffffffffffffff7f61")]
    public void Malformed_binary_is_rejected(string hex)
    {
        Assert.Throws<FormatException>(() => Multiaddr.FromBytes(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Binary_over_the_bound_is_rejected()
    {
        var fits = Enumerable.Range(0, 204).SelectMany(_ => Convert.FromHexString("0401020304")).ToArray();
        Assert.Equal(1020, Multiaddr.FromBytes(fits).ToBytes().Length);
        Assert.Throws<FormatException>(() => Multiaddr.FromBytes([.. fits, .. Convert.FromHexString("0401020304")]));
        Assert.Throws<FormatException>(() => Multiaddr.FromBytes(new byte[Multiaddr.MaxLength + 1]));
    }

    [Fact]
    public void Mutated_binary_either_parses_and_round_trips_or_is_a_format_error()
    {
        var seeds = Vectors.Select(row => Convert.FromHexString((string)row[1])).ToArray();
        var random = new Random(421);
        for (var i = 0; i < 20_000; i++)
        {
            var bytes = seeds[random.Next(seeds.Length)].ToArray();
            bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            var input = bytes.AsSpan(0, random.Next(1, bytes.Length + 1)).ToArray();
            Multiaddr parsed;
            try
            {
                parsed = Multiaddr.FromBytes(input);
            }
            catch (FormatException)
            {
                continue;
            }
            Assert.Equal(input, parsed.ToBytes());
            Assert.Equal(parsed, Multiaddr.Parse(parsed.ToString()));
        }
    }

    [Fact]
    public void Mutated_text_either_parses_and_round_trips_or_is_a_format_error()
    {
        const string Alphabet = "/0123456789abcdefABCDEF:.%[] -+ipudnstcqwzQm12é\0";
        var seeds = Vectors.Select(row => (string)row[0]).ToArray();
        var random = new Random(4001);
        for (var i = 0; i < 20_000; i++)
        {
            var text = seeds[random.Next(seeds.Length)].ToCharArray();
            text[random.Next(text.Length)] = Alphabet[random.Next(Alphabet.Length)];
            Multiaddr parsed;
            try
            {
                parsed = Multiaddr.Parse(new string(text));
            }
            catch (FormatException)
            {
                continue;
            }
            Assert.Equal(parsed, Multiaddr.FromBytes(parsed.ToBytes()));
            Assert.Equal(parsed, Multiaddr.Parse(parsed.ToString()));
        }
    }

    [Fact]
    public void PeerId_is_the_last_p2p_component()
    {
        Assert.Equal(PeerId.Parse(EdPeer), Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001/p2p/" + EdPeer).PeerId);
        Assert.Equal(PeerId.Parse(EdPeer), Multiaddr.Parse("/p2p/" + ShaPeer + "/tcp/1/p2p/" + EdPeer).PeerId);
        Assert.Equal(PeerId.Parse(ShaPeer), Multiaddr.Parse("/p2p/" + ShaPeer + "/tcp/1").PeerId);
        Assert.Null(Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001").PeerId);
    }

    [Fact]
    public void WithoutPeerId_drops_only_a_trailing_p2p()
    {
        var withPeer = Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001/p2p/" + EdPeer);
        var withoutPeer = Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001");

        Assert.Equal(withoutPeer, withPeer.WithoutPeerId());
        Assert.Same(withoutPeer, withoutPeer.WithoutPeerId());
        Assert.Equal("/p2p/" + ShaPeer + "/tcp/1", Multiaddr.Parse("/p2p/" + ShaPeer + "/tcp/1").WithoutPeerId().ToString());
        Assert.Throws<InvalidOperationException>(() => Multiaddr.Parse("/p2p/" + EdPeer).WithoutPeerId());
    }

    [Fact]
    public void WithPeerId_appends_or_replaces()
    {
        var peer = PeerId.Parse(EdPeer);
        var other = PeerId.Parse(ShaPeer);

        Assert.Equal("/ip4/127.0.0.1/tcp/4001/p2p/" + EdPeer, Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001").WithPeerId(peer).ToString());
        Assert.Equal("/ip4/127.0.0.1/tcp/4001/p2p/" + EdPeer, Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001/p2p/" + ShaPeer).WithPeerId(peer).ToString());
        Assert.Equal(other, Multiaddr.Parse("/dns4/example.com/tcp/1").WithPeerId(other).PeerId);
    }

    [Fact]
    public void Encapsulate_appends_components()
    {
        // go-multiaddr TestEncapsulate.
        var outer = Multiaddr.Parse("/ip4/127.0.0.1/udp/1234").Encapsulate(Multiaddr.Parse("/udp/5678"));

        Assert.Equal("/ip4/127.0.0.1/udp/1234/udp/5678", outer.ToString());
        Assert.Equal(Convert.FromHexString("047f000001910204d29102162e"), outer.ToBytes());
    }

    [Fact]
    public void Results_over_the_bound_are_argument_errors()
    {
        var big = Multiaddr.Parse(string.Concat(Enumerable.Repeat("/ip4/1.2.3.4", 200)));

        Assert.Throws<ArgumentException>(() => big.Encapsulate(big));
        Assert.Throws<ArgumentException>(() => big.WithPeerId(PeerId.Parse(EdPeer)));
    }

    [Fact]
    public void FromEndPoint_builds_ip_tcp_addresses_without_zones()
    {
        Assert.Equal("/ip4/127.0.0.1/tcp/4001", Multiaddr.FromEndPoint(new IPEndPoint(IPAddress.Loopback, 4001)).ToString());
        Assert.Equal("/ip6/::1/tcp/0", Multiaddr.FromEndPoint(new IPEndPoint(IPAddress.IPv6Loopback, 0)).ToString());
        Assert.Equal("/ip6/2001:db8::1/tcp/65535", Multiaddr.FromEndPoint(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 65535)).ToString());
        Assert.Equal("/ip4/10.1.2.3/tcp/80", Multiaddr.FromEndPoint(new IPEndPoint(IPAddress.Parse("::ffff:10.1.2.3"), 80)).ToString());
        Assert.Equal("/ip6/fe80::1/tcp/80", Multiaddr.FromEndPoint(new IPEndPoint(IPAddress.Parse("fe80::1%2"), 80)).ToString());
    }

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/4001", "127.0.0.1", 4001)]
    [InlineData("/ip6/::1/tcp/80", "::1", 80)]
    [InlineData("/ip6/2001:db8::1/tcp/65535/p2p/" + EdPeer, "2001:db8::1", 65535)]
    [InlineData("/ip4/10.0.0.1/tcp/0/p2p/" + ShaPeer, "10.0.0.1", 0)]
    public void TryGetTcpEndPoint_accepts_ip_tcp_with_optional_peer(string text, string address, int port)
    {
        var multiaddr = Multiaddr.Parse(text);

        Assert.True(multiaddr.TryGetTcpEndPoint(out var endPoint));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endPoint);
        Assert.Equal(multiaddr.WithoutPeerId(), Multiaddr.FromEndPoint(endPoint));
    }

    [Theory]
    [InlineData("/ip4/127.0.0.1")]
    [InlineData("/ip4/127.0.0.1/udp/4001")]
    [InlineData("/dns4/example.com/tcp/4001")]
    [InlineData("/tcp/4001")]
    [InlineData("/p2p/" + EdPeer)]
    [InlineData("/p2p/" + EdPeer + "/tcp/4001")]
    [InlineData("/ip4/127.0.0.1/tcp/4001/tcp/4002")]
    [InlineData("/ip4/127.0.0.1/tcp/4001/ip4/127.0.0.1/tcp/4002")]
    [InlineData("/ip4/127.0.0.1/tcp/4001/p2p/" + EdPeer + "/p2p/" + EdPeer)]
    public void TryGetTcpEndPoint_rejects_other_shapes(string text)
    {
        Assert.False(Multiaddr.Parse(text).TryGetTcpEndPoint(out var endPoint));
        Assert.Null(endPoint);
    }

    [Theory]
    [InlineData("/dns/example.com/tcp/443", "example.com", 443, AddressFamily.Unspecified)]
    [InlineData("/dns4/example.com/tcp/4001", "example.com", 4001, AddressFamily.InterNetwork)]
    [InlineData("/dns6/example.com/tcp/1/p2p/" + EdPeer, "example.com", 1, AddressFamily.InterNetworkV6)]
    public void TryGetDnsTcp_accepts_dns_tcp_with_optional_peer(string text, string host, int port, AddressFamily family)
    {
        Assert.True(Multiaddr.Parse(text).TryGetDnsTcp(out var actualHost, out var actualPort, out var actualFamily));
        Assert.Equal(host, actualHost);
        Assert.Equal(port, actualPort);
        Assert.Equal(family, actualFamily);
    }

    [Theory]
    [InlineData("/dnsaddr/bootstrap.libp2p.io/tcp/4001")]
    [InlineData("/dns4/example.com")]
    [InlineData("/dns4/example.com/udp/4001")]
    [InlineData("/ip4/127.0.0.1/tcp/4001")]
    public void TryGetDnsTcp_rejects_other_shapes(string text)
    {
        Assert.False(Multiaddr.Parse(text).TryGetDnsTcp(out var host, out var port, out var family));
        Assert.Null(host);
        Assert.Equal(0, port);
        Assert.Equal(AddressFamily.Unspecified, family);
    }

    [Fact]
    public void ValueOf_returns_the_first_component_of_a_protocol()
    {
        var multiaddr = Multiaddr.Parse("/ip4/127.0.0.1/udp/1234/ip4/10.0.0.1/tcp/4321/p2p/" + EdPeer);

        Assert.Equal("127.0.0.1", multiaddr.ValueOf(MultiaddrProtocol.Ip4));
        Assert.Equal("1234", multiaddr.ValueOf(MultiaddrProtocol.Udp));
        Assert.Equal("4321", multiaddr.ValueOf(MultiaddrProtocol.Tcp));
        Assert.Equal(EdPeer, multiaddr.ValueOf(MultiaddrProtocol.P2p));
        Assert.Null(multiaddr.ValueOf(MultiaddrProtocol.Ip6));
    }

    [Fact]
    public void Equality_is_by_bytes()
    {
        var a = Multiaddr.Parse("/ip4/127.0.0.1/tcp/1234");
        var b = Multiaddr.FromBytes(Convert.FromHexString("047f0000010604d2"));
        var c = Multiaddr.Parse("/ip4/127.0.0.1/udp/1234");

        Assert.True(a == b);
        Assert.False(a != b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != c);
        Assert.False(a.Equals(null));
        Assert.False(a == null);
        Assert.True((Multiaddr?)null == null);
    }

    [Fact]
    public void ToBytes_returns_a_copy()
    {
        var multiaddr = Multiaddr.Parse("/ip4/127.0.0.1/tcp/1234");

        multiaddr.ToBytes()[1] = 0;

        Assert.Equal("/ip4/127.0.0.1/tcp/1234", Multiaddr.FromBytes(multiaddr.ToBytes()).ToString());
    }
}
