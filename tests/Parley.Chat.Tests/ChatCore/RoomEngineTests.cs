using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

public sealed class RoomEngineTests : IAsyncLifetime
{
    private readonly FakeChatWorld _world = new();
    private readonly List<FakeChatUser> _users = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Invited_members_join_send_and_read_each_other_and_a_removed_member_reads_nothing_new()
    {
        var (alice, bob, carol) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("carol"));
        var room = await alice.Core.Rooms.CreateAsync("book club", historyEnabled: false, CancellationToken.None);
        foreach (var invitee in new[] { bob, carol })
        {
            await alice.Core.Rooms.InviteAsync(room.IdText, invitee.HandleText, CancellationToken.None);
        }
        await SettleAsync();
        foreach (var invitee in new[] { bob, carol })
        {
            Assert.Equal(GroupStatus.Invited, (await invitee.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Status);
            await invitee.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        }
        await SettleAsync();

        foreach (var user in _users)
        {
            await user.Core.Rooms.SendAsync(room.IdText, $"hi from {user.Chat.Handle.Name}", CancellationToken.None);
            await SettleAsync();
        }
        var reference = await TextsAsync(alice, room.IdText);
        Assert.Equal(3, reference.Count);
        Assert.All(_users, u => Assert.Equal(3, u.Chat.GetGroupAsync(room.IdText, CancellationToken.None).Result.Members.Count));
        foreach (var user in _users)
        {
            Assert.Equal(reference, await TextsAsync(user, room.IdText));
        }

        await alice.Core.Rooms.ChangeMemberAsync(room.IdText, carol.HandleText, m => Parley.Chat.Groups.MembershipChange.Remove(m.Account), includeTarget: true, CancellationToken.None);
        await SettleAsync();
        await bob.Core.Rooms.SendAsync(room.IdText, "carol is gone", CancellationToken.None);
        await SettleAsync();

        Assert.Equal(GroupStatus.Removed, (await carol.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Status);
        Assert.Contains("carol is gone", await TextsAsync(alice, room.IdText));
        Assert.DoesNotContain("carol is gone", await TextsAsync(carol, room.IdText));
        await Assert.ThrowsAsync<ChatException>(() => carol.Core.Rooms.SendAsync(room.IdText, "still here?", CancellationToken.None));
    }

    [Fact]
    public async Task A_removal_reaches_each_remaining_member_in_one_message_with_the_admins_new_key()
    {
        var (alice, bob, carol, dave) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("carol"), await AddAsync("dave"));
        var room = await RoomAsync(alice, bob, carol, dave);
        foreach (var user in _users)
        {
            await user.Core.Rooms.SendAsync(room.IdText, $"hi from {user.Chat.Handle.Name}", CancellationToken.None);
        }
        await SettleAsync();

        var toBob = 0;
        var toDave = 0;
        // Counts what the removal sends, losing nothing.
        _world.Hub.Lose = device => (device == bob.Chat.Device.DeviceId && ++toBob < 0) || (device == dave.Chat.Device.DeviceId && ++toDave < 0);
        await alice.Chat.KickAsync(room.IdText, dave.HandleText, CancellationToken.None);
        await alice.FlushAsync();
        Assert.Equal(1, toBob);
        Assert.Equal(1, toDave);
        _world.Hub.Lose = null;
        await SettleAsync();

        var epoch = (await alice.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Epoch;
        foreach (var user in new[] { alice, bob, carol })
        {
            Assert.Equal(epoch, (await user.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Epoch);
            await user.Core.Rooms.SendAsync(room.IdText, $"after dave from {user.Chat.Handle.Name}", CancellationToken.None);
        }
        await SettleAsync();
        foreach (var user in new[] { alice, bob, carol })
        {
            Assert.Equal(3, (await TextsAsync(user, room.IdText)).Count(t => t.StartsWith("after dave", StringComparison.Ordinal)));
        }
        Assert.Equal(GroupStatus.Removed, (await dave.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Status);
        Assert.DoesNotContain(await TextsAsync(dave, room.IdText), t => t.StartsWith("after dave", StringComparison.Ordinal));
    }

    [Fact]
    public async Task After_a_removal_the_chains_passed_on_are_held_unchecked_and_each_is_checked_at_its_first_message()
    {
        var (alice, bob, carol, dave) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("carol"), await AddAsync("dave"));
        var room = await RoomAsync(alice, bob, carol, dave);
        Task<(int Readable, int Unchecked)> ChainsAsync(FakeChatUser user) =>
            user.Core.RoomCache.ReadAsync(room.Id, (_, r) => (r.Session.ReadableMemberCount(r.Log.State), r.Session.UncheckedChainCount), CancellationToken.None);
        // Everyone reads everyone once, which checks every chain held.
        foreach (var user in _users)
        {
            await user.Core.Rooms.SendAsync(room.IdText, $"hi from {user.Chat.Handle.Name}", CancellationToken.None);
        }
        await SettleAsync();
        Assert.Equal(0, (await ChainsAsync(bob)).Unchecked);

        await alice.Chat.KickAsync(room.IdText, dave.HandleText, CancellationToken.None);
        await SettleAsync();
        // The new chains bob and carol sent alice schedule her sync, which passes them on.
        await alice.FlushAsync();
        await SettleAsync();
        // Bob holds carol's new chain (passed on by alice, unchecked) and alice's (from alice herself, checked).
        Assert.Equal((2, 1), await ChainsAsync(bob));
        Assert.Equal((2, 1), await ChainsAsync(carol));
        // The admin checks what it gets from the owners themselves.
        Assert.Equal((2, 0), await ChainsAsync(alice));

        await carol.Core.Rooms.SendAsync(room.IdText, "after dave", CancellationToken.None);
        await SettleAsync();
        Assert.Contains("after dave", await TextsAsync(bob, room.IdText));
        Assert.Equal((2, 0), await ChainsAsync(bob));
        // Stored checked: bob's room read again from the store has nothing left to check.
        Assert.Equal(0, await bob.Store.ReadAsync(r => Parley.Chat.Groups.GroupSession.Deserialize(Parley.Core.Crypto.DefaultCryptoProvider.Instance, r.GetGroup(room.Id.Span.ToArray())!.Session!).UncheckedChainCount, CancellationToken.None));
    }

    [Fact]
    public async Task A_join_passed_on_costs_a_member_no_room_sync_and_a_removal_does()
    {
        var (alice, bob, carol, erin) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("carol"), await AddAsync("erin"));
        var room = await RoomAsync(alice, bob, carol);
        await alice.FlushAsync();
        await SettleAsync();
        var syncs = bob.Core.Rooms.SyncCount;

        await alice.Core.Rooms.InviteAsync(room.IdText, erin.HandleText, CancellationToken.None);
        await SettleAsync();
        await erin.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        await SettleAsync();
        await alice.FlushAsync();
        await SettleAsync();
        await erin.Core.Rooms.SendAsync(room.IdText, "hello from erin", CancellationToken.None);
        await SettleAsync();

        // Bob took erin's invitation, her Join, her chain and her message without a sync of his room.
        Assert.Equal(4, (await bob.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count);
        Assert.Contains("hello from erin", await TextsAsync(bob, room.IdText));
        Assert.Equal(syncs, bob.Core.Rooms.SyncCount);

        // A removal starts an epoch: bob's new chain goes out at his sync.
        await alice.Chat.KickAsync(room.IdText, erin.HandleText, CancellationToken.None);
        await SettleAsync();
        Assert.True(bob.Core.Rooms.SyncCount > syncs);
        await bob.Core.Rooms.SendAsync(room.IdText, "erin is gone", CancellationToken.None);
        await SettleAsync();
        Assert.Contains("erin is gone", await TextsAsync(carol, room.IdText));
    }

    [Fact]
    public async Task A_room_peer_is_known_by_the_name_the_room_gave_also_after_leaving_it()
    {
        var (alice, bob, carol) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("carol"));
        var room = await alice.Core.Rooms.CreateAsync("names", historyEnabled: false, CancellationToken.None);
        foreach (var invitee in new[] { bob, carol })
        {
            await alice.Core.Rooms.InviteAsync(room.IdText, invitee.HandleText, CancellationToken.None);
        }
        await SettleAsync();
        foreach (var invitee in new[] { bob, carol })
        {
            await invitee.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
            await SettleAsync();
        }
        await carol.Core.Rooms.SendAsync(room.IdText, "hello", CancellationToken.None);
        await SettleAsync();

        await alice.Core.Rooms.ChangeMemberAsync(room.IdText, carol.HandleText, m => Parley.Chat.Groups.MembershipChange.Remove(m.Account), includeTarget: true, CancellationToken.None);
        await SettleAsync();

        // Members talk to the admin only (sender keys go through the admins): the admin knows both, removed carol
        // too, and whoever a member knows, it knows by name.
        Assert.Equal([bob.Chat.Handle, carol.Chat.Handle], (await alice.Chat.GetContactsAsync(CancellationToken.None)).Select(c => c.Handle).OrderBy(h => h.Name));
        foreach (var user in _users)
        {
            var contacts = await user.Chat.GetContactsAsync(CancellationToken.None);
            Assert.All(contacts, c => Assert.Contains(c.Handle, _users.Where(u => u != user).Select(u => u.Chat.Handle)));
        }

        // A room peer stored unknown (as older versions did) is named at the next change of a room it is in.
        var aliceId = alice.Chat.Account.Id;
        await bob.Store.TransactAsync(tx =>
        {
            tx.PutContact(tx.GetContact(aliceId)! with { Name = "unknown" });
            return true;
        }, CancellationToken.None);
        await bob.Core.Rooms.SendAsync(room.IdText, "still here", CancellationToken.None);
        Assert.Equal("alice", (await bob.Store.ReadAsync(r => r.GetContact(aliceId), CancellationToken.None))!.Name);
    }

    [Fact]
    public async Task Someone_with_the_link_asks_an_admin_approves_and_the_history_follows()
    {
        var (alice, dave) = (await AddAsync("alice"), await AddAsync("dave"));
        var room = await alice.Core.Rooms.CreateAsync("archive", historyEnabled: true, CancellationToken.None);
        await alice.Core.Rooms.SendAsync(room.IdText, "before dave", CancellationToken.None);

        var asked = await dave.Core.Rooms.JoinAsync(room.InviteLink!, CancellationToken.None);
        Assert.Equal(GroupStatus.Requested, asked.Status);
        await SettleAsync();
        Assert.Equal(dave.Chat.Handle, Assert.Single((await alice.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Requests).Handle);

        await alice.Core.Rooms.DecideRequestAsync(room.IdText, dave.HandleText, approve: true, CancellationToken.None);
        await SettleAsync();

        var joined = await dave.Chat.GetGroupAsync(room.IdText, CancellationToken.None);
        Assert.Equal(GroupStatus.Member, joined.Status);
        Assert.Equal(["before dave"], await TextsAsync(dave, room.IdText));
        Assert.True((await dave.Chat.GetGroupHistoryAsync(room.IdText, 10, CancellationToken.None)).Messages.Single().FromHistory);
    }

    [Fact]
    public async Task A_chain_passed_on_before_its_owners_approval_is_installed_when_the_approval_comes_and_reads_the_owners_first_message()
    {
        var (alice, bob, dave) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("dave"));
        var room = await RoomAsync(alice, bob);
        await dave.Core.Rooms.JoinAsync(room.InviteLink!, CancellationToken.None);
        await SettleAsync();

        // The Approve reaches bob without the Request it follows (only admins get requests): bob asks alice for it.
        await alice.Core.Rooms.DecideRequestAsync(room.IdText, dave.HandleText, approve: true, CancellationToken.None);
        await alice.FlushAsync();
        // Meanwhile dave's chain reaches alice, and alice passes it on to bob before bob has the Approve: held.
        await dave.FlushAsync();
        await alice.FlushAsync();
        Assert.Equal(2, (await bob.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count);
        Assert.Equal(1, await bob.Core.RoomCache.ReadAsync(room.Id, (_, r) => r.Session.HeldDistributionCount, CancellationToken.None));
        // Bob gets the Request and takes the Approve: dave is a member, and his chain is bob's from then on.
        await bob.FlushAsync();
        await alice.FlushAsync();
        Assert.Equal(3, (await bob.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count);

        // Dave's first message comes before bob writes anything: read as it comes.
        await dave.Core.Rooms.SendAsync(room.IdText, "hi from dave", CancellationToken.None);
        await dave.FlushAsync();
        Assert.Contains("hi from dave", await TextsAsync(bob, room.IdText));
        await bob.Core.Rooms.SendAsync(room.IdText, "hi from bob", CancellationToken.None);
        await SettleAsync();
        Assert.Equal(["hi from dave", "hi from bob"], await TextsAsync(bob, room.IdText));
    }

    [Fact]
    public async Task Only_an_admin_changes_the_room_and_a_failed_change_leaves_it_as_it_was()
    {
        var (alice, bob) = (await AddAsync("alice"), await AddAsync("bob"));
        var room = await alice.Core.Rooms.CreateAsync("rules", historyEnabled: false, CancellationToken.None);
        await alice.Core.Rooms.InviteAsync(room.IdText, bob.HandleText, CancellationToken.None);
        await SettleAsync();
        await bob.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        await SettleAsync();

        await Assert.ThrowsAsync<ChatException>(() => bob.Core.Rooms.ChangeRoomAsync(room.IdText, Parley.Chat.Groups.MembershipChange.Rename("mine"), CancellationToken.None));
        await Assert.ThrowsAsync<ChatException>(() => alice.Core.Rooms.InviteAsync(room.IdText, bob.HandleText, CancellationToken.None));

        Assert.Equal("rules", (await bob.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Name);
        Assert.Equal(2, (await alice.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count);
        await alice.Core.Rooms.ChangeRoomAsync(room.IdText, Parley.Chat.Groups.MembershipChange.Rename("our rules"), CancellationToken.None);
        await SettleAsync();
        Assert.Equal("our rules", (await bob.Chat.GetGroupAsync("our rules", CancellationToken.None)).Name);
    }

    [Fact]
    public async Task An_invitee_is_given_the_inviting_admins_directory_records_with_the_welcome_so_its_join_needs_no_lookup()
    {
        _world.Directory.PublishedRecordBytes = 512;
        var (alice, bob) = (await AddAsync("alice"), await AddAsync("bob"));
        var room = await alice.Core.Rooms.CreateAsync("club", historyEnabled: false, CancellationToken.None);

        await alice.Core.Rooms.InviteAsync(room.IdText, bob.HandleText, CancellationToken.None);
        await SettleAsync();

        // Before bob answers, the welcome alone told him where alice is (no Keys have been sent yet).
        var told = Assert.Single(_world.Directory.RememberedRecords, r => r.Account == alice.Chat.Account.Id);
        Assert.Equal(512, told.Records.Presence?.Length);
        Assert.Equal(512, told.Records.Prekeys?.Length);
        await bob.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        await SettleAsync();
        Assert.Equal(2, (await alice.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count);
    }

    [Fact]
    public async Task In_a_large_room_the_keys_and_records_an_admin_passes_on_fit_the_envelopes_members_and_mailboxes_take()
    {
        // Records as heavy as real ones make what the admin passes on to the last member to join (19 members' chains
        // and records, about 80 KB) more than one envelope holds (64 KiB, for a chat stream and for a mailbox).
        _world.Directory.PublishedRecordBytes = 2048;
        var alice = await AddAsync("alice");
        var others = new List<FakeChatUser>();
        for (var i = 0; i < 20; i++)
        {
            others.Add(await AddAsync($"member{i}"));
        }
        var room = await alice.Core.Rooms.CreateAsync("crowd", historyEnabled: false, CancellationToken.None);
        foreach (var member in others)
        {
            await alice.Core.Rooms.InviteAsync(room.IdText, member.HandleText, CancellationToken.None);
        }
        await SettleAsync();
        foreach (var member in others)
        {
            await member.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        }
        await SettleAsync();

        foreach (var user in _users)
        {
            await user.Core.Rooms.SendAsync(room.IdText, $"hi from {user.Chat.Handle.Name}", CancellationToken.None);
        }
        await SettleAsync();

        Assert.Equal(0, await alice.Chat.CountOutboxAsync(CancellationToken.None));
        foreach (var user in _users)
        {
            Assert.Equal(_users.Count, (await TextsAsync(user, room.IdText)).Count);
        }
    }

    [Fact]
    public async Task A_welcome_larger_than_an_envelope_comes_in_parts_and_the_newcomer_takes_the_room_once_all_are_in()
    {
        var (alice, bob, carol) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("carol"));
        var room = await LargeLogRoomAsync(alice, renames: 160);
        foreach (var invitee in new[] { bob, carol })
        {
            var toInvitee = 0;
            // Counts the envelopes to the invitee, losing none.
            _world.Hub.Lose = device => device == invitee.Chat.Device.DeviceId && ++toInvitee < 0;
            await alice.Core.Rooms.InviteAsync(room, invitee.HandleText, CancellationToken.None);
            await alice.FlushAsync();
            Assert.Equal(2, toInvitee);
            await SettleAsync();
            await invitee.Core.Rooms.JoinAsync(room, CancellationToken.None);
            await SettleAsync();
        }
        foreach (var user in _users)
        {
            await user.Core.Rooms.SendAsync(room, $"hi from {user.Chat.Handle.Name}", CancellationToken.None);
        }
        await SettleAsync();

        var reference = await alice.Chat.GetGroupAsync(room, CancellationToken.None);
        foreach (var user in _users)
        {
            var info = await user.Chat.GetGroupAsync(room, CancellationToken.None);
            Assert.Equal(GroupStatus.Member, info.Status);
            Assert.Equal(reference.Name, info.Name);
            Assert.Equal(3, info.Members.Count);
            Assert.Equal(3, (await TextsAsync(user, room)).Count);
        }
    }

    [Fact]
    public async Task A_lost_part_of_a_welcome_is_sent_again_and_the_room_is_not_shown_before()
    {
        var (alice, bob) = (await AddAsync("alice"), await AddAsync("bob"));
        var room = await LargeLogRoomAsync(alice, renames: 300);
        var toBob = 0;
        // The welcome takes three envelopes; the second is lost.
        _world.Hub.Lose = device => device == bob.Chat.Device.DeviceId && ++toBob == 2;
        await alice.Core.Rooms.InviteAsync(room, bob.HandleText, CancellationToken.None);
        await alice.FlushAsync();

        Assert.True(toBob >= 3);
        Assert.Empty(await bob.Chat.GetGroupsAsync(CancellationToken.None));
        await SettleAsync();

        var info = await bob.Chat.GetGroupAsync(room, CancellationToken.None);
        Assert.Equal(GroupStatus.Invited, info.Status);
        Assert.Equal((await alice.Chat.GetGroupAsync(room, CancellationToken.None)).Name, info.Name);
        await bob.Core.Rooms.JoinAsync(room, CancellationToken.None);
        await SettleAsync();
        await bob.Core.Rooms.SendAsync(room, "made it", CancellationToken.None);
        await SettleAsync();
        Assert.Equal(["made it"], await TextsAsync(alice, room));
    }

    /// <summary>A room whose log alone is larger than an envelope: renamed many times with long names (about 470 bytes an entry).</summary>
    private static async Task<string> LargeLogRoomAsync(FakeChatUser admin, int renames)
    {
        var room = (await admin.Core.Rooms.CreateAsync("big log", historyEnabled: false, CancellationToken.None)).IdText;
        for (var i = 0; i < renames; i++)
        {
            await admin.Core.Rooms.ChangeRoomAsync(room, Parley.Chat.Groups.MembershipChange.Rename($"{i:D4} {new string('x', 250)}"), CancellationToken.None);
        }
        return room;
    }

    /// <summary>A room created by <paramref name="admin"/>, every invitee invited, then every one joined.</summary>
    private async Task<GroupInfo> RoomAsync(FakeChatUser admin, params FakeChatUser[] invitees)
    {
        var room = await admin.Core.Rooms.CreateAsync("club", historyEnabled: false, CancellationToken.None);
        foreach (var invitee in invitees)
        {
            await admin.Core.Rooms.InviteAsync(room.IdText, invitee.HandleText, CancellationToken.None);
        }
        await SettleAsync();
        foreach (var invitee in invitees)
        {
            await invitee.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        }
        await SettleAsync();
        return room;
    }

    private async Task<FakeChatUser> AddAsync(string name)
    {
        var user = await _world.AddUserAsync(name);
        _users.Add(user);
        return user;
    }

    private static async Task<List<string>> TextsAsync(FakeChatUser user, string room) =>
        (await user.Chat.GetGroupHistoryAsync(room, 1000, CancellationToken.None)).Messages.Select(m => m.Text).ToList();

    private Task SettleAsync() => _world.SettleAsync();
}
