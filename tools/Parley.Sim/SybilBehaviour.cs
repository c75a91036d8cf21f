using Google.Protobuf;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Dht.Keys;
using Parley.Dht.Protos;

namespace Parley.Sim;

/// <summary>
/// What the Sybils of the eclipse scenario do: about the target key, every answer names only Sybils (the closest to
/// the key first) and never the record, and a record stored under it is acknowledged and dropped; about anything else
/// they behave as honest nodes, so they get into routing tables like anyone.
/// </summary>
internal sealed class SybilBehaviour(byte[] targetKey, int k)
{
    private readonly KadId _target = KadId.FromKey(targetKey);
    private readonly List<SimNode> _members = [];

    public void Add(SimNode sybil) => _members.Add(sybil);

    public DhtRequestHandler Wrap(SimNode self, DhtRequestHandler honest) => (from, addresses, request, cancellationToken) =>
    {
        if (!request.Key.Span.SequenceEqual(targetKey))
        {
            return honest(from, addresses, request, cancellationToken);
        }
        if (request.Type == Message.Types.MessageType.PutValue)
        {
            return Task.FromResult<Message?>(request);
        }
        var response = new Message { Type = request.Type, Key = request.Key };
        foreach (var sybil in _members.Where(s => s != self && s.IsOnline).OrderBy(s => KadId.FromPeer(s.Peer).Xor(_target)).Take(k))
        {
            var peer = new Message.Types.Peer { Id = ByteString.CopyFrom(sybil.Peer.Bytes) };
            peer.Addrs.Add(ByteString.CopyFrom(sybil.Addresses[0].ToBytes()));
            response.CloserPeers.Add(peer);
        }
        return Task.FromResult<Message?>(response);
    };

    /// <summary>An identity whose id shares at least <paramref name="prefixBits"/> leading bits with the target:
    /// what an attacker grinds keys for.</summary>
    public IdentityKey Grind(Random random, int prefixBits)
    {
        var seed = new byte[32];
        while (true)
        {
            random.NextBytes(seed);
            var identity = IdentityKey.FromSeed(seed);
            if (KadId.FromPeer(identity.PeerId).CommonPrefixLength(_target) >= prefixBits)
            {
                return identity;
            }
        }
    }
}
