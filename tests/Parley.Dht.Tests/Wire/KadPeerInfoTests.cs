using Google.Protobuf;
using Google.Protobuf.Collections;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Wire;
using ConnectionType = Parley.Dht.Protos.Message.Types.ConnectionType;
using Peer = Parley.Dht.Protos.Message.Types.Peer;

namespace Parley.Dht.Tests.Wire;

public class KadPeerInfoTests
{
    private static readonly PeerId Alice = Id(1);
    private static readonly PeerId Bob = Id(2);

    [Fact]
    public void A_well_formed_peer_parses_and_round_trips()
    {
        var addresses = new[] { Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001"), Multiaddr.Parse("/ip6/::1/tcp/4001/p2p/" + Alice) };
        var pb = Entry(Alice, [.. addresses.Select(address => address.ToBytes())]);
        pb.Connection = ConnectionType.CanConnect;

        Assert.True(KadPeerInfo.TryParse(pb, out var info));

        Assert.Equal(Alice, info!.Peer);
        Assert.Equal(addresses, info.Addresses);
        Assert.Equal(ConnectionType.CanConnect, info.Connection);
        Assert.Equal(pb, info.ToProto());
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 0x00 })]
    [InlineData(new byte[] { 0x12, 0x20, 0x01 })]             // sha2-256 header, 1 of 32 digest bytes
    [InlineData(new byte[] { 0x00, 0x03, 0x01, 0x02, 0x03 })] // identity multihash of something that is not a key
    [InlineData(new byte[] { 0x11, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })] // sha1
    public void A_garbage_id_is_dropped(byte[] id)
    {
        var pb = new Peer { Id = ByteString.CopyFrom(id), Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/1.2.3.4/tcp/1").ToBytes()) } };

        Assert.False(KadPeerInfo.TryParse(pb, out var info));
        Assert.Null(info);
    }

    [Fact]
    public void An_over_long_id_is_dropped_without_parsing()
    {
        Assert.False(KadPeerInfo.TryParse(new Peer { Id = ByteString.CopyFrom(new byte[100_000]) }, out _));
    }

    [Fact]
    public void Unreadable_duplicate_and_foreign_addresses_are_dropped()
    {
        var good = Multiaddr.Parse("/ip4/10.0.0.1/tcp/4001");
        byte[][] addrs =
        [
            [0xff, 0xff, 0xff],                                         // junk
            [],                                                         // empty
            [0x04, 127, 0],                                             // truncated ip4
            [0x04, 1, 2, 3, 4, 0x91, 0x02, 0x0f, 0xa1, 0xcc, 0x03],     // /ip4/1.2.3.4/udp/4001/quic-v1: not spoken by Parley
            good.ToBytes(),
            good.ToBytes(),                                             // duplicate
            Multiaddr.Parse("/ip4/10.0.0.2/tcp/1/p2p/" + Bob).ToBytes(), // names another peer
            new byte[Multiaddr.MaxLength + 1],
        ];

        Assert.True(KadPeerInfo.TryParse(Entry(Alice, addrs), out var info));

        Assert.Equal([good], info!.Addresses);
    }

    [Fact]
    public void At_most_16_addresses_are_kept()
    {
        var addrs = Enumerable.Range(1, 40).Select(port => Multiaddr.Parse($"/ip4/10.0.0.1/tcp/{port}").ToBytes()).ToArray();

        Assert.True(KadPeerInfo.TryParse(Entry(Alice, addrs), out var info));

        Assert.Equal(KadPeerInfo.MaxAddresses, info!.Addresses.Count);
        Assert.Equal("/ip4/10.0.0.1/tcp/16", info.Addresses[^1].ToString());
    }

    [Fact]
    public void Addresses_after_the_examined_prefix_are_not_parsed()
    {
        var junk = Enumerable.Repeat(new byte[] { 0xff, 0xff }, 10_000);
        byte[][] addrs = [.. junk, Multiaddr.Parse("/ip4/10.0.0.1/tcp/1").ToBytes()];

        Assert.True(KadPeerInfo.TryParse(Entry(Alice, addrs), out var info));

        Assert.Empty(info!.Addresses);
    }

    [Fact]
    public void ParsePeers_of_10000_entries_examines_only_max()
    {
        var peers = new RepeatedField<Peer>();
        for (var i = 0; i < 10_000; i++)
        {
            // Every fourth entry among the first twenty is garbage; everything past them is valid.
            peers.Add(i < 20 && i % 4 == 0 ? new Peer { Id = ByteString.CopyFrom([0xba, 0xd0]) } : Entry(Id(i), []));
        }

        var parsed = KadPeerInfo.ParsePeers(peers, 20);

        // 15 and not 20: the valid entries past the first 20 were never looked at.
        Assert.Equal(15, parsed.Count);
        Assert.Equal(Id(1), parsed[0].Peer);
    }

    [Fact]
    public void ParsePeers_drops_repeats_of_one_peer()
    {
        var peers = new RepeatedField<Peer>();
        for (var i = 0; i < 10_000; i++)
        {
            peers.Add(Entry(Alice, []));
        }
        peers.Insert(1, Entry(Bob, []));

        var parsed = KadPeerInfo.ParsePeers(peers, 20);

        Assert.Equal([Alice, Bob], parsed.Select(info => info.Peer));
    }

    [Fact]
    public void Random_peer_entries_never_throw()
    {
        var random = new Random(42);
        var peers = new RepeatedField<Peer>();
        for (var i = 0; i < 500; i++)
        {
            var id = new byte[random.Next(0, 50)];
            random.NextBytes(id);
            if (i % 3 == 0 && id.Length > 2)
            {
                id[0] = 0x00; // identity multihash header, so the key protobuf parser is exercised too
                id[1] = (byte)(id.Length - 2);
            }
            var pb = new Peer { Id = ByteString.CopyFrom(id), Connection = (ConnectionType)random.Next(-5, 10) };
            for (var a = 0; a < 5; a++)
            {
                var addr = new byte[random.Next(0, 30)];
                random.NextBytes(addr);
                if (addr.Length > 0)
                {
                    addr[0] = (byte)(a % 2 == 0 ? 0x04 : 0x29); // ip4 / ip6, so the value parsers are exercised
                }
                pb.Addrs.Add(ByteString.CopyFrom(addr));
            }
            peers.Add(pb);
        }

        var parsed = KadPeerInfo.ParsePeers(peers, peers.Count);

        Assert.All(parsed, info => Assert.True(info.Addresses.Count <= KadPeerInfo.MaxAddresses));
    }

    private static Peer Entry(PeerId peer, byte[][] addrs)
    {
        var pb = new Peer { Id = ByteString.CopyFrom(peer.Bytes) };
        foreach (var addr in addrs)
        {
            pb.Addrs.Add(ByteString.CopyFrom(addr));
        }
        return pb;
    }

    private static PeerId Id(int n)
    {
        var digest = new byte[32];
        BitConverter.TryWriteBytes(digest, n);
        return PeerId.FromBytes([0x12, 0x20, .. digest]);
    }
}
