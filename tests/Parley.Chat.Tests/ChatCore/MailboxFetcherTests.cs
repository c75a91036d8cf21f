using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

public sealed class MailboxFetcherTests : AliceAndBobTest
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await MakeContactsAsync();
    }

    [Fact]
    public async Task Waiting_envelopes_are_received_in_order_acknowledged_once_and_deleted_from_the_mailbox()
    {
        await Bob.GoOfflineAsync();
        foreach (var text in new[] { "a", "b", "c" })
        {
            await Alice.Chat.SendAsync("bob", text, CancellationToken.None);
        }
        await Alice.FlushAsync();
        Assert.Equal(3, World.Mailboxes.Waiting(Bob.Chat.Account.Id));

        // Coming online fetches the mailbox.
        await Bob.ComeOnlineAsync();

        Assert.Equal(3, Bob.Chat.LastMailboxPass!.Processed);
        Assert.Equal(0, World.Mailboxes.Waiting(Bob.Chat.Account.Id));
        Assert.Equal(["hello", "a", "b", "c"], (await Bob.HistoryWithAsync(Alice)).Select(m => m.Text));
        // One receipt carries the three acknowledgements.
        Assert.Equal(1, await Bob.Chat.CountOutboxAsync(CancellationToken.None));
        await Bob.FlushAsync();
        Assert.All((await Alice.HistoryWithAsync(Bob)).Where(m => m.Direction == MessageDirection.Outgoing), m => Assert.Equal(DeliveryState.Delivered, m.State));
        Assert.Equal(0, (await Bob.Core.Fetcher.FetchAsync(CancellationToken.None)).Processed);
    }

    [Fact]
    public async Task An_unreachable_mailbox_is_a_pass_with_nothing_not_an_error()
    {
        World.Mailboxes.Reachable = false;

        var pass = await Bob.Core.Fetcher.FetchAsync(CancellationToken.None);

        Assert.Equal(new MailboxPass(0, 0, 0), pass);
    }
}
