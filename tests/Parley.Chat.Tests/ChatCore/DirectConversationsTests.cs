using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class DirectConversationsTests : AliceAndBobTest
{
    [Fact]
    public async Task The_first_message_to_someone_new_is_the_request_and_the_next_ones_follow_it_causally()
    {
        var first = await Alice.Core.Conversations.SendAsync(Bob.HandleText, "one", CancellationToken.None);
        var second = await Alice.Core.Conversations.SendAsync("bob", "two", CancellationToken.None);

        Assert.True(first.IsContactRequest);
        Assert.False(second.IsContactRequest);
        Assert.Equal(DeliveryState.Queued, first.State);
        Assert.Equal(first.Lamport + 1, second.Lamport);
        Assert.Equal(first.Id, Assert.Single(second.Parents));
        await Alice.FlushAsync();
        var received = await Bob.Chat.GetUnreadAsync(CancellationToken.None);
        Assert.Equal(["one", "two"], received.Select(m => m.Text));
        Assert.True(received[0].IsContactRequest);
    }

    [Fact]
    public async Task Empty_oversized_and_blocked_sends_are_refused_before_anything_is_queued()
    {
        await Assert.ThrowsAsync<ChatException>(() => Alice.Core.Conversations.SendAsync(Bob.HandleText, "  ", CancellationToken.None));
        await Assert.ThrowsAsync<ChatException>(() => Alice.Core.Conversations.SendAsync(Bob.HandleText, new string('x', FakeChatWorld.Options.MaxTextBytes + 1), CancellationToken.None));
        await Alice.Chat.SendAsync(Bob.HandleText, "hi", CancellationToken.None);
        await Alice.Chat.BlockAsync("bob", CancellationToken.None);

        await Assert.ThrowsAsync<ChatException>(() => Alice.Core.Conversations.SendAsync("bob", "again", CancellationToken.None));

        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Marking_read_sends_a_read_receipt_only_to_accepted_contacts()
    {
        await Alice.Chat.SendAsync(Bob.HandleText, "request", CancellationToken.None);
        await Alice.FlushAsync();
        await Bob.Core.Conversations.MarkReadAsync(await Bob.Chat.GetUnreadAsync(CancellationToken.None), CancellationToken.None);
        Assert.Equal(0, await Bob.Chat.CountOutboxAsync(CancellationToken.None));

        await Bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await Bob.FlushAsync();
        await Alice.Chat.SendAsync("bob", "now?", CancellationToken.None);
        await Alice.FlushAsync();
        await Bob.Core.Conversations.MarkReadAsync(await Bob.Chat.GetUnreadAsync(CancellationToken.None), CancellationToken.None);

        var receipt = Envelope.Parser.ParseFrom(Assert.Single(await Bob.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None)).Envelope);
        Assert.Empty(receipt.GroupMessage);
        await Bob.FlushAsync();
        Assert.Equal(DeliveryState.Read, (await Alice.HistoryWithAsync(Bob))[^1].State);
        Assert.Empty(await Bob.Chat.GetUnreadAsync(CancellationToken.None));
    }
}
