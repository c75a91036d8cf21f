using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class RoomControlsTests : AliceAndBobTest
{
    [Fact]
    public async Task A_control_without_a_room_id_is_refused_and_rolls_everything_back()
    {
        var contact = await BobAsContactAsync();
        await Assert.ThrowsAsync<EnvelopeRefusedException>(() => Alice.Store.TransactAsync(tx =>
        {
            tx.PutSetting("marker", [1]);
            Apply(tx, new GroupControl { HeadsRequest = true }, contact);
            return true;
        }, CancellationToken.None));
        Assert.Null(await Alice.Store.ReadAsync(r => r.GetSetting("marker"), CancellationToken.None));
    }

    [Fact]
    public async Task A_control_for_a_room_we_do_not_hold_or_not_for_us_is_ignored()
    {
        var contact = await BobAsContactAsync();
        var unknownRoom = new GroupControl { GroupId = ByteString.CopyFrom(new byte[32]), HeadsRequest = true };
        await Alice.Store.TransactAsync(tx =>
        {
            Apply(tx, unknownRoom, contact);
            return true;
        }, CancellationToken.None);

        // A room we are in but where we are not admin: a heads request is not ours to answer.
        var room = await Bob.Core.Rooms.CreateAsync("bob's", historyEnabled: false, CancellationToken.None);
        await Bob.Core.Rooms.InviteAsync(room.IdText, Alice.HandleText, CancellationToken.None);
        await Bob.FlushAsync();
        await Alice.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        var queued = await Alice.Chat.CountOutboxAsync(CancellationToken.None);
        await Alice.Core.RoomCache.LockedAsync(
            () => Alice.Store.TransactAsync(tx =>
            {
                Apply(tx, new GroupControl { GroupId = ByteString.CopyFrom(room.Id.Span), HeadsRequest = true }, contact);
                return true;
            }, CancellationToken.None),
            CancellationToken.None);

        Assert.Equal(queued, await Alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    private void Apply(IChatTransaction tx, GroupControl control, ContactRecord sender) =>
        Alice.Core.RoomControls.Apply(tx, control, sender, World.Time.GetUtcNow(), [], []);

    private Task<ContactRecord> BobAsContactAsync() => Alice.Core.Contacts.DiscoverAsync(Bob.HandleText, CancellationToken.None);
}
