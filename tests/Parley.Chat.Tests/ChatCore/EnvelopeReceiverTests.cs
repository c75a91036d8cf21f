using Google.Protobuf;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class EnvelopeReceiverTests : AliceAndBobTest
{
    [Fact]
    public async Task An_envelope_is_stored_once_and_a_second_copy_is_a_duplicate()
    {
        var envelope = await QueueFromAliceAsync("once");

        var first = await Bob.Core.Receiver.ReceiveAsync(envelope, CancellationToken.None);
        var second = await Bob.Core.Receiver.ReceiveAsync(envelope, CancellationToken.None);

        Assert.Equal(ReceiveStatus.Accepted, first.Status);
        Assert.NotNull(first.Acknowledge);
        Assert.Equal(ReceiveStatus.Duplicate, second.Status);
        Assert.Single(Bob.Received);
    }

    [Fact]
    public async Task A_refused_envelope_changes_nothing_so_the_real_one_still_arrives()
    {
        var envelope = await QueueFromAliceAsync("real");
        var forged = envelope.Clone();
        forged.Ratchet = ByteString.CopyFrom(new byte[envelope.Ratchet.Length]);

        var refused = await Bob.Core.Receiver.ReceiveAsync(forged, CancellationToken.None);
        var real = await Bob.Core.Receiver.ReceiveAsync(envelope, CancellationToken.None);

        Assert.Equal(ReceiveStatus.Refused, refused.Status);
        Assert.Equal(ChatResponse.Types.Status.Refused, refused.ToResponse().Status);
        Assert.Equal(ReceiveStatus.Accepted, real.Status);
        Assert.Equal("real", Assert.Single(Bob.Received).Text);
    }

    [Fact]
    public async Task A_blocked_sender_is_dropped_and_told_no_more_than_a_refusal()
    {
        await Alice.Chat.SendAsync(Bob.HandleText, "first", CancellationToken.None);
        await Alice.FlushAsync();
        await Bob.Chat.BlockAsync("alice", CancellationToken.None);
        var envelope = await QueueFromAliceAsync("second");

        var outcome = await Bob.Core.Receiver.ReceiveAsync(envelope, CancellationToken.None);

        Assert.Equal(ReceiveStatus.Dropped, outcome.Status);
        Assert.Equal("not accepted", outcome.ToResponse().Reason);
    }

    [Fact]
    public async Task A_1to1_message_is_received_while_a_room_operation_holds_the_rooms_lock()
    {
        var envelope = await QueueFromAliceAsync("not waiting for rooms");
        var release = new TaskCompletionSource();
        var holding = new TaskCompletionSource();
        var roomWork = Bob.Core.RoomCache.LockedAsync(
            async () =>
            {
                holding.SetResult();
                await release.Task;
                return true;
            },
            CancellationToken.None);
        await holding.Task;

        var outcome = await Bob.Core.Receiver.ReceiveAsync(envelope, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ReceiveStatus.Accepted, outcome.Status);
        release.SetResult();
        await roomWork;
    }

    [Fact]
    public async Task A_received_message_that_queues_nothing_wakes_no_outbox_pass()
    {
        var passes = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        // A wake already pending, so the loop's first two passes are known: its first, and the wake's.
        Bob.Core.Outbox.Wake();
        var loop = Bob.Core.Outbox.RunAsync(_ =>
        {
            passes.Release();
            return Task.FromResult(0);
        }, stop.Token);
        Assert.True(await passes.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(await passes.WaitAsync(TimeSpan.FromSeconds(30)));
        var envelope = await QueueFromAliceAsync("queues nothing");
        var puts = Bob.Core.Outbox.Puts;

        var outcome = await Bob.Core.Receiver.ReceiveAsync(envelope, CancellationToken.None);

        Assert.Equal(ReceiveStatus.Accepted, outcome.Status);
        Assert.Equal(puts, Bob.Core.Outbox.Puts);
        // The clock is manual, so only a wake could start another pass.
        Assert.False(await passes.WaitAsync(TimeSpan.FromMilliseconds(500)));
        Bob.Core.Outbox.WakeIfPutSince(puts - 1);
        Assert.True(await passes.WaitAsync(TimeSpan.FromSeconds(30)));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => loop);
    }

    /// <summary>The envelope alice's outbox holds for bob, taken out so the test hands it over itself.</summary>
    private async Task<Envelope> QueueFromAliceAsync(string text)
    {
        await Alice.Chat.SendAsync(Bob.HandleText, text, CancellationToken.None);
        var item = (await Alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 100), CancellationToken.None))[^1];
        await Alice.Store.TransactAsync(tx =>
        {
            tx.DeleteOutbox(item.EnvelopeId);
            return true;
        }, CancellationToken.None);
        return Envelope.Parser.ParseFrom(item.Envelope);
    }
}
