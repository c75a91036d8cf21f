using System.Text;
using Google.Protobuf;
using Parley.Core.Identity;
using Parley.Dht.Protos;
using ConnectionType = Parley.Dht.Protos.Message.Types.ConnectionType;
using MessageType = Parley.Dht.Protos.Message.Types.MessageType;
using Peer = Parley.Dht.Protos.Message.Types.Peer;
using Record = Parley.Dht.Protos.Record;

namespace Parley.Dht.Tests.Wire;

/// <summary>
/// Messages against bytes written out by hand from the protobuf wire format (tag = field number &lt;&lt; 3 | wire type;
/// 0 varint, 2 length-delimited), so the schema is checked against the kad-dht spec, not against itself.
/// </summary>
public class KadMessageEncodingTests
{
    // Ed25519 peer id: identity multihash (0x00, length 0x24) of the key protobuf 08 01 12 20 <32-byte key>.
    private static readonly byte[] TargetId = PeerIdBytes(0x11);
    private static readonly byte[] CloserId = PeerIdBytes(0x22);

    // /ip4/127.0.0.1/tcp/4001: code 4, four address bytes, code 6, port big-endian.
    private static readonly byte[] Loopback4001 = [0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1];

    [Fact]
    public void Peer_ids_are_38_byte_identity_multihashes()
    {
        Assert.Equal(38, TargetId.Length);
        Assert.Equal([0x00, 0x24, 0x08, 0x01, 0x12, 0x20], TargetId[..6]);
    }

    [Fact]
    public void Find_node_request_encodes_byte_for_byte()
    {
        var message = new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(TargetId) };
        byte[] expected =
        [
            0x08, 0x04,             // field 1 type, varint: FIND_NODE = 4
            0x12, 0x26, .. TargetId, // field 2 key, 38 bytes: the target's binary peer id
        ];

        AssertEncodesAs(expected, message);
    }

    [Fact]
    public void Find_node_response_encodes_byte_for_byte()
    {
        var message = new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(TargetId) };
        message.CloserPeers.Add(new Peer
        {
            Id = ByteString.CopyFrom(CloserId),
            Addrs = { ByteString.CopyFrom(Loopback4001) },
            Connection = ConnectionType.Connected,
        });
        message.CloserPeers.Add(new Peer { Id = ByteString.CopyFrom(TargetId) });
        byte[] expected =
        [
            0x08, 0x04,
            0x12, 0x26, .. TargetId,
            0x42, 0x34,              // field 8 closerPeers, 52 bytes:
            0x0a, 0x26, .. CloserId, //   field 1 id, 38 bytes
            0x12, 0x08, .. Loopback4001, // field 2 addrs, 8 bytes
            0x18, 0x01,              //   field 3 connection, varint: CONNECTED = 1
            0x42, 0x28,              // field 8 closerPeers, 40 bytes (NOT_CONNECTED is the default, so not written):
            0x0a, 0x26, .. TargetId,
        ];

        AssertEncodesAs(expected, message);
    }

    [Fact]
    public void Put_value_encodes_byte_for_byte()
    {
        var key = Encoding.UTF8.GetBytes("/parley/test/a");
        byte[] value = [0xde, 0xad, 0xbe, 0xef];
        var message = new Message
        {
            Type = MessageType.PutValue,
            Key = ByteString.CopyFrom(key),
            Record = new Record { Key = ByteString.CopyFrom(key), Value = ByteString.CopyFrom(value) },
        };
        byte[] expected =
        [
            // field 1 type is absent: PUT_VALUE = 0 is the proto3 default.
            0x12, 0x0e, .. key,   // field 2 key, 14 bytes
            0x1a, 0x16,           // field 3 record, 22 bytes:
            0x0a, 0x0e, .. key,   //   field 1 key
            0x12, 0x04, .. value, //   field 2 value
        ];

        AssertEncodesAs(expected, message);
    }

    [Fact]
    public void Get_value_response_with_time_received_providers_and_cluster_level_encodes_byte_for_byte()
    {
        var key = Encoding.UTF8.GetBytes("/pk/x");
        var time = Encoding.UTF8.GetBytes("2026-01-01T00:00:00Z");
        var message = new Message
        {
            Type = MessageType.GetValue,
            ClusterLevelRaw = 300,
            Key = ByteString.CopyFrom(key),
            Record = new Record { Key = ByteString.CopyFrom(key), TimeReceived = "2026-01-01T00:00:00Z" },
            ProviderPeers = { new Peer { Id = ByteString.CopyFrom(CloserId), Connection = ConnectionType.CannotConnect } },
        };
        byte[] expected =
        [
            0x08, 0x01,                // type GET_VALUE = 1
            0x12, 0x05, .. key,
            0x1a, 0x1d,                // record, 29 bytes:
            0x0a, 0x05, .. key,        //   key
            0x2a, 0x14, .. time,       //   field 5 timeReceived, 20 bytes
            0x4a, 0x2a,                // field 9 providerPeers, 42 bytes:
            0x0a, 0x26, .. CloserId,
            0x18, 0x03,                //   CANNOT_CONNECT = 3
            0x50, 0xac, 0x02,          // field 10 clusterLevelRaw, varint 300
        ];

        AssertEncodesAs(expected, message);
    }

    [Fact]
    public void Every_message_type_and_connection_type_has_the_spec_number()
    {
        Assert.Equal([0, 1, 2, 3, 4, 5],
        [
            (int)MessageType.PutValue, (int)MessageType.GetValue, (int)MessageType.AddProvider,
            (int)MessageType.GetProviders, (int)MessageType.FindNode, (int)MessageType.Ping,
        ]);
        Assert.Equal([0, 1, 2, 3],
        [
            (int)ConnectionType.NotConnected, (int)ConnectionType.Connected,
            (int)ConnectionType.CanConnect, (int)ConnectionType.CannotConnect,
        ]);
    }

    [Fact]
    public void Fields_in_another_order_and_unknown_fields_decode_like_go_writes_them()
    {
        byte[] reordered =
        [
            0x42, 0x28, 0x0a, 0x26, .. CloserId,
            0x12, 0x26, .. TargetId,
            0x30, 0x07, // field 6, varint: unknown to the schema, skipped
            0x08, 0x04,
        ];

        var message = Message.Parser.ParseFrom(reordered);

        Assert.Equal(MessageType.FindNode, message.Type);
        Assert.Equal(TargetId, message.Key.ToByteArray());
        Assert.Equal(CloserId, Assert.Single(message.CloserPeers).Id.ToByteArray());
    }

    private static void AssertEncodesAs(byte[] expected, Message message)
    {
        Assert.Equal(expected, message.ToByteArray());
        Assert.Equal(message, Message.Parser.ParseFrom(expected));
    }

    private static byte[] PeerIdBytes(byte seedByte)
    {
        var key = IdentityKey.FromSeed(Enumerable.Repeat(seedByte, 32).ToArray());
        return [0x00, 0x24, 0x08, 0x01, 0x12, 0x20, .. key.PublicKey.Raw];
    }
}
