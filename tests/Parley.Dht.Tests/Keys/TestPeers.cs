using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;

namespace Parley.Dht.Tests;

/// <summary>Cheap, deterministic peer ids for DHT tests: sha2-256 multihashes of random bytes (valid peer ids).</summary>
public static class TestPeers
{
    public static PeerId Random(Random rng)
    {
        var bytes = new byte[34];
        bytes[0] = 0x12;
        bytes[1] = 32;
        rng.NextBytes(bytes.AsSpan(2));
        return PeerId.FromBytes(bytes);
    }

    public static List<PeerId> Many(int count, Random rng) => Enumerable.Range(0, count).Select(_ => Random(rng)).ToList();

    /// <summary>A random peer whose id shares exactly <paramref name="commonPrefixLength"/> bits with <paramref name="local"/>.</summary>
    public static PeerId InBucket(KadId local, int commonPrefixLength, Random rng)
    {
        while (true)
        {
            var peer = Random(rng);
            if (local.CommonPrefixLength(KadId.FromPeer(peer)) == commonPrefixLength)
            {
                return peer;
            }
        }
    }

    public static Multiaddr Tcp(string ip, int port = 4001) =>
        Multiaddr.Parse(ip.Contains(':', StringComparison.Ordinal) ? $"/ip6/{ip}/tcp/{port}" : $"/ip4/{ip}/tcp/{port}");
}
