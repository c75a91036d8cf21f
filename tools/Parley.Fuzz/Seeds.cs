using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Groups;
using Parley.Chat.Identity;
using Parley.Chat.Mailbox;
using Parley.Chat.Mailbox.Protos;
using Parley.Chat.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Protos;
using Parley.Net;
using Parley.Net.Protos.Circuit;
using Parley.Net.Protos.Identify;
using Parley.Net.Protos.Noise;
using Parley.Net.Relay;
using Parley.Net.Yamux;
using AutoNatMessage = Parley.Net.Protos.AutoNat.Message;
using HolePunchMessage = Parley.Net.Protos.HolePunch.HolePunch;

namespace Parley.Fuzz;

/// <summary>
/// Valid inputs for every target, built with the project's own encoders and fixed keys, so the seed corpus
/// (fuzz/corpus/&lt;target&gt;/seed-*) can be rebuilt: `Parley.Fuzz --seeds fuzz/corpus` (the sealed box and the ratchet
/// message take fresh random keys each time).
/// </summary>
public static class Seeds
{
    private static readonly DefaultCryptoProvider Crypto = DefaultCryptoProvider.Instance;
    private static readonly IdentityKey Alice = Key("alice");
    private static readonly IdentityKey Bob = Key("bob");

    // The fuzz targets' fixed peers (FuzzTargets.Services): the remote that asks, and the relay that answers.
    private static readonly PeerId Remote = IdentityKey.FromSeed(SHA256.HashData("parley-fuzz/remote"u8)).PeerId;
    private static readonly IdentityKey Relay = IdentityKey.FromSeed(SHA256.HashData("parley-fuzz/relay"u8));
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);

    public static IReadOnlyDictionary<string, IReadOnlyList<byte[]>> All() => new Dictionary<string, IReadOnlyList<byte[]>>
    {
        ["multistream"] = [Multistream("/multistream/1.0.0", "/noise"), Multistream("/multistream/1.0.0", "ls", "/yamux/1.0.0")],
        ["noise"] = [[0, .. Frame(Crypto.X25519PublicKey(Bytes("ephemeral")))], [2, .. NoisePayload()]],
        ["yamux"] = [Yamux()],
        ["kad"] =
        [
            Prefixed(new Message { Type = Message.Types.MessageType.FindNode, Key = ByteString.CopyFrom(Bytes("target")) }, new Message { Type = Message.Types.MessageType.Ping }),
            Prefixed(new Message { Type = Message.Types.MessageType.GetValue, Key = ByteString.CopyFromUtf8("/pk/" + Alice.PeerId) }),
            Prefixed(new Message { Type = Message.Types.MessageType.PutValue, Key = ByteString.CopyFromUtf8("/pk/" + Alice.PeerId), Record = new Record { Key = ByteString.CopyFromUtf8("/pk/" + Alice.PeerId), Value = ByteString.CopyFrom(Alice.PublicKey.ToProtobuf()) } }),
        ],
        ["identify"] =
        [
            Prefixed(new Identify
            {
                ProtocolVersion = "ipfs/0.1.0",
                AgentVersion = "seed",
                PublicKey = ByteString.CopyFrom(Alice.PublicKey.ToProtobuf()),
                ListenAddrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001").ToBytes()) },
                Protocols = { "/ipfs/id/1.0.0", "/parley/kad/1.0.0" },
            }),
        ],
        ["mailbox"] =
        [
            Prefixed(new Request { Fetch = MailboxRequests.Fetch(Alice, Now.ToUnixTimeMilliseconds(), ByteString.Empty) }),
            Prefixed(new Request { Delete = MailboxRequests.Delete(Alice, Now.ToUnixTimeMilliseconds(), [Bytes("envelope")[..16]]) }),
        ],
        ["envelope"] = [EnvelopeRequest(), SealedBox.Seal(Crypto, Crypto.X25519PublicKey(SHA256.HashData("parley-fuzz/sealed-box"u8)), Encoding.UTF8.GetBytes("hello"))],
        ["membership"] =
        [
            MembershipEntry.Sign(Crypto, Alice, Room, [], 1, MembershipChange.Create("alice", "seed room", history: true), Bytes("link-hash"), null, Now.ToUnixTimeMilliseconds()).ToBytes(),
            MembershipEntry.Sign(Crypto, Alice, Room, [Id256.FromBytes(Bytes("parent"))], 2, MembershipChange.Invite(Bob.PublicKey, "bob"), null, null, Now.ToUnixTimeMilliseconds()).ToBytes(),
            MembershipEntry.Sign(Crypto, Alice, Room, [Id256.FromBytes(Bytes("parent"))], 3, MembershipChange.Rename("renamed"), null, null, Now.ToUnixTimeMilliseconds()).ToBytes(),
            MembershipEntry.SignRequest(Crypto, Bob, new GroupInviteLink(Room, Bytes("link"), "alice#abcdefgh"), "bob", [Id256.FromBytes(Bytes("parent"))], 3, Now.ToUnixTimeMilliseconds()).ToBytes(),
        ],
        ["api-json"] =
        [
            [0, .. """{"to":"alice#abcdefgh","text":"hi"}"""u8],
            [1, .. """{"name":"room","history":false}"""u8],
            [2, .. Encoding.UTF8.GetBytes($$"""{"room":"{{new GroupInviteLink(Room, Bytes("link"), "alice#abcdefgh").Format()}}"}""")],
            [3, .. Encoding.UTF8.GetBytes($$"""{"who":"{{Alice.PeerId}}"}""")],
            [7, .. Encoding.UTF8.GetBytes($$"""{"address":"/ip4/203.0.113.7/tcp/4001/p2p/{{Alice.PeerId}}/p2p-circuit/p2p/{{Bob.PeerId}}"}""")],
        ],
        ["circuit"] =
        [
            [0, .. Prefixed(new HopMessage { Type = HopMessage.Types.Type.Reserve })],
            [0, .. Prefixed(new HopMessage { Type = HopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(Alice.PeerId.Bytes) } })],
            [1, .. Prefixed(new StopMessage { Type = StopMessage.Types.Type.Connect, Peer = new Peer { Id = ByteString.CopyFrom(Alice.PeerId.Bytes) }, Limit = new Limit { Duration = 120, Data = 1 << 17 } }),
                .. Multistream("/multistream/1.0.0", "/noise"), .. Frame(Crypto.X25519PublicKey(Bytes("ephemeral")))],
            [2, .. Prefixed(ReservationAnswer())],
        ],
        ["autonat"] =
        [
            Prefixed(DialRequest(Remote, "/ip4/203.0.113.7/tcp/4001", "/ip4/203.0.113.7/tcp/5001", "/ip4/198.51.100.1/tcp/4001")),
            Prefixed(DialRequest(null, "/ip4/203.0.113.7/tcp/4001/p2p/" + Remote)),
        ],
        ["dcutr"] =
        [
            Prefixed(HolePunch(HolePunchMessage.Types.Type.Connect, "/ip4/203.0.113.7/tcp/4001", "/ip4/10.0.0.2/tcp/4001", "/ip6/2001:db8::1/tcp/4001"), HolePunch(HolePunchMessage.Types.Type.Sync)),
        ],
    };

    /// <summary>A relay's OK to a reservation request, with its addresses and a voucher signed by the relay.</summary>
    private static HopMessage ReservationAnswer()
    {
        var expires = (ulong)Now.AddHours(1).ToUnixTimeSeconds();
        var voucher = new Voucher { Relay = ByteString.CopyFrom(Relay.PeerId.Bytes), Peer = ByteString.CopyFrom(Remote.Bytes), Expiration = expires };
        var reservation = new Reservation
        {
            Expire = expires,
            Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/203.0.113.9/tcp/4001/p2p/" + Relay.PeerId).ToBytes()) },
            Voucher = ByteString.CopyFrom(SignedEnvelope.Seal(Relay, CircuitRelay.VoucherDomain, CircuitRelay.VoucherPayloadType, voucher.ToByteArray())),
        };
        return new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok, Reservation = reservation, Limit = new Limit { Duration = 120, Data = 1 << 17 } };
    }

    private static AutoNatMessage DialRequest(PeerId? peer, params string[] addresses)
    {
        var info = new AutoNatMessage.Types.PeerInfo { Addrs = { addresses.Select(a => ByteString.CopyFrom(Multiaddr.Parse(a).ToBytes())) } };
        if (peer is not null)
        {
            info.Id = ByteString.CopyFrom(peer.Bytes);
        }
        return new AutoNatMessage { Type = AutoNatMessage.Types.MessageType.Dial, Dial = new AutoNatMessage.Types.Dial { Peer = info } };
    }

    private static HolePunchMessage HolePunch(HolePunchMessage.Types.Type type, params string[] addresses) =>
        new() { Type = type, ObsAddrs = { addresses.Select(a => ByteString.CopyFrom(Multiaddr.Parse(a).ToBytes())) } };

    /// <summary>Writes each seed as &lt;folder&gt;/&lt;target&gt;/seed-N.</summary>
    public static async Task WriteAsync(string folder)
    {
        foreach (var (target, seeds) in All())
        {
            var directory = Path.Combine(folder, target);
            Directory.CreateDirectory(directory);
            for (var i = 0; i < seeds.Count; i++)
            {
                await File.WriteAllBytesAsync(Path.Combine(directory, $"seed-{i + 1}"), seeds[i]);
            }
        }
    }

    private static Id256 Room => Id256.FromBytes(Bytes("room"));

    private static byte[] Bytes(string label) => SHA256.HashData(Encoding.UTF8.GetBytes("parley-fuzz-seed/" + label));

    private static IdentityKey Key(string label) => IdentityKey.FromSeed(Bytes(label));

    private static byte[] Multistream(params string[] messages) =>
        [.. messages.SelectMany(m => (byte[])[.. Varint.Encode((ulong)Encoding.UTF8.GetByteCount(m) + 1), .. Encoding.UTF8.GetBytes(m), (byte)'\n'])];

    /// <summary>Noise's framing: a 2-byte big-endian length.</summary>
    private static byte[] Frame(byte[] message) => [(byte)(message.Length >> 8), (byte)message.Length, .. message];

    private static byte[] Prefixed(params IMessage[] messages) =>
        [.. messages.SelectMany(m => (byte[])[.. Varint.Encode((ulong)m.CalculateSize()), .. m.ToByteArray()])];

    /// <summary>A payload proving <see cref="Alice"/> owns the Noise static key the target expects.</summary>
    private static byte[] NoisePayload()
    {
        var staticKey = Crypto.X25519PublicKey(SHA256.HashData("parley-fuzz/noise-static"u8));
        return new NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(Alice.PublicKey.ToProtobuf()),
            IdentitySig = ByteString.CopyFrom(Alice.Sign([.. "noise-libp2p-static-key:"u8, .. staticKey])),
            Extensions = new NoiseExtensions { StreamMuxers = { "/yamux/1.0.0" } },
        }.ToByteArray();
    }

    /// <summary>The remote opens stream 1, sends "hello" and closes it; then pings.</summary>
    private static byte[] Yamux()
    {
        var output = new List<byte>();
        void Add(YamuxFrameType type, YamuxFrameFlags flags, uint stream, byte[] body)
        {
            var header = new byte[12];
            new YamuxFrameHeader(type, flags, stream, type == YamuxFrameType.Data ? (uint)body.Length : 0).Encode(header);
            output.AddRange(header);
            output.AddRange(body);
        }
        Add(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, []);
        Add(YamuxFrameType.Data, YamuxFrameFlags.None, 1, "hello"u8.ToArray());
        Add(YamuxFrameType.Data, YamuxFrameFlags.Fin, 1, []);
        Add(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, []);
        return [.. output];
    }

    /// <summary>A first message from Alice to Bob as the chat protocol carries it.</summary>
    private static byte[] EnvelopeRequest()
    {
        var bobPrekey = X25519KeyPair.FromPrivateKey(Crypto, Bytes("bob-prekey"));
        var session = RatchetSession.InitializeAsInitiator(Crypto, Bytes("shared"), new byte[64], bobPrekey.PublicKey);
        return new ChatRequest
        {
            Envelope = new Envelope
            {
                EnvelopeId = ByteString.CopyFrom(Bytes("envelope-id")[..16]),
                SenderIdentity = ByteString.CopyFrom(IdentityDhCertificate.Create(Alice, Crypto.X25519PublicKey(Bytes("alice-dh"))).ToBytes()),
                SessionId = ByteString.CopyFrom(Bytes("session")[..8]),
                Ratchet = ByteString.CopyFrom(session.Encrypt("hello"u8.ToArray()).ToBytes()),
            },
        }.ToByteArray();
    }
}
