using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

public sealed class DirectoryPublisherTests : IAsyncLifetime
{
    private readonly FakeChatWorld _world = new();
    private FakeChatUser _alice = null!;

    public async Task InitializeAsync() => _alice = await _world.AddUserAsync("alice");

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task Starting_publishes_presence_prekeys_name_and_one_time_prekeys()
    {
        var found = Assert.Single(await _world.Directory.FindAsync("alice", CancellationToken.None));
        Assert.Equal(_alice.Chat.Account.PublicKey, found.Account);
        var presence = await _world.Directory.GetPresenceAsync(_alice.Chat.Account.Id, CancellationToken.None);
        Assert.NotEmpty(Assert.Single(presence!.Addresses).Addresses);
        Assert.NotNull(await _world.Directory.GetPrekeysAsync(_alice.Chat.Account.Id, CancellationToken.None));
        Assert.NotNull(await _world.Mailboxes.ClaimOneTimePrekeyAsync(_alice.Chat.Account.PublicKey, CancellationToken.None));
    }

    [Fact]
    public async Task Nothing_is_published_again_until_it_is_due_and_the_signed_prekey_rotates_weekly()
    {
        var published = _world.Directory.PresencePublished;
        var firstPrekey = (await _world.Directory.GetPrekeysAsync(_alice.Chat.Account.Id, CancellationToken.None))!.SignedPrekeyId;

        var report = await _alice.Core.Publisher.PublishDueAsync(force: false, CancellationToken.None);
        Assert.Equal(new StartReport(0, 0, 0, 0, 0), report);
        Assert.Equal(published, _world.Directory.PresencePublished);

        _world.Time.Advance(FakeChatWorld.Options.SignedPrekeyRotation);
        report = await _alice.Core.Publisher.PublishDueAsync(force: false, CancellationToken.None);
        Assert.Equal(1, report.PrekeysStoredAt);
        Assert.NotEqual(firstPrekey, (await _world.Directory.GetPrekeysAsync(_alice.Chat.Account.Id, CancellationToken.None))!.SignedPrekeyId);
        // Presence was due too (republished every 30 minutes).
        Assert.Equal(1, report.PresenceStoredAt);
    }

    [Fact]
    public async Task A_directory_that_cannot_be_reached_is_reported_as_nothing_stored()
    {
        _world.Directory.Reachable = false;

        var report = await _alice.Core.Publisher.PublishDueAsync(force: true, CancellationToken.None);

        Assert.Equal(0, report.PresenceStoredAt + report.PrekeysStoredAt + report.NameStoredAt);
    }

    [Fact]
    public async Task Going_offline_withdraws_the_addresses()
    {
        await _alice.GoOfflineAsync();

        var presence = await _world.Directory.GetPresenceAsync(_alice.Chat.Account.Id, CancellationToken.None);
        Assert.Empty(Assert.Single(presence!.Addresses).Addresses);
    }
}
