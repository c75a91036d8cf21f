using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

public sealed class MailboxFetcherTests : IAsyncLifetime
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
    public async Task Waiting_envelopes_are_received_in_order_acknowledged_once_and_deleted_from_the_mailbox()
    {
        await _bob.GoOfflineAsync();
        foreach (var text in new[] { "a", "b", "c" })
        {
            await _alice.Chat.SendAsync("bob", text, CancellationToken.None);
        }
        await _alice.FlushAsync();
        Assert.Equal(3, _world.Mailboxes.Waiting(_bob.Chat.Account.Id));

        // Coming online fetches the mailbox.
        await _bob.ComeOnlineAsync();

        Assert.Equal(3, _bob.Chat.LastMailboxPass!.Processed);
        Assert.Equal(0, _world.Mailboxes.Waiting(_bob.Chat.Account.Id));
        Assert.Equal(["hello", "a", "b", "c"], (await _bob.HistoryWithAsync(_alice)).Select(m => m.Text));
        // One receipt carries the three acknowledgements.
        Assert.Equal(1, await _bob.Chat.CountOutboxAsync(CancellationToken.None));
        await _bob.FlushAsync();
        Assert.All((await _alice.HistoryWithAsync(_bob)).Where(m => m.Direction == MessageDirection.Outgoing), m => Assert.Equal(DeliveryState.Delivered, m.State));
        Assert.Equal(0, (await _bob.Core.Fetcher.FetchAsync(CancellationToken.None)).Processed);
    }

    [Fact]
    public async Task An_unreachable_mailbox_is_a_pass_with_nothing_not_an_error()
    {
        _world.Mailboxes.Reachable = false;

        var pass = await _bob.Core.Fetcher.FetchAsync(CancellationToken.None);

        Assert.Equal(new MailboxPass(0, 0, 0), pass);
    }
}
