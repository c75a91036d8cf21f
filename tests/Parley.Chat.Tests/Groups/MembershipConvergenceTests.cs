using Parley.Chat.Groups;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

/// <summary>Admins acting at once: every member that holds the same entries ends with the same log and state,
/// whatever order the entries arrived in, and no entry is dropped (void ones are kept and marked).</summary>
public class MembershipConvergenceTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");
    private readonly Person _carol = new("carol");
    private readonly Person _dave = new("dave");
    private readonly Person _erin = new("erin");

    [Fact]
    public void Remove_and_promote_of_the_same_member_at_once()
    {
        var (baseLog, alices, bobs) = TwoAdmins();
        var remove = alices.Append(_alice.Key, MembershipChange.Remove(_carol.Account), Now);
        var promote = bobs.Append(_bob.Key, MembershipChange.Promote(_carol.Account), Now);

        var final = AllOrders(baseLog, [remove, promote]);

        // Whichever sorts first wins; both stay in the log.
        Assert.Equal(2, final.Entries.Count(e => e.Entry.Id == remove.Id || e.Entry.Id == promote.Id));
        Assert.False(final.Entries.Single(e => e.Entry.Id == remove.Id).IsVoid);
        Assert.False(final.State.IsMember(_carol.Account));
        var promoteFirst = Compare(promote, remove) < 0;
        Assert.Equal(!promoteFirst, final.Entries.Single(e => e.Entry.Id == promote.Id).IsVoid);
    }

    [Fact]
    public void Two_admins_remove_each_other_at_once()
    {
        var (baseLog, alices, bobs) = TwoAdmins();
        var aliceRemovesBob = alices.Append(_alice.Key, MembershipChange.Remove(_bob.Account), Now);
        var bobRemovesAlice = bobs.Append(_bob.Key, MembershipChange.Remove(_alice.Account), Now);

        var final = AllOrders(baseLog, [aliceRemovesBob, bobRemovesAlice]);

        var (first, second) = Compare(aliceRemovesBob, bobRemovesAlice) < 0 ? (aliceRemovesBob, bobRemovesAlice) : (bobRemovesAlice, aliceRemovesBob);
        Assert.False(final.Entries.Single(e => e.Entry.Id == first.Id).IsVoid);
        var voided = final.Entries.Single(e => e.Entry.Id == second.Id);
        Assert.Equal(MembershipFailure.NotAuthorized, voided.VoidReason);
        Assert.True(final.State.IsMember(first.Author));
        Assert.False(final.State.IsMember(first.Target!));
        Assert.Single(final.State.Admins);
        Assert.Equal(1ul, final.State.Epoch.Number);
        Assert.Contains("(void: ", final.State.Audit.Single(c => c.Entry == second.Id).Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Concurrent_changes_with_follow_ups_converge_in_every_order()
    {
        var (baseLog, alices, bobs) = TwoAdmins();
        var carols = Copy(baseLog);
        // Alice removes Bob and renames; Bob removes Carol and invites Dave; Carol leaves at the same time.
        var a1 = alices.Append(_alice.Key, MembershipChange.Remove(_bob.Account), Now);
        var a2 = alices.Append(_alice.Key, MembershipChange.Rename("alice's room"), Now);
        var b1 = bobs.Append(_bob.Key, MembershipChange.Remove(_carol.Account), Now);
        var b2 = bobs.Append(_bob.Key, MembershipChange.Invite(_dave.Account, "dave"), Now);
        var c1 = carols.Append(_carol.Key, MembershipChange.Leave(), Now);

        // 5! = 120 orders, children sometimes before their parents (held, then released).
        var final = AllOrders(baseLog, [a1, a2, b1, b2, c1]);

        Assert.Equal(baseLog.Count + 5, final.Count);
        Assert.Equal(0, final.PendingCount);
    }

    [Fact]
    public void Many_admins_acting_on_diverging_replicas_converge_in_random_orders()
    {
        var people = new[] { _alice, _bob, _carol, _dave, _erin };
        var baseLog = Room(_alice, _bob, _carol, _dave, _erin);
        baseLog.Append(_alice.Key, MembershipChange.Promote(_bob.Account), Now);
        baseLog.Append(_alice.Key, MembershipChange.Promote(_carol.Account), Now);
        var replicas = people.ToDictionary(p => p, _ => Copy(baseLog));
        var random = new Random(7);
        var authored = new List<MembershipEntry>();

        // Each round, a few people act on what they have; now and then two replicas exchange everything.
        for (var round = 0; round < 150; round++)
        {
            var person = people[random.Next(people.Length)];
            var log = replicas[person];
            var other = people[random.Next(people.Length)];
            var state = log.State;
            var target = other.Account;
            // Mostly changes the author may make in its own view, so that many get signed; removals are rarer.
            MembershipChange? change = (state.IsAdmin(person.Account), random.Next(10)) switch
            {
                (_, _) when state.Invitations.Any(i => i.Account.Equals(person.Account)) => MembershipChange.Join(),
                (true, 0) when state.IsMember(target) => MembershipChange.Remove(target),
                (true, 1 or 2) when state.IsMember(target) && !state.IsAdmin(target) => MembershipChange.Promote(target),
                (true, 3) when state.IsAdmin(target) => MembershipChange.Demote(target),
                (true, 4 or 5) when !state.IsMember(target) => MembershipChange.Invite(target, other.Name),
                (true, 6 or 7) => MembershipChange.Rename($"name {round}"),
                (true, _) => MembershipChange.SetHistory(round % 2 == 0),
                (false, 0) when state.IsMember(person.Account) => MembershipChange.Leave(),
                _ => null,
            };
            if (change is null)
            {
                continue;
            }
            try
            {
                authored.Add(log.Append(person.Key, change, Now + round));
            }
            catch (MembershipException)
            {
                // Not allowed in this person's view: nothing was signed.
            }
            if (random.Next(3) == 0)
            {
                var (x, y) = (replicas[people[random.Next(people.Length)]], replicas[people[random.Next(people.Length)]]);
                foreach (var entry in authored)
                {
                    x.Add(entry);
                    y.Add(entry);
                }
            }
        }
        Assert.True(authored.Count > 25, $"only {authored.Count} entries were authored");
        Assert.Contains(authored, e => e.Parents.Count > 1);

        var expected = (string?)null;
        for (var trial = 0; trial < 30; trial++)
        {
            var log = Copy(baseLog);
            foreach (var entry in authored.OrderBy(_ => random.Next()))
            {
                Assert.NotEqual(AddStatus.Rejected, log.Add(entry.ToBytes()).Status);
            }
            Assert.Equal(0, log.PendingCount);
            Assert.Equal(baseLog.Count + authored.Count, log.Count);
            var description = Describe(log);
            expected ??= description;
            Assert.Equal(expected, description);
        }
        // And the authors' own replicas, once they have everything, agree too.
        foreach (var log in replicas.Values)
        {
            foreach (var entry in authored)
            {
                log.Add(entry);
            }
            Assert.Equal(expected, Describe(log));
        }
    }

    /// <summary>Alice and Bob admins, Carol a member; the base log and a replica for each admin.</summary>
    private (MembershipLog Base, MembershipLog Alices, MembershipLog Bobs) TwoAdmins()
    {
        var baseLog = Room(_alice, _bob, _carol);
        baseLog.Append(_alice.Key, MembershipChange.Promote(_bob.Account), Now);
        return (baseLog, Copy(baseLog), Copy(baseLog));
    }

    /// <summary>Applies <paramref name="entries"/> to a fresh replica of <paramref name="baseLog"/> in every order
    /// and checks all replicas end identical; returns one of them.</summary>
    private static MembershipLog AllOrders(MembershipLog baseLog, MembershipEntry[] entries)
    {
        MembershipLog? first = null;
        foreach (var order in Permutations(entries))
        {
            var log = Copy(baseLog);
            foreach (var entry in order)
            {
                Assert.NotEqual(AddStatus.Rejected, log.Add(entry.ToBytes()).Status);
            }
            Assert.Equal(0, log.PendingCount);
            Assert.Equal(baseLog.Count + entries.Length, log.Count);
            first ??= log;
            Assert.Equal(Describe(first), Describe(log));
            Assert.Equal(first.Entries.Select(e => (e.Entry.Id, e.VoidReason)), log.Entries.Select(e => (e.Entry.Id, e.VoidReason)));
        }
        return first!;
    }

    private static int Compare(MembershipEntry a, MembershipEntry b) =>
        a.Lamport != b.Lamport ? a.Lamport.CompareTo(b.Lamport) : a.Id.CompareTo(b.Id);
}
