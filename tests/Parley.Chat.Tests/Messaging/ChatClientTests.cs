using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.Messaging;

public sealed class ChatClientTests : IAsyncLifetime
{
    private ChatTestNetwork _network = null!;

    public async Task InitializeAsync() => _network = await ChatTestNetwork.StartAsync(24);

    public async Task DisposeAsync() => await _network.DisposeAsync();

    [Fact]
    public async Task Alice_finds_bob_by_handle_and_by_name_and_they_chat_directly_both_ways()
    {
        var alice = await _network.AddUserAsync("alice");
        var bob = await _network.AddUserAsync("bob");

        var byHandle = await alice.Chat.FindAsync(bob.Chat.Handle.ToString(), CancellationToken.None);
        Assert.Equal(bob.Chat.Account.PublicKey, Assert.Single(byHandle).Account);
        var byName = await alice.Chat.FindAsync("bob", CancellationToken.None);
        Assert.Equal(bob.Chat.Handle, Assert.Single(byName).Handle);

        var hello = await alice.Chat.SendAsync(bob.Chat.Handle.ToString(), "hello bob", CancellationToken.None);
        Assert.Equal(DeliveryState.Queued, hello.State);
        await alice.Chat.FlushOutboxAsync(CancellationToken.None);
        Assert.Equal(DeliveryState.Delivered, (await alice.HistoryWithAsync(bob)).Single().State);

        // Bob sees a contact request carrying the text; answering accepts it.
        var request = Assert.Single(await bob.Chat.GetUnreadAsync(CancellationToken.None));
        Assert.True(request.IsContactRequest);
        Assert.Equal("hello bob", request.Text);
        Assert.Equal(ContactState.Pending, (await bob.Chat.GetContactAsync(alice.Chat.Handle.ToString(), CancellationToken.None)).State);

        await bob.Chat.SendAsync(alice.Chat.Handle.ToString(), "hi alice", CancellationToken.None);
        await bob.Chat.FlushOutboxAsync(CancellationToken.None);
        await alice.Chat.FlushOutboxAsync(CancellationToken.None);

        Assert.Equal(ContactState.Accepted, (await bob.Chat.GetContactAsync("alice", CancellationToken.None)).State);
        Assert.Equal(ContactState.Accepted, (await alice.Chat.GetContactAsync("bob", CancellationToken.None)).State);
        var aliceView = await alice.HistoryWithAsync(bob);
        var bobView = await bob.HistoryWithAsync(alice);
        Assert.Equal(["hello bob", "hi alice"], aliceView.Select(m => m.Text));
        Assert.Equal(["hello bob", "hi alice"], bobView.Select(m => m.Text));
        Assert.Equal(DeliveryState.Delivered, bobView[1].State);
        Assert.True(bobView[1].Lamport > bobView[0].Lamport);
        Assert.Equal(bobView[0].Id, Assert.Single(bobView[1].Parents));
    }

    [Fact]
    public async Task Messages_to_an_offline_user_wait_in_the_mailbox_and_arrive_once_in_order()
    {
        var alice = await _network.AddUserAsync("alice");
        var bob = await _network.AddUserAsync("bob");
        await alice.Chat.SendAsync(bob.Chat.Handle.ToString(), "first", CancellationToken.None);
        await alice.Chat.FlushOutboxAsync(CancellationToken.None);
        await bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await bob.Chat.FlushOutboxAsync(CancellationToken.None);

        await bob.GoOfflineAsync();
        for (var i = 0; i < 20; i++)
        {
            await alice.Chat.SendAsync("bob", $"message {i}", CancellationToken.None);
        }
        await alice.Chat.FlushOutboxAsync(CancellationToken.None);
        var stored = (await alice.HistoryWithAsync(bob)).Skip(1).ToList();
        Assert.All(stored, m => Assert.Equal(DeliveryState.Stored, m.State));
        Assert.All(stored, m => Assert.True(m.StoredCount >= 10, $"stored at only {m.StoredCount}"));

        await bob.ComeOnlineAsync();
        var texts = (await bob.HistoryWithAsync(alice)).Select(m => m.Text).ToList();
        Assert.Equal(["first", .. Enumerable.Range(0, 20).Select(i => $"message {i}")], texts);

        // A second fetch finds nothing new: the mailbox deleted what bob took, and copies would be dropped anyway.
        var again = await bob.Chat.FetchMailboxAsync(CancellationToken.None);
        Assert.Equal(0, again.Processed);

        // Bob's receipt reaches alice (she is online: directly) and every message becomes delivered.
        await bob.Chat.FlushOutboxAsync(CancellationToken.None);
        Assert.All((await alice.HistoryWithAsync(bob)).Skip(1), m => Assert.Equal(DeliveryState.Delivered, m.State));
    }

    [Fact]
    public async Task Read_receipts_go_to_accepted_contacts()
    {
        var alice = await _network.AddUserAsync("alice");
        var bob = await _network.AddUserAsync("bob");
        await alice.Chat.SendAsync(bob.Chat.Handle.ToString(), "knock knock", CancellationToken.None);
        await alice.Chat.FlushOutboxAsync(CancellationToken.None);

        // Reading a request sends nothing back: the requester learns nothing until bob accepts.
        await bob.Chat.MarkReadAsync(await bob.Chat.GetUnreadAsync(CancellationToken.None), CancellationToken.None);
        Assert.Equal(0, await bob.Chat.CountOutboxAsync(CancellationToken.None));

        await bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await alice.Chat.SendAsync("bob", "who is there", CancellationToken.None);
        await bob.Chat.FlushOutboxAsync(CancellationToken.None);
        await alice.Chat.FlushOutboxAsync(CancellationToken.None);
        await bob.Chat.MarkReadAsync(await bob.Chat.GetUnreadAsync(CancellationToken.None), CancellationToken.None);
        await bob.Chat.FlushOutboxAsync(CancellationToken.None);
        Assert.Equal(DeliveryState.Read, (await alice.HistoryWithAsync(bob))[^1].State);
    }

    [Fact]
    public async Task A_blocked_sender_is_neither_shown_nor_acknowledged()
    {
        var alice = await _network.AddUserAsync("alice");
        var mallory = await _network.AddUserAsync("mallory");
        await mallory.Chat.SendAsync(alice.Chat.Handle.ToString(), "buy now", CancellationToken.None);
        await mallory.Chat.FlushOutboxAsync(CancellationToken.None);
        await alice.Chat.BlockAsync("mallory", CancellationToken.None);
        Assert.Empty(await alice.Chat.GetUnreadAsync(CancellationToken.None));

        await mallory.Chat.SendAsync("alice", "buy now!!", CancellationToken.None);
        await mallory.Chat.FlushOutboxAsync(CancellationToken.None);

        Assert.Empty(await alice.Chat.GetUnreadAsync(CancellationToken.None));
        Assert.Empty(await alice.HistoryWithAsync(mallory));
        Assert.NotEqual(DeliveryState.Delivered, (await mallory.HistoryWithAsync(alice))[^1].State);
    }

    [Fact]
    public async Task Both_writing_first_at_once_converges_on_one_conversation()
    {
        var alice = await _network.AddUserAsync("alice");
        var bob = await _network.AddUserAsync("bob");
        await alice.Chat.SendAsync(bob.Chat.Handle.ToString(), "hi from alice", CancellationToken.None);
        await bob.Chat.SendAsync(alice.Chat.Handle.ToString(), "hi from bob", CancellationToken.None);
        await Task.WhenAll(alice.Chat.FlushOutboxAsync(CancellationToken.None), bob.Chat.FlushOutboxAsync(CancellationToken.None));
        for (var i = 0; i < 3; i++)
        {
            await alice.Chat.SendAsync("bob", $"a{i}", CancellationToken.None);
            await alice.Chat.FlushOutboxAsync(CancellationToken.None);
            await bob.Chat.SendAsync("alice", $"b{i}", CancellationToken.None);
            await bob.Chat.FlushOutboxAsync(CancellationToken.None);
        }
        var aliceView = (await alice.HistoryWithAsync(bob)).Select(m => m.Text).ToList();
        var bobView = (await bob.HistoryWithAsync(alice)).Select(m => m.Text).ToList();
        Assert.Equal(8, aliceView.Count);
        Assert.Equal(aliceView, bobView);
        Assert.Equal(ContactState.Accepted, (await alice.Chat.GetContactAsync("bob", CancellationToken.None)).State);
    }

    [Fact]
    public async Task Safety_numbers_match_on_both_sides()
    {
        var alice = await _network.AddUserAsync("alice");
        var bob = await _network.AddUserAsync("bob");
        await alice.Chat.SendAsync(bob.Chat.Handle.ToString(), "hi", CancellationToken.None);
        await alice.Chat.FlushOutboxAsync(CancellationToken.None);
        var fromAlice = await alice.Chat.GetSafetyNumberAsync("bob", CancellationToken.None);
        var fromBob = await bob.Chat.GetSafetyNumberAsync("alice", CancellationToken.None);
        Assert.Equal(60, fromAlice.Length);
        Assert.Equal(fromAlice, fromBob);
    }

    [Fact]
    public async Task Sending_to_nobody_or_an_ambiguous_name_says_why()
    {
        var alice = await _network.AddUserAsync("alice");
        await _network.AddUserAsync("sam");
        await _network.AddUserAsync("sam");
        var nobody = await Assert.ThrowsAsync<ChatException>(() => alice.Chat.SendAsync("nobody", "hi", CancellationToken.None));
        Assert.Contains("nobody called nobody", nobody.Message, StringComparison.Ordinal);
        var ambiguous = await Assert.ThrowsAsync<ChatException>(() => alice.Chat.SendAsync("sam", "hi", CancellationToken.None));
        Assert.Contains("several users are called sam", ambiguous.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ChatException>(() => alice.Chat.SendAsync("sam", "", CancellationToken.None));
        await Assert.ThrowsAsync<ChatException>(() => alice.Chat.SendAsync("sam", new string('x', 20_000), CancellationToken.None));
    }
}
