using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class DirectConversationsTests : IAsyncLifetime
{
    private readonly FakeChatWorld _world = new();
    private FakeChatUser _alice = null!;
    private FakeChatUser _bob = null!;

    public async Task InitializeAsync()
    {
        _alice = await _world.AddUserAsync("alice");
        _bob = await _world.AddUserAsync("bob");
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task The_first_message_to_someone_new_is_the_request_and_the_next_ones_follow_it_causally()
    {
        var first = await _alice.Core.Conversations.SendAsync(_bob.HandleText, "one", CancellationToken.None);
        var second = await _alice.Core.Conversations.SendAsync("bob", "two", CancellationToken.None);

        Assert.True(first.IsContactRequest);
        Assert.False(second.IsContactRequest);
        Assert.Equal(DeliveryState.Queued, first.State);
        Assert.Equal(first.Lamport + 1, second.Lamport);
        Assert.Equal(first.Id, Assert.Single(second.Parents));
        await _alice.FlushAsync();
        var received = await _bob.Chat.GetUnreadAsync(CancellationToken.None);
        Assert.Equal(["one", "two"], received.Select(m => m.Text));
        Assert.True(received[0].IsContactRequest);
    }

    [Fact]
    public async Task Empty_oversized_and_blocked_sends_are_refused_before_anything_is_queued()
    {
        await Assert.ThrowsAsync<ChatException>(() => _alice.Core.Conversations.SendAsync(_bob.HandleText, "  ", CancellationToken.None));
        await Assert.ThrowsAsync<ChatException>(() => _alice.Core.Conversations.SendAsync(_bob.HandleText, new string('x', FakeChatWorld.Options.MaxTextBytes + 1), CancellationToken.None));
        await _alice.Chat.SendAsync(_bob.HandleText, "hi", CancellationToken.None);
        await _alice.Chat.BlockAsync("bob", CancellationToken.None);

        await Assert.ThrowsAsync<ChatException>(() => _alice.Core.Conversations.SendAsync("bob", "again", CancellationToken.None));

        Assert.Equal(0, await _alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Marking_read_sends_a_read_receipt_only_to_accepted_contacts()
    {
        await _alice.Chat.SendAsync(_bob.HandleText, "request", CancellationToken.None);
        await _alice.FlushAsync();
        await _bob.Core.Conversations.MarkReadAsync(await _bob.Chat.GetUnreadAsync(CancellationToken.None), CancellationToken.None);
        Assert.Equal(0, await _bob.Chat.CountOutboxAsync(CancellationToken.None));

        await _bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await _bob.FlushAsync();
        await _alice.Chat.SendAsync("bob", "now?", CancellationToken.None);
        await _alice.FlushAsync();
        await _bob.Core.Conversations.MarkReadAsync(await _bob.Chat.GetUnreadAsync(CancellationToken.None), CancellationToken.None);

        var receipt = Envelope.Parser.ParseFrom(Assert.Single(await _bob.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None)).Envelope);
        Assert.Empty(receipt.GroupMessage);
        await _bob.FlushAsync();
        Assert.Equal(DeliveryState.Read, (await _alice.HistoryWithAsync(_bob))[^1].State);
        Assert.Empty(await _bob.Chat.GetUnreadAsync(CancellationToken.None));
    }
}
