using Parley.Core.Identity;
using Parley.Dht.Keys;
using Parley.Dht.Query;

namespace Parley.Dht.Tests.Query;

public sealed class NetworkFixture
{
    public FakeNetwork Network { get; } = new(1000, seed: 1);
}

public class ClosestPeersLookupTests(NetworkFixture fixture) : IClassFixture<NetworkFixture>
{
    private const int K = FakeNetwork.K;

    private readonly FakeNetwork _network = fixture.Network;

    private (PeerId Local, KadId Target, ClosestPeersLookup Lookup) Start(Random rng, LookupOptions? options = null, Func<PeerId, bool>? seedFilter = null)
    {
        var local = _network.Peers[rng.Next(_network.Peers.Count)];
        var target = KadId.Random(rng);
        var seeds = _network.ClosestKnownBy(local, target, 100).Where(seedFilter ?? (_ => true)).Take(K);
        return (local, target, new ClosestPeersLookup(target, seeds, (options ?? new LookupOptions()) with { LocalPeer = local }));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Finds_the_true_k_closest_in_a_1000_node_network_in_few_hops(int disjointPaths)
    {
        var rng = new Random(100 + disjointPaths);
        var hops = new List<int>();
        for (var run = 0; run < 25; run++)
        {
            var (local, target, lookup) = Start(rng, new LookupOptions { DisjointPaths = disjointPaths });
            var result = LookupDriver.Run(lookup, peer => _network.ClosestKnownBy(peer, target), rng);

            Assert.Equal(_network.TrueClosest(target, p => p != local), lookup.ClosestResponded);
            Assert.InRange(lookup.Hops, 1, 4);
            Assert.Equal(result.Queried.Count, result.Queried.Distinct().Count());
            Assert.Equal(result.Queried.Count, lookup.QueriedCount);
            Assert.DoesNotContain(local, result.Queried);
            hops.Add(lookup.Hops);
        }
        Assert.True(hops.Average() <= 3.0, $"mean hops {hops.Average()}");
    }

    [Fact]
    public void Still_finds_the_closest_live_peers_when_30_percent_of_peers_fail()
    {
        var rng = new Random(200);
        var dead = _network.Peers.Where(_ => rng.NextDouble() < 0.3).ToHashSet();
        var recall = new List<double>();
        for (var run = 0; run < 25; run++)
        {
            var (local, target, lookup) = Start(rng);
            var heardOf = new HashSet<PeerId>(_network.ClosestKnownBy(local, target));
            LookupDriver.Run(
                lookup,
                peer =>
                {
                    if (dead.Contains(peer))
                    {
                        return null;
                    }
                    var answer = _network.ClosestKnownBy(peer, target);
                    heardOf.UnionWith(answer);
                    return answer;
                },
                rng);

            // Termination is right: nothing closer that is alive was named by anyone and left unasked.
            Assert.Equal(_network.TrueClosest(target, p => p != local && !dead.Contains(p) && heardOf.Contains(p)), lookup.ClosestResponded);
            // And routing works around the dead: the nearest half is always exact. (Near the edge of the k
            // closest, a live peer can be named by nobody: every answer lists its k closest, dead ones included.)
            var truth = _network.TrueClosest(target, p => p != local && !dead.Contains(p));
            Assert.Equal(truth.Take(K / 2), lookup.ClosestResponded.Take(K / 2));
            recall.Add(truth.Intersect(lookup.ClosestResponded).Count() / (double)K);
        }
        Assert.True(recall.Average() >= 0.95, $"recall {recall.Average()}");
    }

    [Fact]
    public void A_responder_flooding_10000_fake_peers_closer_than_anyone_does_not_break_it()
    {
        var rng = new Random(300);
        for (var run = 0; run < 5; run++)
        {
            var (local, target, lookup) = Start(rng);
            var liar = _network.ClosestKnownBy(local, target)[0];
            // Fake peers, nearest to the target first: in a 1,000-node network they beat every real peer, so a
            // lookup that followed all of them would never finish in reasonable time or memory.
            var fakes = TestPeers.Many(10_000, rng).OrderBy(p => KadId.FromPeer(p) ^ target).ToList();
            var run1 = LookupDriver.Run(
                lookup,
                peer => peer == liar ? fakes : _network.Contains(peer) ? _network.ClosestKnownBy(peer, target) : null,
                rng);

            // The liar answered (with lies), so it counts among the peers that responded.
            Assert.Equal(_network.TrueClosest(target, p => p != local), lookup.ClosestResponded);
            Assert.Contains(liar, run1.Queried);
            // Only the first 2k entries of the flood were read, and the liar answered once.
            Assert.InRange(run1.Queried.Count(p => !_network.Contains(p)), 1, 2 * K);
            Assert.True(lookup.KnownPeerCount <= (10 * K) + lookup.QueriedCount);
        }
    }

    [Fact]
    public void An_endless_closer_peers_list_is_read_only_up_to_the_bound()
    {
        var rng = new Random(310);
        var (local, target, lookup) = Start(rng);
        var read = 0;
        IEnumerable<PeerId> Endless()
        {
            var fakeRng = new Random(311);
            while (true)
            {
                read++;
                yield return TestPeers.Random(fakeRng);
            }
        }
        var first = lookup.TakeNextToQuery();
        lookup.OnSuccess(first[0], Endless());
        Assert.InRange(read, 2 * K, 2 * K + 1);
        LookupDriver.Run(lookup, peer => _network.Contains(peer) ? _network.ClosestKnownBy(peer, target) : null, rng, inFlight: first.Skip(1));
        Assert.Equal(_network.TrueClosest(target, p => p != local), lookup.ClosestResponded);
    }

    [Fact]
    public void A_responder_that_always_names_itself_and_us_does_not_break_termination()
    {
        var rng = new Random(400);
        for (var run = 0; run < 10; run++)
        {
            var (local, target, lookup) = Start(rng);
            var selfish = _network.ClosestKnownBy(local, target).Take(3).ToHashSet();
            LookupDriver.Run(lookup, peer => selfish.Contains(peer) ? [peer, peer, local] : _network.ClosestKnownBy(peer, target), rng);
            Assert.Equal(_network.TrueClosest(target, p => p != local), lookup.ClosestResponded);
        }
    }

    [Fact]
    public void Junk_in_responses_is_ignored()
    {
        var rng = new Random(410);
        var (local, target, lookup) = Start(rng);
        LookupDriver.Run(lookup, peer => [null!, local, peer, .. _network.ClosestKnownBy(peer, target), .. _network.ClosestKnownBy(peer, target)], rng);
        Assert.Equal(_network.TrueClosest(target, p => p != local), lookup.ClosestResponded);
    }

    [Fact]
    public void Memory_stays_within_the_candidate_window_plus_the_peers_queried()
    {
        var rng = new Random(420);
        var local = TestPeers.Random(rng);
        var target = KadId.Random(rng);
        var options = new LookupOptions { LocalPeer = local, K = 5, Alpha = 2, MaxCandidatesPerPath = 12, MaxCloserPeersPerResponse = 1000, WidenWhenStalled = false };
        var lookup = new ClosestPeersLookup(target, TestPeers.Many(100, rng), options);
        Assert.True(lookup.KnownPeerCount <= 12);
        // Every other responder names 1,000 fresh peers: the window keeps 12, the rest is let go.
        var queried = 0;
        while (!lookup.IsFinished && queried < 200)
        {
            Assert.True(lookup.KnownPeerCount <= 12 + lookup.QueriedCount);
            foreach (var peer in lookup.TakeNextToQuery())
            {
                queried++;
                if (queried % 2 == 0)
                {
                    lookup.OnSuccess(peer, TestPeers.Many(1000, rng));
                }
                else
                {
                    lookup.OnFailure(peer);
                }
            }
        }
        Assert.True(lookup.KnownPeerCount <= 12 + lookup.QueriedCount, $"{lookup.KnownPeerCount} known after {queried} queries");
    }

    [Fact]
    public void Disjoint_paths_never_share_a_queried_peer()
    {
        var rng = new Random(500);
        for (var run = 0; run < 10; run++)
        {
            var (local, target, lookup) = Start(rng, new LookupOptions { DisjointPaths = 3 });
            var pathOfQueried = new Dictionary<PeerId, int>();
            var pending = new List<PeerId>();
            while (!lookup.IsFinished)
            {
                foreach (var peer in lookup.TakeNextToQuery())
                {
                    Assert.True(pathOfQueried.TryAdd(peer, lookup.PathOf(peer)), "a peer was handed out twice");
                    pending.Add(peer);
                }
                var next = pending[rng.Next(pending.Count)];
                pending.Remove(next);
                var answer = _network.ClosestKnownBy(next, target);
                var before = answer.ToDictionary(p => p, lookup.PathOf);
                lookup.OnSuccess(next, answer);
                // Peers new to the lookup join the responder's path; peers known to another path stay there.
                foreach (var peer in answer.Where(p => p != local))
                {
                    var expected = before[peer] >= 0 ? before[peer] : lookup.PathOf(peer) >= 0 ? lookup.PathOf(next) : -1;
                    Assert.Equal(expected, lookup.PathOf(peer));
                }
            }
            Assert.Equal(3, pathOfQueried.Values.Distinct().Count());
            Assert.Equal(_network.TrueClosest(target, p => p != local), lookup.ClosestResponded);
        }
    }

    [Fact]
    public void A_peer_learned_by_one_path_is_not_queried_by_another()
    {
        var rng = new Random(510);
        var target = KadId.Random(rng);
        var seeds = TestPeers.Many(2, rng).OrderBy(p => KadId.FromPeer(p) ^ target).ToList();
        var shared = TestPeers.Random(rng);
        var lookup = new ClosestPeersLookup(target, seeds, new LookupOptions { DisjointPaths = 2, K = 3 });
        Assert.Equal(0, lookup.PathOf(seeds[0]));
        Assert.Equal(1, lookup.PathOf(seeds[1]));
        Assert.Equal(seeds, lookup.TakeNextToQuery());

        lookup.OnSuccess(seeds[1], [shared]);
        lookup.OnSuccess(seeds[0], [shared]);
        Assert.Equal(1, lookup.PathOf(shared));
        Assert.Equal([shared], lookup.TakeNextToQuery());
        lookup.OnSuccess(shared, []);
        Assert.Empty(lookup.TakeNextToQuery());
        Assert.True(lookup.IsFinished);
        Assert.Equal(new[] { seeds[0], seeds[1], shared }.OrderBy(p => KadId.FromPeer(p) ^ target), lookup.ClosestResponded);
    }

    [Fact]
    public void At_most_alpha_requests_are_in_flight_per_path_and_slow_ones_free_their_place()
    {
        var rng = new Random(600);
        var (_, target, lookup) = Start(rng, new LookupOptions { WidenWhenStalled = false });
        var run = LookupDriver.Run(lookup, peer => _network.ClosestKnownBy(peer, target), rng);
        Assert.Equal(3, run.MaxInFlight);

        var (_, _, paths) = Start(rng, new LookupOptions { WidenWhenStalled = false, DisjointPaths = 2 });
        Assert.Equal(6, paths.TakeNextToQuery().Count);

        var (_, _, slow) = Start(rng, new LookupOptions { WidenWhenStalled = false });
        var first = slow.TakeNextToQuery();
        Assert.Equal(3, first.Count);
        Assert.Empty(slow.TakeNextToQuery());
        Assert.True(slow.OnSlow(first[0]));
        Assert.False(slow.OnSlow(first[0]));
        Assert.Single(slow.TakeNextToQuery());
        Assert.Equal(4, slow.InFlightCount);
        // A late answer from the slow peer still counts.
        Assert.True(slow.OnSuccess(first[0], []));
        Assert.Contains(first[0], slow.ClosestResponded);
        Assert.Equal(3, slow.InFlightCount);
    }

    [Fact]
    public void With_overtaking_closer_peers_are_asked_at_once_and_the_lookup_still_finds_the_true_k_closest()
    {
        var rng = new Random(620);
        foreach (var overtake in new[] { false, true })
        {
            PeerId local;
            KadId target;
            ClosestPeersLookup lookup;
            IReadOnlyList<PeerId> first, closest;
            do
            {
                (local, target, lookup) = Start(rng, new LookupOptions { WidenWhenStalled = false, OvertakeFartherRequests = overtake });
                first = lookup.TakeNextToQuery();
                Assert.Equal(3, first.Count);
                // One answer will name three peers closer to the target than the two requests still out.
                var nearestOut = first.Skip(1).Min(p => KadId.FromPeer(p) ^ target);
                closest = _network.TrueClosest(target, p => p != local && (KadId.FromPeer(p) ^ target) < nearestOut && !first.Contains(p), 3);
            }
            while (closest.Count < 3);
            Assert.True(lookup.OnSuccess(first[0], closest));
            Assert.Equal(overtake ? closest : closest.Take(1), lookup.TakeNextToQuery());
            Assert.Equal(overtake ? 5 : 3, lookup.InFlightCount);

            var run = LookupDriver.Run(lookup, peer => _network.ClosestKnownBy(peer, target), rng, inFlight: first.Skip(1).Concat(overtake ? closest : closest.Take(1)));
            Assert.Equal(_network.TrueClosest(target, p => p != local), lookup.ClosestResponded);
            Assert.Equal(run.Queried.Count, run.Queried.Distinct().Count());
        }
    }

    [Fact]
    public void When_stalled_a_path_widens_to_k_requests()
    {
        var rng = new Random(610);
        var (_, target, lookup) = Start(rng);
        var run = LookupDriver.Run(lookup, peer => _network.ClosestKnownBy(peer, target), rng);
        Assert.InRange(run.MaxInFlight, 4, K);
    }

    [Fact]
    public void A_slow_peer_among_the_closest_holds_the_lookup_open_until_it_answers_or_fails()
    {
        var rng = new Random(620);
        var target = KadId.Random(rng);
        var seeds = TestPeers.Many(3, rng);
        var lookup = new ClosestPeersLookup(target, seeds, new LookupOptions { K = 3 });
        var first = lookup.TakeNextToQuery();
        lookup.OnSlow(first[0]);
        lookup.OnSuccess(first[1], []);
        lookup.OnSuccess(first[2], []);
        Assert.False(lookup.IsFinished);
        Assert.True(lookup.OnFailure(first[0]));
        Assert.True(lookup.IsFinished);
        Assert.Equal(2, lookup.ClosestResponded.Count);
    }

    [Fact]
    public void Hops_count_from_the_seeds()
    {
        var rng = new Random(700);
        var target = KadId.Random(rng);
        var seed = TestPeers.Random(rng);
        var second = TestPeers.Random(rng);
        var third = TestPeers.Random(rng);
        var lookup = new ClosestPeersLookup(target, [seed], new LookupOptions { K = 3 });
        Assert.Equal(0, lookup.Hops);
        Assert.Equal(1, lookup.HopsTo(seed));
        lookup.TakeNextToQuery();
        lookup.OnSuccess(seed, [second]);
        Assert.Equal(2, lookup.HopsTo(second));
        lookup.TakeNextToQuery();
        lookup.OnSuccess(second, [third, seed]);
        Assert.Equal(3, lookup.HopsTo(third));
        Assert.Equal(1, lookup.HopsTo(seed));
        Assert.Equal(0, lookup.HopsTo(TestPeers.Random(rng)));
        lookup.TakeNextToQuery();
        lookup.OnSuccess(third, []);
        Assert.True(lookup.IsFinished);
        Assert.Equal(lookup.HopsTo(lookup.ClosestResponded[0]), lookup.Hops);
    }

    [Fact]
    public void Stop_ends_the_lookup_and_keeps_the_results()
    {
        var rng = new Random(800);
        var (_, target, lookup) = Start(rng);
        var first = lookup.TakeNextToQuery();
        lookup.OnSuccess(first[0], _network.ClosestKnownBy(first[0], target));
        lookup.Stop();
        Assert.True(lookup.IsFinished);
        Assert.Empty(lookup.TakeNextToQuery());
        Assert.Equal([first[0]], lookup.ClosestResponded);
        // Late answers still count, but their peers are not followed.
        var known = lookup.KnownPeerCount;
        Assert.True(lookup.OnSuccess(first[1], TestPeers.Many(5, rng)));
        Assert.Equal(known, lookup.KnownPeerCount);
        Assert.Equal(2, lookup.ClosestResponded.Count);
    }

    [Fact]
    public void Seeds_are_deduplicated_and_without_the_local_peer_and_no_seeds_means_finished()
    {
        var rng = new Random(900);
        var local = TestPeers.Random(rng);
        var other = TestPeers.Random(rng);
        var lookup = new ClosestPeersLookup(KadId.Random(rng), [local, other, other, null!], new LookupOptions { LocalPeer = local });
        Assert.Equal([other], lookup.TakeNextToQuery());
        Assert.Equal(-1, lookup.PathOf(local));

        var empty = new ClosestPeersLookup(KadId.Random(rng), [], new LookupOptions());
        Assert.True(empty.IsFinished);
        Assert.Empty(empty.TakeNextToQuery());
        Assert.Empty(empty.ClosestResponded);
        Assert.Equal(0, empty.Hops);
    }

    [Fact]
    public void Unexpected_reports_are_ignored()
    {
        var rng = new Random(1000);
        var seeds = TestPeers.Many(5, rng);
        var lookup = new ClosestPeersLookup(KadId.Random(rng), seeds, new LookupOptions { Alpha = 1 });
        var stranger = TestPeers.Random(rng);
        Assert.False(lookup.OnSuccess(stranger, [TestPeers.Random(rng)]));
        Assert.False(lookup.OnFailure(stranger));
        Assert.False(lookup.OnSlow(stranger));
        Assert.False(lookup.OnSuccess(null!, []));

        var asked = Assert.Single(lookup.TakeNextToQuery());
        var notAsked = seeds.First(s => s != asked);
        Assert.False(lookup.OnSuccess(notAsked, []));
        Assert.True(lookup.OnSuccess(asked, []));
        Assert.False(lookup.OnSuccess(asked, []));
        Assert.False(lookup.OnFailure(asked));
        Assert.Equal(0, lookup.InFlightCount);
        Assert.Equal(5, lookup.KnownPeerCount);
    }

    [Fact]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClosestPeersLookup(default, [], new LookupOptions { K = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClosestPeersLookup(default, [], new LookupOptions { Alpha = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClosestPeersLookup(default, [], new LookupOptions { DisjointPaths = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ClosestPeersLookup(default, [], new LookupOptions { MaxCandidatesPerPath = 5 }));
    }

    /// <summary>
    /// An eclipse: the peers nearest the target all come from two subnets and answer with one another only. With
    /// subnets known, at most <see cref="LookupOptions.MaxPerSubnet"/> of each count among the closest, so the lookup
    /// goes on to the honest peers beyond them and returns them.
    /// </summary>
    [Fact]
    public void Peers_crowding_from_a_few_subnets_do_not_make_up_the_k_closest()
    {
        var rng = new Random(7);
        var (local, target, _) = Start(rng);
        var honest = _network.TrueClosest(target, p => p != local);
        var sybils = Enumerable.Range(0, 3 * K).Select(i => TestPeers.InBucket(target, 12 + (i % 4), rng)).ToList();
        var subnetOf = sybils.Select((peer, i) => (peer, (long)(1 + (i % 2)))).ToDictionary(p => p.peer, p => p.Item2);
        var lookup = new ClosestPeersLookup(target, [.. sybils.Take(3), .. honest.TakeLast(3)], new LookupOptions
        {
            LocalPeer = local,
            SubnetsOf = peer => subnetOf.TryGetValue(peer, out var subnet) ? [subnet] : [],
        });

        LookupDriver.Run(lookup, peer => subnetOf.ContainsKey(peer) ? sybils : _network.ClosestKnownBy(peer, target), rng);

        var result = lookup.ClosestResponded;
        Assert.Equal(K, result.Count);
        Assert.Equal(4, result.Count(subnetOf.ContainsKey));
        Assert.Equal(honest.Take(K - 4), result.Where(p => !subnetOf.ContainsKey(p)));
    }
}
