using Parley.Chat.Groups;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

public class MembershipLogTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");
    private readonly Person _carol = new("carol");
    private readonly Person _dave = new("dave");

    [Fact]
    public void Create_makes_the_creator_the_only_admin()
    {
        var log = MembershipLog.Create(Provider, _alice.Key, "alice", "book club", historyEnabled: false, Now);
        var state = log.State;

        Assert.Equal("book club", state.Name);
        Assert.False(state.HistoryEnabled);
        var member = Assert.Single(state.Members);
        Assert.Equal(_alice.Account, member.Account);
        Assert.True(member.IsAdmin);
        Assert.Equal([_alice.Account], state.Admins);
        Assert.Equal(0ul, state.Epoch.Number);
        Assert.Equal(log.Entries[0].Entry.Id, state.Epoch.StartedBy);
        Assert.Equal([log.Entries[0].Entry.Id], log.Heads);
        Assert.Equal(2ul, log.NextLamport);
        Assert.Equal("alice created the room \"book club\"", Assert.Single(state.Audit).Describe());
    }

    [Fact]
    public void Invite_then_join_makes_a_member()
    {
        var log = MembershipLog.Create(Provider, _alice.Key, "alice", "room", true, Now);
        var invite = log.Append(_alice.Key, MembershipChange.Invite(_bob.Account, "bob#aaaaaaaa"), Now);

        var invited = Assert.Single(log.State.Invitations);
        Assert.Equal((_bob.Account, "bob#aaaaaaaa", _alice.Account, invite.Id), (invited.Account, invited.DisplayName, invited.InvitedBy, invited.Entry));
        Assert.False(log.State.IsMember(_bob.Account));

        // The invitee gets the log from the inviter, checks it, and signs its Join on top.
        var bobsLog = Copy(log);
        var join = bobsLog.Append(_bob.Key, MembershipChange.Join("Bob"), Now);
        Assert.Equal(AddStatus.Accepted, log.Add(join.ToBytes()).Status);

        var bob = log.State.Member(_bob.Account)!;
        Assert.Equal(("Bob", false, join.Id, _alice.Account), (bob.DisplayName, bob.IsAdmin, bob.AddedBy, bob.AddedByAccount));
        Assert.Empty(log.State.Invitations);
        Assert.Equal(0ul, log.State.Epoch.Number);
        Assert.Equal(["alice created the room \"room\"", "alice invited bob#aaaaaaaa", "Bob joined"], log.State.Audit.Select(c => c.Describe()));
        Assert.Equal(Describe(log), Describe(bobsLog));
    }

    [Fact]
    public void Joins_that_cross_later_invitations_added_in_a_burst_give_the_state_of_the_log_read_after_each()
    {
        // Each invitee joins on the log as its invitation left it, so its Join sorts before the later invitations:
        // the admin's log takes each Join out of order. The log replays once, when it is read, not at every Join.
        var admin = MembershipLog.Create(Provider, _alice.Key, "alice", "room", true, Now);
        var joins = new List<MembershipEntry>();
        foreach (var invitee in new[] { _bob, _carol, _dave })
        {
            admin.Append(_alice.Key, MembershipChange.Invite(invitee.Account, invitee.Name), Now);
            joins.Add(Copy(admin).Append(invitee.Key, MembershipChange.Join(invitee.Name), Now));
        }
        var invitations = admin.Entries.Select(e => e.Entry).ToList();
        var readAfterEach = Copy(admin);
        var burst = Copy(admin);
        foreach (var join in joins.AsEnumerable().Reverse())
        {
            Assert.Equal(AddStatus.Accepted, readAfterEach.Add(join.ToBytes()).Status);
            Assert.NotEmpty(readAfterEach.State.Members);
            Assert.Equal(AddStatus.Accepted, burst.Add(join.ToBytes()).Status);
        }
        // An entry naming every head is checked against the whole log, so against the replayed state: Bob is a member.
        var remove = readAfterEach.Append(_alice.Key, MembershipChange.Remove(_bob.Account), Now);
        Assert.Equal(AddStatus.Accepted, burst.Add(remove.ToBytes()).Status);

        Assert.Equal(Describe(readAfterEach), Describe(burst));
        Assert.Equal([_alice.Account, _carol.Account, _dave.Account], burst.State.Members.Select(m => m.Account));
        Assert.Equal(1ul, burst.State.Epoch.Number);
        Assert.All(burst.Entries, e => Assert.False(e.IsVoid));
        Assert.Equal(invitations.Count + joins.Count + 1, burst.Count);
    }

    [Fact]
    public void Join_without_invitation_is_rejected()
    {
        var log = Room(_alice);
        var result = log.Add(SignedBy(log, _bob, MembershipChange.Join()));

        Assert.Equal(AddStatus.Rejected, result.Status);
        Assert.Equal(MembershipFailure.NotAuthorized, result.Reason);
        Assert.Contains("no pending invitation", result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Request_then_approve_makes_a_member()
    {
        var log = Room(_alice, _bob);
        var link = log.InviteLink("alice#aaaaaaaa");
        // Carol knows only the link; the admin it names tells her the heads and the next clock.
        var request = MembershipEntry.SignRequest(Provider, _carol.Key, GroupInviteLink.Parse(link.Format()), "carol", log.Heads, log.NextLamport, Now);
        Assert.Equal(AddStatus.Accepted, log.Add(request.ToBytes()).Status);

        var pending = Assert.Single(log.State.Requests);
        Assert.Equal((_carol.Account, "carol", request.Id), (pending.Account, pending.DisplayName, pending.Entry));

        var approve = log.Append(_alice.Key, MembershipChange.Approve(_carol.Account), Now);
        var carol = log.State.Member(_carol.Account)!;
        Assert.Equal(("carol", approve.Id, _alice.Account), (carol.DisplayName, carol.AddedBy, carol.AddedByAccount));
        Assert.Empty(log.State.Requests);
        Assert.Equal(["carol asked to join", "alice approved carol"], log.State.Audit.Skip(3).Select(c => c.Describe()));
    }

    [Fact]
    public void Request_then_deny_leaves_no_member()
    {
        var log = Room(_alice);
        log.Add(MembershipEntry.SignRequest(Provider, _carol.Key, log.InviteLink("alice#aaaaaaaa"), "carol", log.Heads, log.NextLamport, Now));
        log.Append(_alice.Key, MembershipChange.Deny(_carol.Account), Now);

        Assert.Empty(log.State.Requests);
        Assert.False(log.State.IsMember(_carol.Account));
        Assert.Equal("alice denied carol", log.State.Audit[^1].Describe());
        var again = Assert.Throws<MembershipException>(() => log.Append(_alice.Key, MembershipChange.Approve(_carol.Account), Now));
        Assert.Equal(MembershipFailure.InvalidTarget, again.Reason);
    }

    [Fact]
    public void Promote_and_demote_change_admins()
    {
        var log = Room(_alice, _bob, _carol);
        log.Append(_alice.Key, MembershipChange.Promote(_bob.Account), Now);
        Assert.Equal([_alice.Account, _bob.Account], log.State.Admins);

        // Bob, now an admin, can promote Carol and then take Alice's rights.
        log.Append(_bob.Key, MembershipChange.Promote(_carol.Account), Now);
        log.Append(_bob.Key, MembershipChange.Demote(_alice.Account), Now);
        Assert.Equal([_bob.Account, _carol.Account], log.State.Admins);
        Assert.Equal(MembershipFailure.NotAuthorized, Assert.Throws<MembershipException>(() => log.Append(_alice.Key, MembershipChange.Rename("x"), Now)).Reason);

        log.Append(_carol.Key, MembershipChange.Demote(_carol.Account), Now);
        Assert.Equal([_bob.Account], log.State.Admins);
        var last = Assert.Throws<MembershipException>(() => log.Append(_bob.Key, MembershipChange.Demote(_bob.Account), Now));
        Assert.Equal(MembershipFailure.InvalidTarget, last.Reason);
        Assert.Contains("without an admin", last.Message, StringComparison.Ordinal);
        Assert.Equal(
            ["alice made bob an admin", "bob made carol an admin", "bob took admin rights from alice", "carol took admin rights from carol"],
            log.State.Audit.Skip(5).Select(c => c.Describe()));
    }

    [Fact]
    public void Rename_and_history_setting()
    {
        var log = Room(_alice, _bob);
        log.Append(_alice.Key, MembershipChange.Rename("new name"), Now);
        log.Append(_alice.Key, MembershipChange.SetHistory(false), Now);

        Assert.Equal("new name", log.State.Name);
        Assert.False(log.State.HistoryEnabled);
        Assert.Equal(["alice renamed the room to \"new name\"", "alice turned history for new members off"], log.State.Audit.Skip(3).Select(c => c.Describe()));
        Assert.Equal(MembershipFailure.NotAuthorized, Assert.Throws<MembershipException>(() => log.Append(_bob.Key, MembershipChange.Rename("mine"), Now)).Reason);
    }

    [Fact]
    public void Leave_ends_membership_and_starts_an_epoch()
    {
        var log = Room(_alice, _bob, _carol);
        var epoch = log.State.Epoch;
        var leave = log.Append(_bob.Key, MembershipChange.Leave(), Now);

        Assert.False(log.State.IsMember(_bob.Account));
        Assert.Equal(leave.Id, log.State.Departures[_bob.Account]);
        Assert.Equal(epoch.Number + 1, log.State.Epoch.Number);
        Assert.NotEqual(epoch.Id, log.State.Epoch.Id);
        Assert.Equal(leave.Id, log.State.Epoch.StartedBy);
        Assert.Equal("bob left", log.State.Audit[^1].Describe());
        Assert.Equal(MembershipFailure.NotAuthorized, Assert.Throws<MembershipException>(() => log.Append(_bob.Key, MembershipChange.Leave(), Now)).Reason);
    }

    [Fact]
    public void A_member_removing_one_of_its_devices_starts_an_epoch_and_stays_a_member()
    {
        var log = Room(_alice, _bob, _carol);
        var epoch = log.State.Epoch;
        var device = new Person("bob's phone").Account;
        var removal = log.Append(_bob.Key, MembershipChange.RemoveDevice(device), Now);

        Assert.Equal([_alice.Account, _bob.Account, _carol.Account], log.State.Members.Select(m => m.Account));
        Assert.Equal(epoch.Number + 1, log.State.Epoch.Number);
        Assert.Equal(removal.Id, log.State.Epoch.StartedBy);
        Assert.Equal(device, removal.Target);
        Assert.Equal("bob removed a device (new keys)", log.State.Audit[^1].Describe());
        // Only a member says it, and only as itself: a non-member's entry is refused, and the entry parses back whole.
        log.Append(_carol.Key, MembershipChange.Leave(), Now);
        Assert.Equal(MembershipFailure.NotAuthorized, Assert.Throws<MembershipException>(() => log.Append(_carol.Key, MembershipChange.RemoveDevice(device), Now)).Reason);
        Assert.Equal(removal.Id, MembershipEntry.Parse(removal.ToBytes(), Provider).Id);
    }

    [Fact]
    public void Remove_ends_membership_and_starts_an_epoch()
    {
        var log = Room(_alice, _bob, _carol);
        log.Append(_alice.Key, MembershipChange.Promote(_carol.Account), Now);
        var remove = log.Append(_alice.Key, MembershipChange.Remove(_carol.Account), Now);

        Assert.Equal([_alice.Account, _bob.Account], log.State.Members.Select(m => m.Account));
        Assert.Equal([_alice.Account], log.State.Admins);
        Assert.Equal(1ul, log.State.Epoch.Number);
        Assert.Equal(remove.Id, log.State.Departures[_carol.Account]);
        Assert.Equal("alice removed carol", log.State.Audit[^1].Describe());
        Assert.Equal(MembershipFailure.InvalidTarget, Assert.Throws<MembershipException>(() => log.Append(_alice.Key, MembershipChange.Remove(_carol.Account), Now)).Reason);
        Assert.Equal(MembershipFailure.InvalidTarget, Assert.Throws<MembershipException>(() => log.Append(_alice.Key, MembershipChange.Remove(_alice.Account), Now)).Reason);
    }

    [Fact]
    public void Remove_withdraws_an_invitation_without_a_new_epoch()
    {
        var log = Room(_alice);
        log.Append(_alice.Key, MembershipChange.Invite(_dave.Account, "dave"), Now);
        log.Append(_alice.Key, MembershipChange.Remove(_dave.Account), Now);

        Assert.Empty(log.State.Invitations);
        Assert.Equal(0ul, log.State.Epoch.Number);
        Assert.Equal(AddStatus.Rejected, log.Add(SignedBy(log, _dave, MembershipChange.Join())).Status);
    }

    [Fact]
    public void A_removed_member_can_be_invited_again()
    {
        var log = Room(_alice, _bob);
        log.Append(_alice.Key, MembershipChange.Remove(_bob.Account), Now);
        log.Append(_alice.Key, MembershipChange.Invite(_bob.Account, "bob"), Now);
        var join = log.Append(_bob.Key, MembershipChange.Join(), Now);

        Assert.Equal(join.Id, log.State.Member(_bob.Account)!.AddedBy);
        Assert.False(log.State.Departures.ContainsKey(_bob.Account));
        Assert.Equal(1ul, log.State.Epoch.Number);
    }

    [Fact]
    public void Entries_round_trip_through_bytes()
    {
        var log = Room(_alice, _bob);
        log.Append(_alice.Key, MembershipChange.SetHistory(false), Now + 5);
        foreach (var logged in log.Entries)
        {
            var parsed = MembershipEntry.Parse(logged.Entry.ToBytes(), Provider);
            Assert.Equal(logged.Entry.Id, parsed.Id);
            Assert.Equal(logged.Entry.ToBytes(), parsed.ToBytes());
            Assert.Equal(logged.Entry.Parents, parsed.Parents);
            Assert.Equal(logged.Entry.History, parsed.History);
            Assert.Equal(logged.Entry.TimestampMs, parsed.TimestampMs);
        }
    }

    [Fact]
    public void After_a_burst_of_concurrent_requests_new_entries_name_at_most_the_parent_limit_and_others_accept_them()
    {
        // Forty people ask to join at once: each request names the same parents, so each becomes a head.
        var log = MembershipLog.Create(Provider, _alice.Key, "alice", "room", true, Now);
        var parents = log.NextParents;
        var lamport = log.NextLamport;
        var requests = new List<(Person Requester, MembershipEntry Request)>();
        foreach (var requester in Enumerable.Range(0, 40).Select(i => new Person($"p{i}")))
        {
            var request = MembershipEntry.SignRequest(Provider, requester.Key, log.InviteLink("alice#aaaaaaaa"), requester.Name, parents, lamport, Now);
            Assert.Equal(AddStatus.Accepted, log.Add(request).Status);
            requests.Add((requester, request));
        }
        Assert.Equal(40, log.Heads.Count);
        Assert.Equal(MembershipEntry.MaxParents, log.NextParents.Count);
        // The first approval is for a request the plain choice of parents leaves out: it must be named anyway.
        var leftOut = requests.First(r => !log.NextParents.Contains(r.Request.Id)).Requester;
        var other = requests.First(r => r.Requester != leftOut).Requester;

        var first = log.Append(_alice.Key, MembershipChange.Approve(leftOut.Account), Now);
        var second = log.Append(_alice.Key, MembershipChange.Approve(other.Account), Now);

        Assert.Equal(MembershipEntry.MaxParents, first.Parents.Count);
        Assert.Contains(first.Id, second.Parents);
        // The heads the first approval left out are named by the second, so the log converges to one head again.
        Assert.Equal([second.Id], log.Heads);
        var copy = new MembershipLog(Provider, log.GroupId, log.LinkKey);
        foreach (var logged in log.Entries)
        {
            Assert.Equal(AddStatus.Accepted, copy.Add(logged.Entry.ToBytes()).Status);
        }
        Assert.Equal(log.State.Members.Select(m => m.Account), copy.State.Members.Select(m => m.Account));
    }

    [Fact]
    public void An_entry_naming_more_parents_than_the_limit_is_rejected()
    {
        var log = MembershipLog.Create(Provider, _alice.Key, "alice", "room", true, Now);
        var parents = log.NextParents;
        foreach (var requester in Enumerable.Range(0, MembershipEntry.MaxParents + 1).Select(i => new Person($"p{i}")))
        {
            log.Add(MembershipEntry.SignRequest(Provider, requester.Key, log.InviteLink("alice#aaaaaaaa"), requester.Name, parents, 2, Now));
        }
        var tooMany = MembershipEntry.Sign(Provider, _alice.Key, log.GroupId, log.Heads, log.NextLamport, MembershipChange.Rename("x"), null, null, Now);

        var result = log.Add(tooMany);

        Assert.Equal((AddStatus.Rejected, MembershipFailure.Malformed), (result.Status, result.Reason));
    }

    /// <summary>An entry signed by <paramref name="author"/> on the log's heads, bypassing Append's own check.</summary>
    internal static byte[] SignedBy(MembershipLog log, Person author, MembershipChange change) =>
        MembershipEntry.Sign(Provider, author.Key, log.GroupId, log.Heads, log.NextLamport, change, null, null, Now).ToBytes();
}
