using Google.Protobuf;
using Google.Protobuf.Collections;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using ConnectionType = Parley.Dht.Protos.Message.Types.ConnectionType;
using Peer = Parley.Dht.Protos.Message.Types.Peer;

namespace Parley.Dht.Wire;

/// <summary>
/// A validated view of a peer-supplied <see cref="Peer"/> entry: a well-formed peer id and the addresses Parley can read.
/// Only these ever leave the wire layer, so junk ids and multiaddrs are dropped in one place with bounded work.
/// </summary>
internal sealed record KadPeerInfo(PeerId Peer, IReadOnlyList<Multiaddr> Addresses, ConnectionType Connection)
{
    /// <summary>Addresses kept per peer; real nodes advertise a handful.</summary>
    public const int MaxAddresses = 16;

    /// <summary>Address entries examined per peer, so a list of junk costs at most this many parses.</summary>
    public const int MaxAddressesExamined = 2 * MaxAddresses;

    /// <summary>Longest binary peer id: a 42-byte inline key with its 2-byte identity-multihash header.</summary>
    private const int MaxPeerIdLength = 44;

    /// <summary>Parses <paramref name="pb"/>; false when its id is not a peer id. Unreadable or excess addresses are dropped.</summary>
    public static bool TryParse(Peer pb, out KadPeerInfo? info)
    {
        ArgumentNullException.ThrowIfNull(pb);
        info = null;
        if (pb.Id.Length is 0 or > MaxPeerIdLength)
        {
            return false;
        }
        PeerId peer;
        try
        {
            peer = PeerId.FromBytes(pb.Id.Span);
        }
        catch (FormatException)
        {
            return false;
        }
        info = new KadPeerInfo(peer, ParseAddresses(pb.Addrs, peer), pb.Connection);
        return true;
    }

    /// <summary>
    /// The first <paramref name="max"/> entries of <paramref name="peers"/> that parse, without duplicate peers.
    /// Only the first <paramref name="max"/> entries are examined: an honest peer sends at most k, so a longer list
    /// costs no more than an honest one.
    /// </summary>
    public static IReadOnlyList<KadPeerInfo> ParsePeers(RepeatedField<Peer> peers, int max)
    {
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        var examined = Math.Min(peers.Count, max);
        var result = new List<KadPeerInfo>(examined);
        var seen = new HashSet<PeerId>(examined);
        for (var i = 0; i < examined; i++)
        {
            if (TryParse(peers[i], out var info) && seen.Add(info!.Peer))
            {
                result.Add(info);
            }
        }
        return result;
    }

    public Peer ToProto()
    {
        var pb = new Peer { Id = ByteString.CopyFrom(Peer.Bytes), Connection = Connection };
        foreach (var address in Addresses)
        {
            pb.Addrs.Add(ByteString.CopyFrom(address.Bytes));
        }
        return pb;
    }

    /// <summary>Readable addresses, without duplicates and without those that name another peer in a /p2p component.</summary>
    private static Multiaddr[] ParseAddresses(RepeatedField<ByteString> encoded, PeerId peer)
    {
        var addresses = new List<Multiaddr>(Math.Min(encoded.Count, MaxAddresses));
        var examined = Math.Min(encoded.Count, MaxAddressesExamined);
        for (var i = 0; i < examined && addresses.Count < MaxAddresses; i++)
        {
            var bytes = encoded[i];
            if (bytes.Length is 0 or > Multiaddr.MaxLength)
            {
                continue;
            }
            try
            {
                var address = Multiaddr.FromBytes(bytes.Span);
                if ((address.PeerId is null || address.PeerId == peer) && !addresses.Contains(address))
                {
                    addresses.Add(address);
                }
            }
            catch (FormatException)
            {
                // Protocols Parley does not speak (quic-v1, webtransport, ...) and junk alike: not dialable by us.
            }
        }
        return addresses.ToArray();
    }
}
