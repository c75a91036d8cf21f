using Parley.Chat.Directory;
using Parley.Dht;
using Parley.Dht.Records;
using static Parley.Chat.Tests.Directory.DirectoryTestSupport;

namespace Parley.Chat.Tests.Directory;

public class NameClaimMergeTests
{
    private static readonly RecordKey Key = NameKey("alice");

    private readonly DirectoryTestSupport _support = new();

    [Fact]
    public void A_newer_claim_replaces_the_same_accounts_older_one_in_place()
    {
        var existing = Set(_support.Claim(Alice, "alice", sequence: 1), _support.Claim(Bob, "alice"));

        var merged = Merge(existing, Set(_support.Claim(Alice, "alice", sequence: 2)));

        var claims = _support.Validator.OpenNameClaims(Key, merged);
        Assert.Equal([Alice.Id, Bob.Id], claims.Select(c => c.Account.ToPeerId()));
        Assert.Equal(2UL, claims[0].Sequence);
    }

    [Fact]
    public void An_older_claim_changes_nothing()
    {
        var existing = Set(_support.Claim(Alice, "alice", sequence: 2));

        Assert.Same(existing, Merge(existing, Set(_support.Claim(Alice, "alice", sequence: 1))));
        Assert.Same(existing, Merge(existing, existing.ToArray()));
    }

    [Fact]
    public void Newcomers_are_appended_in_the_order_they_arrive()
    {
        var alice = _support.Claim(Alice, "alice");
        var bob = _support.Claim(Bob, "alice");
        var mallory = _support.Claim(Mallory, "alice");

        Assert.Equal([Alice.Id, Bob.Id], _support.Claimants("alice", Merge(Set(alice), Set(bob))));
        Assert.Equal([Bob.Id, Alice.Id], _support.Claimants("alice", Merge(Set(bob), Set(alice))));
        Assert.Equal([Bob.Id, Mallory.Id, Alice.Id], _support.Claimants("alice", Merge(Set(bob), Set(mallory, alice))));
    }

    [Fact]
    public void The_17th_account_is_refused_but_members_still_renew()
    {
        var members = Enumerable.Range(10, 16).Select(i => _support.Claim(AccountOf(i), "alice")).ToArray();
        var full = Set(members);

        Assert.Same(full, Merge(full, Set(_support.Claim(Alice, "alice"))));

        var renewed = Merge(full, Set(_support.Claim(Alice, "alice"), _support.Claim(AccountOf(12), "alice", sequence: 9)));
        var claims = _support.Validator.OpenNameClaims(Key, renewed);
        Assert.Equal(16, claims.Count);
        Assert.Equal(9UL, claims[2].Sequence);
        Assert.DoesNotContain(claims, c => c.Account.Equals(Alice.PublicKey));
    }

    [Fact]
    public void Expired_claims_drop_out_and_free_their_place()
    {
        var members = Enumerable.Range(10, 16).Select(i => _support.Claim(AccountOf(i), "alice", expiresIn: i == 10 ? TimeSpan.FromDays(1) : TimeSpan.FromDays(7))).ToArray();
        _support.Clock.Advance(TimeSpan.FromDays(1));
        var merged = Merge(Set(members), Set(_support.Claim(Alice, "alice")));

        var claimants = _support.Claimants("alice", merged);
        Assert.Equal(16, claimants.Count);
        Assert.Equal(AccountOf(11).Id, claimants[0]);
        Assert.Equal(Alice.Id, claimants[^1]);
    }

    [Fact]
    public void Merges_are_valid_and_the_same_on_every_node()
    {
        var other = new DirectoryTestSupport();
        var existing = Set(_support.Claim(Bob, "alice"), _support.Claim(Mallory, "alice"));
        var incoming = Set(_support.Claim(Alice, "alice"), _support.Claim(Bob, "alice", sequence: 4));

        var merged = Merge(existing, incoming);

        _support.Validator.Validate(Key, merged);
        Assert.Equal(merged, Merge(existing, incoming));
        Assert.Equal(merged, other.Validator.Merge(Key, existing, incoming));
    }

    [Fact]
    public void Equal_claims_of_one_account_resolve_the_same_way_in_either_order()
    {
        // Same sequence and expiry, different stamps (a second device solved its own).
        var challenge = Parley.Chat.Directory.NameClaim.Challenge("alice", Alice.PublicKey);
        var second = Core.Crypto.ProofOfWork.Solve(challenge, Difficulty, CancellationToken.None);
        while (second == Stamp(Alice, "alice"))
        {
            second = Core.Crypto.ProofOfWork.Solve(challenge, Difficulty, CancellationToken.None);
        }
        var one = Set(_support.Claim(Alice, "alice", sequence: 3));
        var two = Set(_support.Claim(Alice, "alice", sequence: 3, stamp: second));

        Assert.Equal(Merge(one, two), Merge(two, one));
    }

    [Fact]
    public void Select_prefers_the_order_most_copies_agree_with_then_the_most_complete_whatever_the_order_of_copies()
    {
        var alice = _support.Claim(Alice, "alice");
        var bob = _support.Claim(Bob, "alice");
        var mallory = _support.Claim(Mallory, "alice");
        // Two copies list Alice before Bob; one node missed Alice's claim at first and lists her last.
        var sets = new[] { Set(alice, bob), Set(alice, bob, mallory), Set(bob, mallory, alice) };
        var random = new Random(3);

        for (var i = 0; i < 20; i++)
        {
            var shuffled = sets.OrderBy(_ => random.Next()).ToArray();
            Assert.Same(sets[1], shuffled[_support.Validator.Select(Key, shuffled)]);
        }
        Assert.Equal(1, _support.Validator.Select(Key, [Set(bob, alice), Set(alice, bob), Set(alice, bob)]));
        Assert.Equal(1, _support.Validator.Select(Key, [[0xff, 0xff], Set(alice)]));
    }

    [Fact]
    public void A_copy_holding_one_claim_does_not_outrank_the_order_most_copies_hold()
    {
        var alice = _support.Claim(Alice, "alice");
        var bob = _support.Claim(Bob, "alice");
        var mallory = _support.Claim(Mallory, "alice");
        // Three storing nodes got the claims in order; one got Bob's first and the rest later; Mallory's own node, outside
        // the closest, holds only her claim. That copy shares no pair with any other: it must not win for agreeing with all.
        var sets = new[] { Set(alice, bob, mallory), Set(alice, bob, mallory), Set(alice, bob, mallory), Set(bob, alice, mallory), Set(mallory) };
        var random = new Random(5);

        for (var i = 0; i < 20; i++)
        {
            var shuffled = sets.OrderBy(_ => random.Next()).ToArray();
            Assert.Equal([Alice.Id, Bob.Id, Mallory.Id], _support.Claimants("alice", shuffled[_support.Validator.Select(Key, shuffled)]));
        }
    }

    [Fact]
    public void Select_counts_only_live_claims()
    {
        var sets = new[]
        {
            Set(_support.Claim(Alice, "alice"), _support.Claim(Bob, "alice", expiresIn: TimeSpan.FromDays(1))),
            Set(_support.Claim(Mallory, "alice"), _support.Claim(Alice, "alice")),
        };

        _support.Clock.Advance(TimeSpan.FromDays(1));

        Assert.Equal(1, _support.Validator.Select(Key, sets));
    }

    [Fact]
    public void The_record_store_merges_claim_sets()
    {
        var registry = ParleyRecords.CreateValidators(_support.Clock);
        ChatRecords.Register(registry, _support.Clock, _support.Options);
        var store = new RecordStore(registry, _support.Clock);
        var key = Key.ToArray();

        Assert.Equal(PutOutcome.Stored, store.Put(key, Set(_support.Claim(Alice, "alice")), Bob.Id));
        Assert.Equal(PutOutcome.Stored, store.Put(key, Set(_support.Claim(Bob, "alice")), Bob.Id));
        Assert.Equal(PutOutcome.KeptExisting, store.Put(key, Set(_support.Claim(Alice, "alice")), Bob.Id));
        Assert.Equal(PutStatus.Rejected, store.Put(key, Set(_support.Claim(Mallory, "alice", stamp: BadStamp(Mallory, "alice"))), Bob.Id).Status);

        Assert.Equal([Alice.Id, Bob.Id], _support.Claimants("alice", store.Get(key)!.Value));
    }

    private byte[] Merge(byte[] existing, byte[] incoming) => _support.Validator.Merge(Key, existing, incoming);
}
