using Google.Protobuf;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>
/// Session repair on the fakes: bob's store is put back to an older copy (a restored backup), so his sessions with alice
/// are behind hers; whoever cannot decrypt asks for a reset, the other starts a new session and resends what is queued.
/// </summary>
public sealed class SessionRepairTests : AliceAndBobTest
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await MakeContactsAsync();
        await TalkAsync("before the backup");
    }

    [Fact]
    public async Task Messages_to_a_restored_recipient_arrive_once_after_a_reset_and_both_are_told()
    {
        var safetyNumber = await Alice.Chat.GetSafetyNumberAsync("bob", CancellationToken.None);
        await RestoreBobToAnOlderCopyAsync();

        await AssertRepairedAsync(Alice, Bob, "to restored bob");
        Assert.Equal(safetyNumber, await Alice.Chat.GetSafetyNumberAsync("bob", CancellationToken.None));
        Assert.Equal(safetyNumber, await Bob.Chat.GetSafetyNumberAsync("alice", CancellationToken.None));
    }

    [Fact]
    public async Task Messages_from_a_restored_sender_arrive_once_after_a_reset()
    {
        await RestoreBobToAnOlderCopyAsync();

        await AssertRepairedAsync(Bob, Alice, "from restored bob");
    }

    [Fact]
    public async Task Both_writing_to_each_other_after_a_restore_converge_with_nothing_lost_or_doubled()
    {
        await RestoreBobToAnOlderCopyAsync();
        var (aliceHad, bobHad) = (Alice.Received.Count, Bob.Received.Count);

        await SendAsync(Alice, Bob, "alice after the restore");
        await SendAsync(Bob, Alice, "bob after the restore");
        for (var pass = 0; pass < 3; pass++)
        {
            await Alice.FlushAsync();
            await Bob.FlushAsync();
        }

        Assert.Equal(["alice after the restore"], Bob.Received.Skip(bobHad).Select(m => m.Text));
        Assert.Equal(["bob after the restore"], Alice.Received.Skip(aliceHad).Select(m => m.Text));
        await AssertDeliveredAsync(Alice, Bob, "alice after");
        await AssertDeliveredAsync(Bob, Alice, "bob after");
        await TalkAsync("after the repair");
        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(CancellationToken.None) + await Bob.Chat.CountOutboxAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_message_the_recipient_already_had_is_resent_on_the_new_session_but_stored_once()
    {
        // Bob stores "first" but alice never hears so (the acknowledgement was lost): it stays in her outbox.
        var bobHad = Bob.Received.Count;
        await SendAsync(Alice, Bob, "first");
        var first = await OnlyInOutboxAsync(Alice);
        Assert.Equal(ReceiveStatus.Accepted, (await Bob.Core.Receiver.ReceiveAsync(Envelope.Parser.ParseFrom(first.Envelope), CancellationToken.None)).Status);
        await Alice.Store.TransactAsync(tx =>
        {
            tx.PutOutbox(first with { NextAttemptAt = World.Time.GetUtcNow().AddHours(1) });
            return true;
        }, CancellationToken.None);
        // Then bob loses his sessions.
        await Bob.Store.TransactAsync(tx =>
        {
            foreach (var session in tx.GetSessions(Alice.Chat.Account.Id))
            {
                tx.DeleteSession(Alice.Chat.Account.Id, session.SessionId);
            }
            return true;
        }, CancellationToken.None);

        await SendAsync(Alice, Bob, "second");
        await Alice.FlushAsync();
        await Bob.FlushAsync();
        Assert.Equal(2, Assert.Single(Alice.SessionResets).Resent);
        await Alice.FlushAsync();

        Assert.Equal(["first", "second"], Bob.Received.Skip(bobHad).Select(m => m.Text));
        Assert.Equal(1, (await Bob.HistoryWithAsync(Alice)).Count(m => m.Text == "first"));
        await AssertDeliveredAsync(Alice, Bob, "first");
        await AssertDeliveredAsync(Alice, Bob, "second");
    }

    [Fact]
    public async Task A_forged_altered_reflected_replayed_or_stale_reset_changes_nothing()
    {
        await RestoreBobToAnOlderCopyAsync();
        await SendAsync(Alice, Bob, "to restored bob");
        var failed = Envelope.Parser.ParseFrom((await OnlyInOutboxAsync(Alice)).Envelope);
        Assert.Equal(ReceiveStatus.Refused, (await Bob.Core.Receiver.ReceiveAsync(failed, CancellationToken.None)).Status);
        var reset = await TakeOutboxAsync(Bob);
        Assert.Equal(failed.EnvelopeId, reset.SessionReset.FailedEnvelopeId);
        var sessions = await SessionStatesAsync();

        // Any field changed, the envelope id included: the MAC does not verify.
        foreach (var alter in new Action<Envelope>[]
        {
            e => e.EnvelopeId = ByteString.CopyFrom(new byte[16]),
            e => e.SessionReset.FailedEnvelopeId = ByteString.CopyFrom(new byte[16]),
            e => e.SessionReset.SignedPrekeyId++,
            e => e.SessionReset.SignedPrekey = ByteString.CopyFrom(Enumerable.Repeat((byte)9, 32).ToArray()),
            e => e.SessionReset.Mac = ByteString.CopyFrom(new byte[32]),
        })
        {
            var altered = reset.Clone();
            alter(altered);
            Assert.Equal("session reset whose MAC does not verify", (await Alice.Core.Receiver.ReceiveAsync(altered, CancellationToken.None)).Reason);
        }
        // Sent back to bob as if alice had asked: the MAC binds who asks whom.
        var reflected = reset.Clone();
        reflected.SenderIdentity = ByteString.CopyFrom(Alice.Chat.Account.IdentityDhCertificate.ToBytes());
        Assert.Equal("session reset whose MAC does not verify", (await Bob.Core.Receiver.ReceiveAsync(reflected, CancellationToken.None)).Reason);
        // Carol's own, valid reset naming alice's envelope to bob: it names nothing alice has queued for carol.
        var carol = await World.AddUserAsync("carol");
        await SendAsync(carol, Alice, "hi alice");
        await carol.FlushAsync();
        await carol.Core.Repair.AskAsync(Alice.Chat.Account.IdentityDhCertificate, failed, CancellationToken.None);
        Assert.Equal(ReceiveStatus.Accepted, (await Alice.Core.Receiver.ReceiveAsync(await TakeOutboxAsync(carol), CancellationToken.None)).Status);
        Assert.Equal(sessions, await SessionStatesAsync());
        Assert.Empty(Alice.SessionResets);

        // The real one works once; again, it is a duplicate; a later one naming the same envelope does nothing more.
        Assert.Equal(ReceiveStatus.Accepted, (await Alice.Core.Receiver.ReceiveAsync(reset, CancellationToken.None)).Status);
        Assert.Equal(ReceiveStatus.Duplicate, (await Alice.Core.Receiver.ReceiveAsync(reset, CancellationToken.None)).Status);
        var afterReset = await SessionStatesAsync();
        Assert.NotEqual(sessions, afterReset);
        World.Time.Advance(FakeChatWorld.Options.SessionResetInterval * 2);
        Assert.Equal(ReceiveStatus.Refused, (await Bob.Core.Receiver.ReceiveAsync(failed, CancellationToken.None)).Status);
        var again = await TakeOutboxAsync(Bob);
        Assert.Equal(failed.EnvelopeId, again.SessionReset.FailedEnvelopeId);
        Assert.Equal(ReceiveStatus.Accepted, (await Alice.Core.Receiver.ReceiveAsync(again, CancellationToken.None)).Status);
        Assert.Equal(afterReset, await SessionStatesAsync());
        Assert.Single(Alice.SessionResets);
    }

    [Fact]
    public async Task Resets_are_asked_at_most_once_per_interval_per_contact()
    {
        await RestoreBobToAnOlderCopyAsync();
        var failing = new List<Envelope>();
        for (var i = 0; i < 3; i++)
        {
            await SendAsync(Alice, Bob, $"unreadable {i}");
            failing.Add(await TakeOutboxAsync(Alice));
        }

        foreach (var envelope in failing)
        {
            Assert.Equal(ReceiveStatus.Refused, (await Bob.Core.Receiver.ReceiveAsync(envelope, CancellationToken.None)).Status);
        }
        Assert.Equal(1, await Bob.Chat.CountOutboxAsync(CancellationToken.None));
        World.Time.Advance(FakeChatWorld.Options.SessionResetInterval - TimeSpan.FromSeconds(1));
        await Bob.Core.Receiver.ReceiveAsync(failing[0], CancellationToken.None);
        Assert.Equal(1, await Bob.Chat.CountOutboxAsync(CancellationToken.None));
        World.Time.Advance(TimeSpan.FromSeconds(1));
        await Bob.Core.Receiver.ReceiveAsync(failing[0], CancellationToken.None);
        Assert.Equal(2, await Bob.Chat.CountOutboxAsync(CancellationToken.None));
        Assert.Equal(2, Bob.SessionResets.Count);
    }

    /// <summary>
    /// The writer sends two messages the reader cannot decrypt: the reader shows neither and asks once; the writer starts
    /// a new session and resends both; the reader then has each once, both are told, and the new session works both ways
    /// with nothing left queued.
    /// </summary>
    private async Task AssertRepairedAsync(FakeChatUser writer, FakeChatUser reader, string what)
    {
        var readerHad = reader.Received.Count;
        await SendAsync(writer, reader, $"{what} 1");
        await SendAsync(writer, reader, $"{what} 2");
        await writer.FlushAsync();

        Assert.Equal(readerHad, reader.Received.Count);
        var asked = Assert.Single(reader.SessionResets);
        Assert.Equal(SessionResetKind.Requested, asked.Kind);
        Assert.StartsWith($"a message from {writer.HandleText} could not be decrypted", asked.Notice, StringComparison.Ordinal);
        await reader.FlushAsync();
        var restarted = Assert.Single(writer.SessionResets);
        Assert.Equal((SessionResetKind.Restarted, 2), (restarted.Kind, restarted.Resent));
        Assert.Equal($"your session with {reader.HandleText} was reset; 2 queued messages resent", restarted.Notice);
        await writer.FlushAsync();

        Assert.Equal([$"{what} 1", $"{what} 2"], reader.Received.Skip(readerHad).Select(m => m.Text));
        await AssertDeliveredAsync(writer, reader, what);
        await TalkAsync("after the repair");
        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(CancellationToken.None) + await Bob.Chat.CountOutboxAsync(CancellationToken.None));
    }

    /// <summary>Bob's store goes back to a copy from before a conversation went on: his sessions with alice are behind hers.</summary>
    private async Task RestoreBobToAnOlderCopyAsync()
    {
        var backup = Bob.Store.Snapshot();
        await TalkAsync("after the backup");
        await Bob.RestoreAsync(backup);
    }

    /// <summary>Alice and bob write to each other in turns, each message delivered, so both ratchets take steps.</summary>
    private async Task TalkAsync(string what)
    {
        for (var i = 0; i < 3; i++)
        {
            await SendAsync(Alice, Bob, $"{what}: alice {i}");
            await Alice.FlushAsync();
            await SendAsync(Bob, Alice, $"{what}: bob {i}");
            await Bob.FlushAsync();
        }
        await AssertDeliveredAsync(Alice, Bob, what);
        await AssertDeliveredAsync(Bob, Alice, what);
    }

    private static Task<MessageRecord> SendAsync(FakeChatUser from, FakeChatUser to, string text) =>
        from.Chat.SendAsync(to.HandleText, text, CancellationToken.None);

    /// <summary>Every message of <paramref name="from"/>'s starting with <paramref name="prefix"/> is delivered, and the other side has each exactly once.</summary>
    private static async Task AssertDeliveredAsync(FakeChatUser from, FakeChatUser to, string prefix)
    {
        var sent = (await from.HistoryWithAsync(to)).Where(m => m.Direction == MessageDirection.Outgoing && m.Text.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(sent);
        Assert.All(sent, m => Assert.Equal(DeliveryState.Delivered, m.State));
        var received = (await to.HistoryWithAsync(from)).Where(m => m.Direction == MessageDirection.Incoming && m.Text.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        Assert.Equal(sent.Select(m => Convert.ToHexString(m.Id)).Order(), received.Select(m => Convert.ToHexString(m.Id)).Order());
    }

    /// <summary>Alice's sessions with bob, as stored.</summary>
    private Task<List<string>> SessionStatesAsync() => Alice.Store.ReadAsync(
        r => r.GetSessions(Bob.Chat.Account.Id).Select(s => Convert.ToHexString(s.SessionId) + Convert.ToHexString(s.State)).ToList(),
        CancellationToken.None);

    private static async Task<OutboxItem> OnlyInOutboxAsync(FakeChatUser user) =>
        Assert.Single(await user.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 100), CancellationToken.None));

    /// <summary>The one envelope in <paramref name="user"/>'s outbox, taken out so the test hands it over itself.</summary>
    private static async Task<Envelope> TakeOutboxAsync(FakeChatUser user)
    {
        var item = await OnlyInOutboxAsync(user);
        await user.Store.TransactAsync(tx =>
        {
            tx.DeleteOutbox(item.EnvelopeId);
            return true;
        }, CancellationToken.None);
        return Envelope.Parser.ParseFrom(item.Envelope);
    }
}
