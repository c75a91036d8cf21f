using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class OutboxTests : AliceAndBobTest
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await MakeContactsAsync();
    }

    [Fact]
    public async Task An_online_recipient_gets_the_envelope_directly_and_the_message_becomes_delivered()
    {
        var sent = await Alice.Chat.SendAsync("bob", "direct", CancellationToken.None);
        Assert.Equal(1, await Alice.Chat.CountOutboxAsync(CancellationToken.None));

        Assert.Equal(1, await Alice.Core.Outbox.FlushAsync(CancellationToken.None));

        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(CancellationToken.None));
        Assert.Equal(DeliveryState.Delivered, (await Alice.HistoryWithAsync(Bob))[^1].State);
        Assert.Contains(Alice.StateChanges, m => m.Id.AsSpan().SequenceEqual(sent.Id) && m.State == DeliveryState.Delivered);
        Assert.Equal("direct", Bob.Received[^1].Text);
    }

    [Fact]
    public async Task The_devices_of_someone_just_delivered_to_are_counted_as_talked_to_until_their_presence_is_stale()
    {
        var bobDevice = Bob.Chat.Device.Device.ToPeerId();
        await Alice.Chat.SendAsync("bob", "direct", CancellationToken.None);
        await Alice.Core.Outbox.FlushAsync(CancellationToken.None);

        Assert.True(Alice.Chat.IsTalkingTo(bobDevice));
        Assert.False(Alice.Chat.IsTalkingTo(Bob.Chat.Account.Id));
        Assert.False(Alice.Chat.IsTalkingTo(Parley.Core.Identity.IdentityKey.Generate().PeerId));

        World.Time.Advance(FakeChatWorld.Options.PresenceCacheTime);
        Assert.False(Alice.Chat.IsTalkingTo(bobDevice));
    }

    [Fact]
    public async Task An_offline_recipient_gets_it_in_the_mailbox_with_the_token_they_gave()
    {
        await Bob.GoOfflineAsync();
        await Alice.Chat.SendAsync("bob", "later", CancellationToken.None);

        await Alice.Core.Outbox.FlushAsync(CancellationToken.None);

        Assert.Equal(DeliveryState.Stored, (await Alice.HistoryWithAsync(Bob))[^1].State);
        Assert.Equal(1, World.Mailboxes.Waiting(Bob.Chat.Account.Id));
        // Held by a mailbox: no longer "unsent", but kept until bob's receipt comes.
        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(CancellationToken.None, unsentOnly: true));
        Assert.Equal(1, await Alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    [Fact]
    public async Task When_no_route_takes_it_the_envelope_waits_with_growing_delays()
    {
        await Bob.GoOfflineAsync();
        World.Mailboxes.Reachable = false;
        await Alice.Chat.SendAsync("bob", "stuck", CancellationToken.None);

        await Alice.Core.Outbox.FlushAsync(CancellationToken.None);
        var first = Assert.Single(await Alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None));
        Assert.Equal(1, first.Attempts);
        Assert.Equal(World.Time.GetUtcNow() + FakeChatWorld.Options.FirstRetryDelay, first.NextAttemptAt);

        // Not due yet: a pass leaves it alone.
        await Alice.Core.Outbox.FlushAsync(CancellationToken.None);
        Assert.Equal(1, Assert.Single(await Alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None)).Attempts);

        World.Time.Advance(FakeChatWorld.Options.FirstRetryDelay);
        await Alice.Core.Outbox.FlushAsync(CancellationToken.None);
        var second = Assert.Single(await Alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None));
        Assert.Equal(2, second.Attempts);
        Assert.Equal(World.Time.GetUtcNow() + (2 * FakeChatWorld.Options.FirstRetryDelay), second.NextAttemptAt);
        Assert.Equal(DeliveryState.Queued, (await Alice.HistoryWithAsync(Bob))[^1].State);
    }

    [Fact]
    public async Task An_envelope_too_big_for_a_mailbox_waits_without_holding_up_the_others()
    {
        await Bob.GoOfflineAsync();
        var tooBig = new Envelope { EnvelopeId = ByteString.CopyFrom(new byte[16]), GroupMessage = ByteString.CopyFrom(new byte[World.Mailboxes.MaxEnvelopeSize]) };
        await Alice.Store.TransactAsync(
            tx =>
            {
                Alice.Core.Outbox.Put(tx, Bob.Chat.Account.Id, tooBig, null);
                return true;
            },
            CancellationToken.None);
        World.Time.Advance(TimeSpan.FromMilliseconds(1));
        await Alice.Chat.SendAsync("bob", "behind it", CancellationToken.None);

        await Alice.Core.Outbox.FlushAsync(CancellationToken.None);

        Assert.Equal(DeliveryState.Stored, (await Alice.HistoryWithAsync(Bob))[^1].State);
        Assert.Equal(1, World.Mailboxes.Waiting(Bob.Chat.Account.Id));
        var waiting = Assert.Single(await Alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None), i => i.Stage == OutboxStage.Sending);
        Assert.Equal(tooBig.EnvelopeId.ToByteArray(), waiting.EnvelopeId);
        Assert.Equal(1, waiting.Attempts);
    }

    [Fact]
    public async Task An_envelope_past_its_lifetime_is_given_up()
    {
        await Bob.GoOfflineAsync();
        World.Mailboxes.Reachable = false;
        await Alice.Chat.SendAsync("bob", "too late", CancellationToken.None);
        World.Time.Advance(FakeChatWorld.Options.OutboxLifetime + TimeSpan.FromMinutes(1));

        Assert.Equal(1, await Alice.Core.Outbox.FlushAsync(CancellationToken.None));

        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(CancellationToken.None));
    }
}
