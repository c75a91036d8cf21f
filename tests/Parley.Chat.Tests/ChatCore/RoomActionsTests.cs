using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>Replies, edits, deletions and reactions in a room of three, on the fakes.</summary>
public sealed class RoomActionsTests : IAsyncLifetime
{
    private static readonly CancellationToken None = CancellationToken.None;

    private readonly FakeChatWorld _world = new();
    private readonly List<FakeChatUser> _users = [];
    private FakeChatUser _alice = null!;
    private FakeChatUser _bob = null!;
    private FakeChatUser _carol = null!;
    private GroupInfo _room = null!;

    public async Task InitializeAsync()
    {
        (_alice, _bob, _carol) = (await AddAsync("alice"), await AddAsync("bob"), await AddAsync("carol"));
        _room = await _alice.Chat.CreateGroupAsync("club", historyEnabled: true, None);
        foreach (var invitee in new[] { _bob, _carol })
        {
            await _alice.Chat.InviteToGroupAsync(_room.IdText, invitee.HandleText, None);
            await SettleAsync();
            await invitee.Chat.JoinGroupAsync(_room.IdText, None);
            await SettleAsync();
        }
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Members_reply_react_edit_and_delete_and_every_member_shows_the_same()
    {
        var question = await _alice.Chat.SendToGroupAsync(_room.IdText, "who brings the book?", None);
        await SettleAsync();
        var answer = await _bob.Chat.SendToGroupAsync(_room.IdText, "I do", question.Id, None);
        await _carol.Chat.ReactInGroupAsync(_room.IdText, question.Id, "👍", None);
        await _alice.Chat.EditInGroupAsync(_room.IdText, question.Id, "who brings the second book?", None);
        var mistake = await _carol.Chat.SendToGroupAsync(_room.IdText, "my address is 12 Elm St", None);
        await SettleAsync();
        await _carol.Chat.DeleteInGroupForEveryoneAsync(_room.IdText, mistake.Id, None);
        await SettleAsync();

        foreach (var user in _users)
        {
            var messages = (await user.Chat.GetGroupHistoryAsync(_room.IdText, 100, None)).Messages;
            Assert.Equal(3, messages.Count);
            var first = Single(messages, question.Id);
            Assert.Equal("who brings the second book?", first.Text);
            Assert.NotNull(first.EditedAt);
            Assert.Equal((_carol.Chat.Account.Id, "👍"), first.Reactions.Select(r => (r.From, r.Emoji)).Single());
            var reply = Single(messages, answer.Id);
            Assert.Equal(question.Id, reply.Target);
            Assert.Equal("who brings the second book?", reply.Quote!.Text);
            Assert.Equal(_alice.Chat.Account.Id, reply.Quote.From);
            var erased = Single(messages, mistake.Id);
            Assert.True(erased.Deleted);
            Assert.Equal("", erased.Text);
            var stored = await user.Store.ReadAsync(r => r.GetGroupMessage(mistake.Id)!, None);
            Assert.Null(stored.Ciphertext);
            Assert.DoesNotContain("Elm St", System.Text.Encoding.UTF8.GetString(stored.Body), StringComparison.Ordinal);
            Assert.Empty((await user.Chat.GetGroupHistoryAsync(_room.IdText, 100, None)).Gaps);
        }
        // Only the author edits or deletes.
        await Assert.ThrowsAsync<ChatException>(() => _bob.Chat.EditInGroupAsync(_room.IdText, question.Id, "mine now", None));
        await Assert.ThrowsAsync<ChatException>(() => _bob.Chat.DeleteInGroupForEveryoneAsync(_room.IdText, question.Id, None));
    }

    [Fact]
    public async Task A_deleted_room_message_stays_erased_after_a_restart_and_the_room_goes_on_without_gaps()
    {
        var mistake = await _bob.Chat.SendToGroupAsync(_room.IdText, "wrong room", None);
        await SettleAsync();
        await _bob.Chat.DeleteInGroupForEveryoneAsync(_room.IdText, mistake.Id, None);
        await SettleAsync();

        await _carol.GoOfflineAsync();
        await _carol.ComeOnlineAsync();
        await _alice.Chat.SendToGroupAsync(_room.IdText, "after the restart", None);
        await SettleAsync();

        var history = await _carol.Chat.GetGroupHistoryAsync(_room.IdText, 100, None);
        Assert.Equal(["", "after the restart"], history.Messages.Select(m => m.Text));
        Assert.True(history.Messages[0].Deleted);
        Assert.Empty(history.Gaps);
    }

    [Fact]
    public async Task A_reaction_that_arrives_before_its_message_is_shown_with_it()
    {
        var message = await _alice.Chat.SendToGroupAsync(_room.IdText, "first!", None);
        // Carol gets alice's message; bob's copy waits in alice's outbox.
        var held = await _alice.Store.TransactAsync(tx =>
        {
            var copy = tx.GetOutbox(DateTimeOffset.MaxValue, 100).Single(i => i.Recipient == _bob.Chat.Account.Id && i.MessageId?.AsSpan().SequenceEqual(message.Id) == true);
            tx.DeleteOutbox(copy.EnvelopeId);
            return copy;
        }, None);
        await _alice.FlushAsync();
        await _carol.Chat.ReactInGroupAsync(_room.IdText, message.Id, "🎉", None);
        await _carol.FlushAsync();
        Assert.Empty((await _bob.Chat.GetGroupHistoryAsync(_room.IdText, 100, None)).Messages);

        await _alice.Store.TransactAsync(tx =>
        {
            tx.PutOutbox(held);
            return true;
        }, None);
        await SettleAsync();

        var atBob = Assert.Single((await _bob.Chat.GetGroupHistoryAsync(_room.IdText, 100, None)).Messages);
        Assert.Equal("first!", atBob.Text);
        Assert.Equal("🎉", Assert.Single(atBob.Reactions).Emoji);
    }

    [Fact]
    public async Task History_for_a_new_member_carries_edits_and_reactions_and_leaves_deleted_messages_out()
    {
        var kept = await _alice.Chat.SendToGroupAsync(_room.IdText, "agenda: 1", None);
        var gone = await _alice.Chat.SendToGroupAsync(_room.IdText, "the door code is 1234", None);
        await SettleAsync();
        await _alice.Chat.EditInGroupAsync(_room.IdText, kept.Id, "agenda: 1, 2", None);
        await _bob.Chat.ReactInGroupAsync(_room.IdText, kept.Id, "✅", None);
        await _alice.Chat.DeleteInGroupForEveryoneAsync(_room.IdText, gone.Id, None);
        await SettleAsync();

        var dave = await AddAsync("dave");
        await _alice.Chat.InviteToGroupAsync(_room.IdText, dave.HandleText, None);
        await SettleAsync();
        await dave.Chat.JoinGroupAsync(_room.IdText, None);
        await SettleAsync();

        var messages = (await dave.Chat.GetGroupHistoryAsync(_room.IdText, 100, None)).Messages;
        var agenda = Assert.Single(messages);
        Assert.Equal("agenda: 1, 2", agenda.Text);
        Assert.Equal("✅", Assert.Single(agenda.Reactions).Emoji);
        Assert.True(agenda.FromHistory);
    }

    private static GroupMessageRecord Single(IReadOnlyList<GroupMessageRecord> messages, byte[] id) => Assert.Single(messages, m => m.Id.AsSpan().SequenceEqual(id));

    private async Task<FakeChatUser> AddAsync(string name)
    {
        var user = await _world.AddUserAsync(name);
        _users.Add(user);
        return user;
    }

    private Task SettleAsync() => _world.SettleAsync();
}
