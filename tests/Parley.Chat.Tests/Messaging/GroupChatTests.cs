using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.Messaging;

/// <summary>Rooms end to end through the chat engine on the in-memory network: joining both ways, order, offline members, removal.</summary>
public sealed class GroupChatTests : IAsyncLifetime
{
    private ChatTestNetwork _network = null!;

    public async Task InitializeAsync() => _network = await ChatTestNetwork.StartAsync(16);

    public async Task DisposeAsync() => await _network.DisposeAsync();

    [Fact]
    public async Task Five_users_invite_request_approve_chat_catch_up_and_kick()
    {
        var users = new Dictionary<string, ChatUser>();
        foreach (var name in new[] { "alice", "bob", "carol", "dave", "erin" })
        {
            users[name] = await _network.AddUserAsync(name);
        }
        var (alice, bob, carol, dave, erin) = (users["alice"], users["bob"], users["carol"], users["dave"], users["erin"]);

        var room = await alice.Chat.CreateGroupAsync("book club", historyEnabled: true, CancellationToken.None);
        Assert.True(room.IsAdmin);
        var roomId = room.IdText;

        // By invitation: bob, carol and erin.
        foreach (var invitee in new[] { bob, carol, erin })
        {
            await alice.Chat.InviteToGroupAsync(roomId, invitee.Chat.Handle.ToString(), CancellationToken.None);
        }
        await SettleAsync(users.Values);
        foreach (var invitee in new[] { bob, carol, erin })
        {
            var invitation = Assert.Single(await invitee.Chat.GetGroupsAsync(CancellationToken.None));
            Assert.Equal(GroupStatus.Invited, invitation.Status);
            await invitee.Chat.JoinGroupAsync(roomId, CancellationToken.None);
        }
        await SettleAsync(users.Values);

        // By request through the link: dave asks, alice approves.
        await dave.Chat.JoinGroupAsync(room.InviteLink!, CancellationToken.None);
        await SettleAsync(users.Values);
        var pending = await alice.Chat.GetGroupAsync(roomId, CancellationToken.None);
        Assert.Equal(dave.Chat.Handle, Assert.Single(pending.Requests).Handle);
        await alice.Chat.ApproveAsync(roomId, dave.Chat.Handle.ToString(), CancellationToken.None);
        await SettleAsync(users.Values);

        foreach (var user in users.Values)
        {
            var info = await user.Chat.GetGroupAsync(roomId, CancellationToken.None);
            Assert.True(info.Status == GroupStatus.Member && info.Members.Count == 5, $"{user.Chat.Handle}: {info.Status}, {info.Members.Count} members; log: {string.Join(" | ", info.Audit)}");
        }

        // Everyone writes once; every member shows the same messages in the same order.
        foreach (var user in users.Values)
        {
            await user.Chat.SendToGroupAsync(roomId, $"hello from {user.Chat.Handle.Name}", CancellationToken.None);
            await SettleAsync(users.Values);
        }
        var reference = await TextsAsync(alice, roomId);
        Assert.Equal(5, reference.Count);
        foreach (var user in users.Values)
        {
            Assert.Equal(reference, await TextsAsync(user, roomId));
        }

        // Erin goes offline, misses three messages, and catches up from her mailbox when she returns.
        await erin.GoOfflineAsync();
        var online = users.Values.Where(u => u != erin).ToList();
        for (var i = 0; i < 3; i++)
        {
            await bob.Chat.SendToGroupAsync(roomId, $"while erin is away {i}", CancellationToken.None);
        }
        await SettleAsync(online);
        await erin.ComeOnlineAsync();
        await SettleAsync(users.Values);
        Assert.Equal(await TextsAsync(alice, roomId), await TextsAsync(erin, roomId));
        Assert.Contains("while erin is away 2", await TextsAsync(erin, roomId));

        // Carol is removed: the others rotate their keys, and what is sent afterwards is unreadable to her.
        var beforeKick = (await carol.Chat.GetGroupAsync(roomId, CancellationToken.None)).Epoch;
        await alice.Chat.KickAsync(roomId, carol.Chat.Handle.ToString(), CancellationToken.None);
        await SettleAsync(users.Values);
        Assert.Equal(GroupStatus.Removed, (await carol.Chat.GetGroupAsync(roomId, CancellationToken.None)).Status);
        Assert.True((await bob.Chat.GetGroupAsync(roomId, CancellationToken.None)).Epoch > beforeKick);
        await bob.Chat.SendToGroupAsync(roomId, "after carol left", CancellationToken.None);
        await SettleAsync(users.Values);
        Assert.Contains("after carol left", await TextsAsync(dave, roomId));
        Assert.DoesNotContain("after carol left", await TextsAsync(carol, roomId));

        // Give carol the very ciphertext the others got: she cannot read it.
        var sent = (await bob.Chat.GetGroupHistoryAsync(roomId, 100, CancellationToken.None)).Messages.Single(m => m.Text == "after carol left");
        Assert.NotNull(sent.Ciphertext);
        var stolen = new Envelope { EnvelopeId = Google.Protobuf.ByteString.CopyFrom(new byte[16]), GroupMessage = Google.Protobuf.ByteString.CopyFrom(sent.Ciphertext) };
        await carol.DeliverRawAsync(stolen);
        Assert.DoesNotContain("after carol left", await TextsAsync(carol, roomId));
        await Assert.ThrowsAsync<ChatException>(() => carol.Chat.SendToGroupAsync(roomId, "can I still write?", CancellationToken.None));

        // Everyone still in the room sees the same membership log.
        var audit = (await alice.Chat.GetGroupAsync(roomId, CancellationToken.None)).Audit;
        foreach (var user in new[] { bob, dave, erin })
        {
            Assert.Equal(audit, (await user.Chat.GetGroupAsync(roomId, CancellationToken.None)).Audit);
        }
    }

    [Fact]
    public async Task Two_admins_acting_at_once_leave_every_member_with_the_same_log()
    {
        var alice = await _network.AddUserAsync("alice");
        var bob = await _network.AddUserAsync("bob");
        var carol = await _network.AddUserAsync("carol");
        var users = new[] { alice, bob, carol };
        var room = await alice.Chat.CreateGroupAsync("admins", historyEnabled: false, CancellationToken.None);
        foreach (var invitee in new[] { bob, carol })
        {
            await alice.Chat.InviteToGroupAsync(room.IdText, invitee.Chat.Handle.ToString(), CancellationToken.None);
            await SettleAsync(users);
            await invitee.Chat.JoinGroupAsync(room.IdText, CancellationToken.None);
            await SettleAsync(users);
        }
        await alice.Chat.PromoteAsync(room.IdText, bob.Chat.Handle.ToString(), CancellationToken.None);
        await SettleAsync(users);

        // At the same moment (neither has seen the other's change): alice removes carol, bob renames the room.
        await alice.Chat.KickAsync(room.IdText, carol.Chat.Handle.ToString(), CancellationToken.None);
        await bob.Chat.RenameGroupAsync(room.IdText, "renamed", CancellationToken.None);
        await SettleAsync(users);

        var aliceView = await alice.Chat.GetGroupAsync(room.IdText, CancellationToken.None);
        var bobView = await bob.Chat.GetGroupAsync(room.IdText, CancellationToken.None);
        Assert.Equal(aliceView.Audit, bobView.Audit);
        Assert.Equal("renamed", aliceView.Name);
        Assert.Equal(2, aliceView.Members.Count);
        Assert.Equal(aliceView.Members.Select(m => m.Handle), bobView.Members.Select(m => m.Handle));
    }

    [Fact]
    public async Task A_room_that_keeps_history_gives_it_to_a_new_member_and_one_that_does_not_gives_nothing()
    {
        var alice = await _network.AddUserAsync("alice");
        var bob = await _network.AddUserAsync("bob");
        var carol = await _network.AddUserAsync("carol");
        var users = new[] { alice, bob, carol };
        foreach (var history in new[] { true, false })
        {
            var room = await alice.Chat.CreateGroupAsync(history ? "with history" : "without history", history, CancellationToken.None);
            await alice.Chat.InviteToGroupAsync(room.IdText, bob.Chat.Handle.ToString(), CancellationToken.None);
            await SettleAsync(users);
            await bob.Chat.JoinGroupAsync(room.IdText, CancellationToken.None);
            await SettleAsync(users);
            await alice.Chat.SendToGroupAsync(room.IdText, "before carol", CancellationToken.None);
            // Bob answers after he has alice's message, so the two are causally ordered, not concurrent.
            await SettleAsync(users);
            await bob.Chat.SendToGroupAsync(room.IdText, "also before carol", CancellationToken.None);
            await SettleAsync(users);

            await alice.Chat.InviteToGroupAsync(room.IdText, carol.Chat.Handle.ToString(), CancellationToken.None);
            await SettleAsync(users);
            await carol.Chat.JoinGroupAsync(room.IdText, CancellationToken.None);
            await SettleAsync(users);
            await alice.Chat.SendToGroupAsync(room.IdText, "welcome carol", CancellationToken.None);
            await SettleAsync(users);

            var carolSees = (await carol.Chat.GetGroupHistoryAsync(room.IdText, 100, CancellationToken.None)).Messages;
            if (history)
            {
                Assert.Equal(["before carol", "also before carol", "welcome carol"], carolSees.Select(m => m.Text));
                Assert.True(carolSees[0].FromHistory && carolSees[1].FromHistory && !carolSees[2].FromHistory);
                Assert.Equal(await TextsAsync(alice, room.IdText), carolSees.Select(m => m.Text));
            }
            else
            {
                Assert.Equal(["welcome carol"], carolSees.Select(m => m.Text));
            }
        }
    }

    private static async Task<List<string>> TextsAsync(ChatUser user, string room) =>
        (await user.Chat.GetGroupHistoryAsync(room, 1000, CancellationToken.None)).Messages.Select(m => m.Text).ToList();

    /// <summary>Runs outbox passes and mailbox fetches on every user until nothing is left to send.</summary>
    private static async Task SettleAsync(IEnumerable<ChatUser> users)
    {
        var list = users.ToList();
        for (var round = 0; round < 12; round++)
        {
            foreach (var user in list)
            {
                await user.Chat.FlushOutboxAsync(CancellationToken.None);
            }
            foreach (var user in list)
            {
                await user.Chat.FetchMailboxAsync(CancellationToken.None);
            }
            var unsent = 0;
            foreach (var user in list)
            {
                unsent += await user.Chat.CountOutboxAsync(CancellationToken.None, unsentOnly: true);
            }
            if (unsent == 0 && round > 1)
            {
                return;
            }
        }
    }
}
