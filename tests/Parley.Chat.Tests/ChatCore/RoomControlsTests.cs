using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class RoomControlsTests : IAsyncLifetime
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
    public async Task A_control_without_a_room_id_is_refused_and_rolls_everything_back()
    {
        var contact = await BobAsContactAsync();
        await Assert.ThrowsAsync<EnvelopeRefusedException>(() => _alice.Store.TransactAsync(tx =>
        {
            tx.PutSetting("marker", [1]);
            Apply(tx, new GroupControl { HeadsRequest = true }, contact);
            return true;
        }, CancellationToken.None));
        Assert.Null(await _alice.Store.ReadAsync(r => r.GetSetting("marker"), CancellationToken.None));
    }

    [Fact]
    public async Task A_control_for_a_room_we_do_not_hold_or_not_for_us_is_ignored()
    {
        var contact = await BobAsContactAsync();
        var unknownRoom = new GroupControl { GroupId = ByteString.CopyFrom(new byte[32]), HeadsRequest = true };
        await _alice.Store.TransactAsync(tx =>
        {
            Apply(tx, unknownRoom, contact);
            return true;
        }, CancellationToken.None);

        // A room we are in but where we are not admin: a heads request is not ours to answer.
        var room = await _bob.Core.Rooms.CreateAsync("bob's", historyEnabled: false, CancellationToken.None);
        await _bob.Core.Rooms.InviteAsync(room.IdText, _alice.HandleText, CancellationToken.None);
        await _bob.FlushAsync();
        await _alice.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        var queued = await _alice.Chat.CountOutboxAsync(CancellationToken.None);
        await _alice.Core.RoomCache.LockedAsync(
            () => _alice.Store.TransactAsync(tx =>
            {
                Apply(tx, new GroupControl { GroupId = ByteString.CopyFrom(room.Id.Span), HeadsRequest = true }, contact);
                return true;
            }, CancellationToken.None),
            CancellationToken.None);

        Assert.Equal(queued, await _alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    private void Apply(IChatTransaction tx, GroupControl control, ContactRecord sender) =>
        _alice.Core.RoomControls.Apply(tx, control, sender, _world.Time.GetUtcNow(), [], []);

    private Task<ContactRecord> BobAsContactAsync() => _alice.Core.Contacts.DiscoverAsync(_bob.HandleText, CancellationToken.None);
}
