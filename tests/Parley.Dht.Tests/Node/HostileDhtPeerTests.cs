using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;
using Parley.Dht.Protos;
using Parley.Dht.Records;
using Parley.Dht.Wire;
using Parley.Net;
using Parley.Testing;
using MessageType = Parley.Dht.Protos.Message.Types.MessageType;
using Peer = Parley.Dht.Protos.Message.Types.Peer;
using Record = Parley.Dht.Protos.Record;

namespace Parley.Dht.Tests.Node;

/// <summary>Peers that lie, flood, stall or send garbage: nothing bad is stored, memory stays bounded, lookups still find the right peers.</summary>
[Collection(nameof(DhtMeasuresMemory))]
public sealed class HostileDhtPeerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>10,000 closer peers: real-looking ids and random ones, every address garbage. Built once; the attack is cheap to repeat.</summary>
    private static readonly Lazy<Peer[]> Flood = new(() => Enumerable.Range(0, 10_000).Select(i => new Peer
    {
        Id = i % 2 == 0 ? ByteString.CopyFrom(Multihash.Identity(RandomNumberGenerator.GetBytes(36)).Bytes) : ByteString.CopyFrom(RandomNumberGenerator.GetBytes(20)),
        Addrs = { ByteString.CopyFrom(RandomNumberGenerator.GetBytes(12)) },
    }).ToArray());

    private enum Misbehaviour
    {
        AnswersWithItself,
        FloodsTenThousandPeers,
        NeverAnswers,
        SendsGarbage,
    }

    [Theory]
    [InlineData(Misbehaviour.AnswersWithItself)]
    [InlineData(Misbehaviour.FloodsTenThousandPeers)]
    [InlineData(Misbehaviour.NeverAnswers)]
    [InlineData(Misbehaviour.SendsGarbage)]
    private async Task Lookups_finish_with_the_right_answer_despite_hostile_peers(Misbehaviour misbehaviour)
    {
        var options = new DhtOptions { RunMaintenance = false, MaxRequestTimeout = TimeSpan.FromMilliseconds(500) };
        await using var network = await DhtTestNetwork.StartAsync(60, options);
        var hostiles = new List<InMemoryHost>();
        for (var i = 0; i < 10; i++)
        {
            var hostile = network.Network.CreateHost();
            hostile.SetStreamHandler(DhtOptions.ParleyProtocolId, (stream, ct) => MisbehaveAsync(stream, hostile, misbehaviour, ct));
            hostiles.Add(hostile);
            // Get into honest routing tables the legitimate way: answer a liveness probe.
            foreach (var (host, _) in network.Nodes.Skip(i * 6).Take(6))
            {
                await SendFindNodeAsync(hostile, host.LocalPeerId);
            }
        }
        await WaitUntilAsync(() => network.Nodes.Count(n => hostiles.Any(h => n.Node.RoutingTable.Find(h.LocalPeerId) is not null)) >= 10);

        var before = GC.GetTotalMemory(forceFullCollection: true);
        using var cts = new CancellationTokenSource(Timeout);
        var key = Encoding.UTF8.GetBytes("target");
        var honest = network.Nodes.Select(n => n.Host.LocalPeerId).ToList();
        var expected = honest.OrderBy(p => KadId.FromPeer(p), Comparer<KadId>.Create((a, b) => KadId.CompareDistance(KadId.FromKey(key), a, b))).Take(10).ToHashSet();
        foreach (var searcher in network.Nodes.Where((_, i) => i % 12 == 0))
        {
            var result = await searcher.Node.FindClosestPeersAsync(key, cts.Token);
            var found = result.Closest.Select(p => p.Peer).Append(searcher.Host.LocalPeerId).ToHashSet();
            Assert.True(expected.Count(found.Contains) >= 9, $"{misbehaviour}: only {expected.Count(found.Contains)} of the 10 closest honest peers found");
        }
        Assert.True(GC.GetTotalMemory(forceFullCollection: true) - before < 64L * 1024 * 1024, "memory grew without bound");
        foreach (var hostile in hostiles)
        {
            await hostile.DisposeAsync();
        }
    }

    [Fact]
    public async Task Bad_records_and_malformed_messages_store_nothing()
    {
        await using var network = await DhtTestNetwork.StartAsync(3);
        var target = network.Nodes[0];
        var attacker = network.Network.CreateHost();
        var owner = IdentityKey.Generate();
        var key = ParleyRecords.UserRecordKey(owner.PeerId, "r");
        var wrongSigner = SignedRecord.Create(IdentityKey.Generate(), key, "x"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(1));
        var expired = SignedRecord.Create(owner, key, "x"u8.ToArray(), 1, DateTimeOffset.UtcNow.AddHours(-1));
        var huge = SignedRecord.Create(owner, key, new byte[3 * 1024 * 1024], 1, DateTimeOffset.UtcNow.AddHours(1));
        foreach (var value in new[] { wrongSigner, expired, huge })
        {
            var put = new Message
            {
                Type = MessageType.PutValue,
                Key = ByteString.CopyFrom(key.Bytes),
                Record = new Record { Key = ByteString.CopyFrom(key.Bytes), Value = ByteString.CopyFrom(value) },
            };
            await using var stream = await attacker.OpenStreamAsync(target.Host.LocalPeerId, [DhtOptions.ParleyProtocolId], CancellationToken.None);
            await KadCodec.WriteAsync(stream, put, CancellationToken.None);
            await stream.CloseWriteAsync(CancellationToken.None);
            Assert.Null(await ReadOrNullAsync(stream));
        }

        // 10 MB claimed in the length prefix, then junk; and protobuf garbage.
        foreach (var junk in new[] { Varint.Encode(10 * 1024 * 1024).Concat(new byte[64]).ToArray(), [0x05, 0xff, 0xff, 0xff, 0xff, 0xff] })
        {
            await using var stream = await attacker.OpenStreamAsync(target.Host.LocalPeerId, [DhtOptions.ParleyProtocolId], CancellationToken.None);
            await stream.WriteAsync(junk);
            await stream.CloseWriteAsync(CancellationToken.None);
            Assert.Null(await ReadOrNullAsync(stream));
        }

        Assert.Equal(0, target.Node.Records.Count);
        // And the node still answers honest requests.
        using var cts = new CancellationTokenSource(Timeout);
        Assert.NotEmpty((await network.Nodes[2].Node.FindClosestPeersAsync("k"u8.ToArray(), cts.Token)).Closest);
    }

    private static async Task MisbehaveAsync(PeerStream stream, InMemoryHost self, Misbehaviour misbehaviour, CancellationToken cancellationToken)
    {
        var request = await KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, cancellationToken);
        if (request is null)
        {
            return;
        }
        if (request.Type == MessageType.Ping)
        {
            await KadCodec.WriteAsync(stream, new Message { Type = MessageType.Ping }, cancellationToken);
            return;
        }
        switch (misbehaviour)
        {
            case Misbehaviour.AnswersWithItself:
                var selfish = new Message { Type = request.Type, Key = request.Key };
                for (var i = 0; i < 20; i++)
                {
                    selfish.CloserPeers.Add(new Peer { Id = ByteString.CopyFrom(self.LocalPeerId.Bytes), Addrs = { ByteString.CopyFrom(self.Address.ToBytes()) } });
                }
                await KadCodec.WriteAsync(stream, selfish, cancellationToken);
                break;
            case Misbehaviour.FloodsTenThousandPeers:
                var flood = new Message { Type = request.Type, Key = request.Key };
                flood.CloserPeers.Add(Flood.Value);
                await KadCodec.WriteAsync(stream, flood, cancellationToken);
                break;
            case Misbehaviour.NeverAnswers:
                await Task.Delay(System.Threading.Timeout.Infinite, cancellationToken);
                break;
            case Misbehaviour.SendsGarbage:
                await stream.WriteAsync(RandomNumberGenerator.GetBytes(200), cancellationToken);
                break;
        }
    }

    private static async Task SendFindNodeAsync(InMemoryHost from, PeerId to)
    {
        await using var stream = await from.OpenStreamAsync(to, [DhtOptions.ParleyProtocolId], CancellationToken.None);
        await KadCodec.WriteAsync(stream, new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(from.LocalPeerId.Bytes) }, CancellationToken.None);
        await KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None);
    }

    private static async Task<Message?> ReadOrNullAsync(PeerStream stream)
    {
        try
        {
            return await KadCodec.ReadAsync(stream, KadCodec.DefaultMaxMessageSize, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var cts = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            await Task.Delay(20, cts.Token);
        }
    }
}

/// <summary>Tests that read process-wide memory run alone, so other tests cannot skew them.</summary>
[CollectionDefinition(nameof(DhtMeasuresMemory), DisableParallelization = true)]
public sealed class DhtMeasuresMemory;
