using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

public sealed class OutboxTests : IAsyncLifetime
{
    private readonly FakeChatWorld _world = new();
    private FakeChatUser _alice = null!;
    private FakeChatUser _bob = null!;

    public async Task InitializeAsync()
    {
        _alice = await _world.AddUserAsync("alice");
        _bob = await _world.AddUserAsync("bob");
        await _alice.Chat.SendAsync(_bob.HandleText, "hello", CancellationToken.None);
        await _alice.FlushAsync();
        await _bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await _bob.FlushAsync();
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task An_online_recipient_gets_the_envelope_directly_and_the_message_becomes_delivered()
    {
        var sent = await _alice.Chat.SendAsync("bob", "direct", CancellationToken.None);
        Assert.Equal(1, await _alice.Chat.CountOutboxAsync(CancellationToken.None));

        Assert.Equal(1, await _alice.Core.Outbox.FlushAsync(CancellationToken.None));

        Assert.Equal(0, await _alice.Chat.CountOutboxAsync(CancellationToken.None));
        Assert.Equal(DeliveryState.Delivered, (await _alice.HistoryWithAsync(_bob))[^1].State);
        Assert.Contains(_alice.StateChanges, m => m.Id.AsSpan().SequenceEqual(sent.Id) && m.State == DeliveryState.Delivered);
        Assert.Equal("direct", _bob.Received[^1].Text);
    }

    [Fact]
    public async Task An_offline_recipient_gets_it_in_the_mailbox_with_the_token_they_gave()
    {
        await _bob.GoOfflineAsync();
        await _alice.Chat.SendAsync("bob", "later", CancellationToken.None);

        await _alice.Core.Outbox.FlushAsync(CancellationToken.None);

        Assert.Equal(DeliveryState.Stored, (await _alice.HistoryWithAsync(_bob))[^1].State);
        Assert.Equal(1, _world.Mailboxes.Waiting(_bob.Chat.Account.Id));
        // Held by a mailbox: no longer "unsent", but kept until bob's receipt comes.
        Assert.Equal(0, await _alice.Chat.CountOutboxAsync(CancellationToken.None, unsentOnly: true));
        Assert.Equal(1, await _alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    [Fact]
    public async Task When_no_route_takes_it_the_envelope_waits_with_growing_delays()
    {
        await _bob.GoOfflineAsync();
        _world.Mailboxes.Reachable = false;
        await _alice.Chat.SendAsync("bob", "stuck", CancellationToken.None);

        await _alice.Core.Outbox.FlushAsync(CancellationToken.None);
        var first = Assert.Single(await _alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None));
        Assert.Equal(1, first.Attempts);
        Assert.Equal(_world.Time.GetUtcNow() + FakeChatWorld.Options.FirstRetryDelay, first.NextAttemptAt);

        // Not due yet: a pass leaves it alone.
        await _alice.Core.Outbox.FlushAsync(CancellationToken.None);
        Assert.Equal(1, Assert.Single(await _alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None)).Attempts);

        _world.Time.Advance(FakeChatWorld.Options.FirstRetryDelay);
        await _alice.Core.Outbox.FlushAsync(CancellationToken.None);
        var second = Assert.Single(await _alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None));
        Assert.Equal(2, second.Attempts);
        Assert.Equal(_world.Time.GetUtcNow() + (2 * FakeChatWorld.Options.FirstRetryDelay), second.NextAttemptAt);
        Assert.Equal(DeliveryState.Queued, (await _alice.HistoryWithAsync(_bob))[^1].State);
    }

    [Fact]
    public async Task An_envelope_past_its_lifetime_is_given_up()
    {
        await _bob.GoOfflineAsync();
        _world.Mailboxes.Reachable = false;
        await _alice.Chat.SendAsync("bob", "too late", CancellationToken.None);
        _world.Time.Advance(FakeChatWorld.Options.OutboxLifetime + TimeSpan.FromMinutes(1));

        Assert.Equal(1, await _alice.Core.Outbox.FlushAsync(CancellationToken.None));

        Assert.Equal(0, await _alice.Chat.CountOutboxAsync(CancellationToken.None));
    }
}
