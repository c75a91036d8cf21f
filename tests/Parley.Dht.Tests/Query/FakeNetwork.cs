using Parley.Core.Identity;
using Parley.Dht.Keys;
using Parley.Dht.Query;

namespace Parley.Dht.Tests.Query;

/// <summary>
/// A synthetic Kademlia network: every node knows up to k peers per common-prefix-length bucket (picked at random
/// from the global population, as a filled routing table would), and answers FIND_NODE with the k peers closest to
/// the target that it knows.
/// </summary>
public sealed class FakeNetwork
{
    public const int K = 20;

    private readonly Dictionary<PeerId, int> _index = [];
    private readonly int[][] _known;

    public FakeNetwork(int size, int seed)
    {
        var rng = new Random(seed);
        Peers = TestPeers.Many(size, rng);
        Ids = Peers.Select(KadId.FromPeer).ToArray();
        for (var i = 0; i < size; i++)
        {
            _index.Add(Peers[i], i);
        }
        _known = new int[size][];
        for (var node = 0; node < size; node++)
        {
            var buckets = new List<int>?[KadId.Bits];
            foreach (var other in Enumerable.Range(0, size).OrderBy(_ => rng.Next()))
            {
                if (other == node)
                {
                    continue;
                }
                var bucket = buckets[Ids[node].CommonPrefixLength(Ids[other])] ??= [];
                if (bucket.Count < K)
                {
                    bucket.Add(other);
                }
            }
            _known[node] = buckets.Where(b => b is not null).SelectMany(b => b!).ToArray();
        }
    }

    public IReadOnlyList<PeerId> Peers { get; }

    public IReadOnlyList<KadId> Ids { get; }

    public bool Contains(PeerId peer) => _index.ContainsKey(peer);

    /// <summary>The <paramref name="count"/> peers closest to <paramref name="target"/> known to <paramref name="node"/>.</summary>
    public IReadOnlyList<PeerId> ClosestKnownBy(PeerId node, KadId target, int count = K) =>
        _known[_index[node]].OrderBy(i => Ids[i] ^ target).Take(count).Select(i => Peers[i]).ToList();

    /// <summary>The true closest peers to <paramref name="target"/> among those <paramref name="include"/> accepts.</summary>
    public IReadOnlyList<PeerId> TrueClosest(KadId target, Func<PeerId, bool> include, int count = K) =>
        Enumerable.Range(0, Peers.Count).Where(i => include(Peers[i])).OrderBy(i => Ids[i] ^ target).Take(count).Select(i => Peers[i]).ToList();
}

/// <summary>What a driven lookup did.</summary>
public sealed record LookupRun(int Responses, int MaxInFlight, List<PeerId> Queried);

public static class LookupDriver
{
    /// <summary>
    /// Runs a lookup to the end: requests complete one at a time in random order (random latencies), each
    /// answered by <paramref name="respond"/> (null: the request fails). <paramref name="inFlight"/> are requests
    /// the test already took from the lookup.
    /// </summary>
    public static LookupRun Run(ClosestPeersLookup lookup, Func<PeerId, IEnumerable<PeerId>?> respond, Random rng, IEnumerable<PeerId>? inFlight = null, int maxSteps = 100_000)
    {
        var pending = new List<PeerId>(inFlight ?? []);
        var queried = new List<PeerId>();
        var responses = 0;
        var maxInFlight = 0;
        for (var step = 0; step < maxSteps && !lookup.IsFinished; step++)
        {
            var next = lookup.TakeNextToQuery();
            pending.AddRange(next);
            queried.AddRange(next);
            maxInFlight = Math.Max(maxInFlight, lookup.InFlightCount);
            Assert.Equal(pending.Count, lookup.InFlightCount);
            Assert.NotEmpty(pending); // not finished, so something must be under way
            var i = rng.Next(pending.Count);
            var peer = pending[i];
            pending.RemoveAt(i);
            var answer = respond(peer);
            if (answer is null)
            {
                Assert.True(lookup.OnFailure(peer));
            }
            else
            {
                Assert.True(lookup.OnSuccess(peer, answer));
                responses++;
            }
        }
        Assert.True(lookup.IsFinished);
        return new LookupRun(responses, maxInFlight, queried);
    }
}
