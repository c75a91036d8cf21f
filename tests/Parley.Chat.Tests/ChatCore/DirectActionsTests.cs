using Google.Protobuf;
using Parley.Chat.Conversations;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>Replies, edits, deletions and reactions in a 1:1 conversation, on the fakes.</summary>
public sealed class DirectActionsTests : AliceAndBobTest
{
    private static readonly CancellationToken None = CancellationToken.None;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await MakeContactsAsync();
    }

    [Fact]
    public async Task A_reply_quotes_its_message_on_both_sides_and_must_name_one_of_the_conversation()
    {
        var question = await Bob.Chat.SendAsync("alice", "coming tonight?", None);
        await Bob.FlushAsync();

        var reply = await Alice.Chat.SendAsync("bob", "yes!", question.Id, None);
        await Alice.FlushAsync();

        Assert.Equal(question.Id, reply.Target);
        Assert.Equal("coming tonight?", reply.Quote!.Text);
        var atBob = (await Bob.HistoryWithAsync(Alice))[^1];
        Assert.Equal("yes!", atBob.Text);
        Assert.Equal(Bob.Chat.Account.Id, atBob.Quote!.From);
        Assert.Equal("coming tonight?", atBob.Quote.Text);
        Assert.Equal("coming tonight?", Bob.Received[^1].Quote!.Text);
        await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.SendAsync("bob", "to nothing", new byte[16], None));
    }

    [Fact]
    public async Task An_edit_shows_on_both_sides_as_edited_and_only_the_author_may_edit()
    {
        var sent = await Alice.Chat.SendAsync("bob", "see you at 8", None);
        await Alice.FlushAsync();
        var updates = Updates(Bob);

        var edited = await Alice.Chat.EditAsync("bob", sent.Id, "see you at 9", None);
        await Alice.FlushAsync();

        Assert.Equal("see you at 9", edited.Text);
        Assert.NotNull(edited.EditedAt);
        var atBob = Assert.Single(await Bob.HistoryWithAsync(Alice), m => m.Id.AsSpan().SequenceEqual(sent.Id));
        Assert.Equal("see you at 9", atBob.Text);
        Assert.Equal(edited.EditedAt, atBob.EditedAt);
        Assert.Equal("see you at 9", Assert.Single(updates).Text);
        // Not bob's to edit: refused on his side, and ignored on hers when forged.
        await Assert.ThrowsAsync<ChatException>(() => Bob.Chat.EditAsync("alice", sent.Id, "see you never", None));
        await ForgeAsync(Bob, Alice, content => content.Edit = new MessageEdit { Target = ByteString.CopyFrom(sent.Id), Text = "forged" });
        await ForgeAsync(Bob, Alice, content => content.Deletion = new MessageDeletion { Target = ByteString.CopyFrom(sent.Id) });
        Assert.Equal("see you at 9", Assert.Single(await Alice.HistoryWithAsync(Bob), m => m.Id.AsSpan().SequenceEqual(sent.Id)).Text);
        Assert.False(Assert.Single(await Alice.HistoryWithAsync(Bob), m => m.Id.AsSpan().SequenceEqual(sent.Id)).Deleted);
    }

    [Fact]
    public async Task A_deletion_erases_the_text_its_edits_and_its_reactions_from_both_stores()
    {
        var sent = await Alice.Chat.SendAsync("bob", "secret plan", None);
        await Alice.FlushAsync();
        await Bob.Chat.ReactAsync("alice", sent.Id, "😮", None);
        await Bob.FlushAsync();
        await Alice.Chat.EditAsync("bob", sent.Id, "secret plan v2", None);
        await Alice.FlushAsync();

        var deleted = await Alice.Chat.DeleteForEveryoneAsync("bob", sent.Id, None);
        await Alice.FlushAsync();

        Assert.True(deleted.Deleted);
        foreach (var (user, other) in new[] { (Alice, Bob), (Bob, Alice) })
        {
            var message = Assert.Single(await user.HistoryWithAsync(other), m => m.Id.AsSpan().SequenceEqual(sent.Id));
            Assert.True(message.Deleted);
            Assert.Equal("", message.Text);
            Assert.Empty(message.Reactions);
            var rows = await user.Store.ReadAsync(r => r.GetActionsSince(message.ConversationId, 0, 100).Concat(r.GetMessages(message.ConversationId, 100)).ToList(), None);
            Assert.DoesNotContain(rows, r => r.Text.Contains("secret", StringComparison.Ordinal) || r.Text == "😮");
        }
        await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.EditAsync("bob", sent.Id, "back again", None));
        await Assert.ThrowsAsync<ChatException>(() => Bob.Chat.ReactAsync("alice", sent.Id, "👍", None));
    }

    [Fact]
    public async Task An_edit_or_a_deletion_that_overtakes_its_message_is_applied_when_the_message_comes()
    {
        var first = await Alice.Chat.SendAsync("bob", "draft", None);
        await Alice.Chat.EditAsync("bob", first.Id, "final", None);
        var second = await Alice.Chat.SendAsync("bob", "oops, wrong chat", None);
        await Alice.Chat.DeleteForEveryoneAsync("bob", second.Id, None);
        // The deletion took the undelivered message out of the outbox: it never travels.
        Assert.Null(await Alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 100).FirstOrDefault(i => i.MessageId?.AsSpan().SequenceEqual(second.Id) == true), None));
        var held = await TakeOutboxItemAsync(Alice, first.Id);

        await Alice.FlushAsync();
        Assert.DoesNotContain(await Bob.HistoryWithAsync(Alice), m => m.Id.AsSpan().SequenceEqual(first.Id));
        await Alice.Store.TransactAsync(tx =>
        {
            tx.PutOutbox(held);
            return true;
        }, None);
        await Alice.FlushAsync();

        var atBob = Assert.Single(await Bob.HistoryWithAsync(Alice), m => m.Id.AsSpan().SequenceEqual(first.Id));
        Assert.Equal("final", atBob.Text);
        Assert.NotNull(atBob.EditedAt);
        Assert.Equal("final", Bob.Received.Single(m => m.Id.AsSpan().SequenceEqual(first.Id)).Text);
        Assert.DoesNotContain(Bob.Received, m => m.Text.Contains("wrong chat", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Each_person_has_one_reaction_per_message_the_latest_and_an_empty_one_withdraws_it()
    {
        var sent = await Alice.Chat.SendAsync("bob", "pizza?", None);
        await Alice.FlushAsync();

        await Bob.Chat.ReactAsync("alice", sent.Id, "👍", None);
        await Bob.Chat.ReactAsync("alice", sent.Id, "❤️", None);
        await Alice.Chat.ReactAsync("bob", sent.Id, "🍕", None);
        await Bob.FlushAsync();
        await Alice.FlushAsync();

        foreach (var (user, other) in new[] { (Alice, Bob), (Bob, Alice) })
        {
            var reactions = (await user.HistoryWithAsync(other))[^1].Reactions;
            Assert.Equal(["❤️ bob", "🍕 alice"], reactions.Select(r => $"{r.Emoji} {(r.From == Bob.Chat.Account.Id ? "bob" : "alice")}").Order());
        }
        await Bob.Chat.ReactAsync("alice", sent.Id, "", None);
        await Bob.FlushAsync();
        Assert.Equal(["🍕"], (await Alice.HistoryWithAsync(Bob))[^1].Reactions.Select(r => r.Emoji));
        foreach (var notOne in new[] { "a sentence", "ok", "x", "👍👍", "é", "👍\n👍" })
        {
            await Assert.ThrowsAsync<ChatException>(() => Bob.Chat.ReactAsync("alice", sent.Id, notOne, None));
        }
        foreach (var one in new[] { "👍🏽", "🇩🇪", "👨‍👩‍👧", "1️⃣", "❤️" })
        {
            Assert.Contains(one, (await Bob.Chat.ReactAsync("alice", sent.Id, one, None)).Reactions.Select(r => r.Emoji));
        }
    }

    [Fact]
    public async Task A_message_can_be_edited_or_deleted_for_everyone_for_24_hours()
    {
        var sent = await Alice.Chat.SendAsync("bob", "old news", None);
        World.Time.Advance(TimeSpan.FromHours(24) + TimeSpan.FromMinutes(1));

        await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.EditAsync("bob", sent.Id, "new news", None));
        await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.DeleteForEveryoneAsync("bob", sent.Id, None));
        Assert.Equal("👏", Assert.Single((await Alice.Chat.ReactAsync("bob", sent.Id, "👏", None)).Reactions).Emoji);
    }

    [Fact]
    public async Task An_action_travels_through_the_mailbox_and_its_delivery_is_no_state_event()
    {
        var sent = await Alice.Chat.SendAsync("bob", "hello again", None);
        await Alice.FlushAsync();
        await Bob.GoOfflineAsync();
        Alice.StateChanges.Clear();

        await Alice.Chat.EditAsync("bob", sent.Id, "hello once more", None);
        await Alice.FlushAsync();
        Assert.Equal(1, World.Mailboxes.Waiting(Bob.Chat.Account.Id));
        await Bob.ComeOnlineAsync();
        await Bob.FlushAsync();
        await Alice.FlushAsync();

        Assert.Equal("hello once more", (await Bob.HistoryWithAsync(Alice))[^1].Text);
        // Bob's delivered receipt took the edit out of alice's outbox, and told her nothing to show.
        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(None));
        Assert.Empty(Alice.StateChanges);
    }

    private static List<MessageRecord> Updates(FakeChatUser user)
    {
        var updates = new List<MessageRecord>();
        user.Chat.MessageUpdated += (_, e) => updates.Add(e.Message);
        return updates;
    }

    /// <summary>Takes the outbox entry of a message out (to deliver it later, after what was queued behind it).</summary>
    private static Task<OutboxItem> TakeOutboxItemAsync(FakeChatUser user, byte[] messageId) =>
        user.Store.TransactAsync(tx =>
        {
            var item = tx.GetOutbox(DateTimeOffset.MaxValue, 100).Single(i => i.MessageId?.AsSpan().SequenceEqual(messageId) == true);
            tx.DeleteOutbox(item.EnvelopeId);
            return item;
        }, None);

    /// <summary>Sends content a well-behaved client would refuse to (an action on someone else's message), past its checks.</summary>
    private static async Task ForgeAsync(FakeChatUser from, FakeChatUser to, Action<Content> body)
    {
        await from.Store.TransactAsync(tx =>
        {
            var contact = tx.GetContact(to.Chat.Account.Id)!;
            var conversation = ConversationIds.Direct(from.Chat.Account.Id, to.Chat.Account.Id);
            var (content, _) = DirectConversations.NextContent(tx, from.Core.Context, conversation);
            body(content);
            from.Core.Sessions.Queue(tx, contact, content, null, null);
            return true;
        }, None);
        await from.FlushAsync();
    }
}
