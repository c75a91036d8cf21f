using Parley.Chat.Contacts;
using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

public sealed class ContactBookTests : IAsyncLifetime
{
    private readonly FakeChatWorld _world = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_contact_is_found_by_handle_by_unique_name_or_by_id_and_an_ambiguous_name_says_so()
    {
        var alice = await _world.AddUserAsync("alice");
        var bob1 = await _world.AddUserAsync("bob");
        var bob2 = await _world.AddUserAsync("bob");
        var carol = await _world.AddUserAsync("carol");
        foreach (var who in new[] { bob1, bob2, carol })
        {
            await alice.Core.Contacts.DiscoverAsync(who.HandleText, CancellationToken.None);
        }

        await alice.Store.ReadAsync(r =>
        {
            Assert.Equal(bob2.Chat.Account.Id, ContactBook.Find(r, bob2.HandleText)!.Account);
            Assert.Equal(carol.Chat.Account.Id, ContactBook.Find(r, "carol")!.Account);
            Assert.Equal(bob1.Chat.Account.Id, ContactBook.Find(r, bob1.Chat.Account.Id.ToString())!.Account);
            Assert.Null(ContactBook.Find(r, "dave"));
            var ambiguous = Assert.Throws<ChatException>(() => ContactBook.Find(r, "bob"));
            Assert.Contains(bob1.HandleText, ambiguous.Message, StringComparison.Ordinal);
            return true;
        }, CancellationToken.None);
    }

    [Fact]
    public async Task Discovering_someone_adds_them_as_requested_with_a_token_for_our_mailbox()
    {
        var alice = await _world.AddUserAsync("alice");
        var bob = await _world.AddUserAsync("bob");

        var contact = await alice.Core.Contacts.DiscoverAsync(bob.HandleText, CancellationToken.None);

        Assert.Equal(ContactState.Requested, contact.State);
        Assert.Equal(32, contact.OurMailboxToken!.Length);
        Assert.Equal(bob.Chat.Account.IdentityDhPublicKey, contact.IdentityDhKey);
        await Assert.ThrowsAsync<ChatException>(() => alice.Core.Contacts.DiscoverAsync("nobody", CancellationToken.None));
        await Assert.ThrowsAsync<ChatException>(() => alice.Core.Contacts.DiscoverAsync(alice.HandleText, CancellationToken.None));
    }

    [Fact]
    public async Task Blocking_a_pending_requester_deletes_the_request_and_what_we_queued_for_them()
    {
        var alice = await _world.AddUserAsync("alice");
        var mallory = await _world.AddUserAsync("mallory");
        await mallory.Chat.SendAsync(alice.HandleText, "buy now", CancellationToken.None);
        await mallory.FlushAsync();
        var pending = await alice.Chat.GetContactAsync("mallory", CancellationToken.None);
        Assert.Equal(ContactState.Pending, pending.State);

        var blocked = await alice.Core.Contacts.BlockAsync(pending, CancellationToken.None);

        Assert.Equal(ContactState.Blocked, blocked.State);
        Assert.Null(blocked.OurMailboxToken);
        Assert.Empty(await alice.HistoryWithAsync(mallory));
        Assert.Equal(0, await alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Preparing_room_peers_adds_strangers_as_room_peers_and_leaves_out_those_without_keys()
    {
        var alice = await _world.AddUserAsync("alice");
        var bob = await _world.AddUserAsync("bob");
        var ghost = Parley.Chat.Identity.Account.Create(Parley.Core.Crypto.DefaultCryptoProvider.Instance);

        var setups = await alice.Core.Contacts.PreparePeersAsync(
            [(bob.Chat.Account.PublicKey, bob.HandleText), (ghost.PublicKey, "ghost"), (alice.Chat.Account.PublicKey, alice.HandleText)],
            CancellationToken.None);

        Assert.Equal([bob.Chat.Account.Id], setups.Keys);
        Assert.NotNull(setups[bob.Chat.Account.Id]);
        Assert.Equal(ContactState.GroupPeer, (await alice.Chat.GetContactAsync(bob.HandleText, CancellationToken.None)).State);
    }
}
