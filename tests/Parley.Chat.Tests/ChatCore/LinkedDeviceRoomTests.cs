using Parley.Chat.Groups;
using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>Rooms on every device of an account (docs/devices.md, "Rooms"): bob's room, alice in it on a laptop and a phone.</summary>
public class LinkedDeviceRoomTests : AliceAndBobTest
{
    private static readonly CancellationToken None = CancellationToken.None;

    private FakeChatUser Phone { get; set; } = null!;

    private string RoomId { get; set; } = "";

    /// <summary>Bob makes a room and lets alice (her laptop) in.</summary>
    private async Task RoomAsync()
    {
        var room = await Bob.Core.Rooms.CreateAsync("band", historyEnabled: false, None);
        RoomId = room.IdText;
        await Bob.Core.Rooms.InviteAsync(RoomId, Alice.HandleText, None);
        await World.SettleAsync();
        await Alice.Core.Rooms.JoinAsync(RoomId, None);
        await World.SettleAsync();
    }

    /// <summary>Bob's room with alice; they write; then alice links her phone, which gets the room from the laptop.</summary>
    private async Task RoomThenPhoneAsync()
    {
        await RoomAsync();
        await Bob.Core.Rooms.SendAsync(RoomId, "before the phone", None);
        await World.SettleAsync();

        Phone = await World.AddDeviceAsync(Alice, "phone");
        await World.SettleAsync();
    }

    private async Task<List<(bool Outgoing, string Text)>> ShownAsync(FakeChatUser device) =>
        (await device.Chat.GetGroupHistoryAsync(RoomId, 1000, None)).Messages.Select(m => (m.Outgoing, m.Text)).ToList();

    [Fact]
    public async Task Both_devices_of_a_member_show_every_room_message_including_those_sent_from_the_other()
    {
        await RoomThenPhoneAsync();

        var onPhone = await Phone.Chat.GetGroupAsync(RoomId, None);
        Assert.Equal(GroupStatus.Member, onPhone.Status);
        Assert.Equal(2, onPhone.Members.Count);

        await Bob.Core.Rooms.SendAsync(RoomId, "from bob", None);
        await World.SettleAsync();
        await Phone.Core.Rooms.SendAsync(RoomId, "from alice's phone", None);
        await World.SettleAsync();
        await Alice.Core.Rooms.SendAsync(RoomId, "from alice's laptop", None);
        await World.SettleAsync();

        List<(bool, string)> after = [(false, "from bob"), (true, "from alice's phone"), (true, "from alice's laptop")];
        Assert.Equal([(false, "before the phone"), .. after], await ShownAsync(Alice));
        // The phone was linked after the first message: it reads on from where the laptop stood.
        Assert.Equal(after, await ShownAsync(Phone));
        Assert.Equal([(true, "before the phone"), .. after.Select(m => (!m.Item1, m.Item2))], await ShownAsync(Bob));
    }

    [Fact]
    public async Task A_member_that_has_not_learned_of_the_new_device_reaches_it_through_the_first_device()
    {
        await RoomAsync();
        Phone = await World.AddDeviceAsync(Alice, "phone");

        // Only the laptop runs its room sync: the phone has the room, but has sent bob nothing yet (its chain would
        // be the first envelope naming one of alice's devices), so bob knows no device list of alice's.
        await Alice.FlushAsync();
        Assert.Equal(GroupStatus.Member, (await Phone.Chat.GetGroupAsync(RoomId, None)).Status);
        Assert.Null(await Bob.Store.ReadAsync(r => r.GetSetting(Parley.Chat.Devices.DeviceFanout.ContactListSetting(Alice.Chat.Account.Id)), None));
        await Bob.Core.Rooms.SendAsync(RoomId, "to the one device bob knows", None);
        await World.SettleAsync();

        // The laptop passed it on over the phone's session with it.
        Assert.Equal([(false, "to the one device bob knows")], await ShownAsync(Phone));
        Assert.Equal([(false, "to the one device bob knows")], await ShownAsync(Alice));

        // Bob knows both devices now: each gets its own copy, and the laptop passes nothing on (no duplicate to send).
        Assert.NotNull(await Bob.Store.ReadAsync(r => r.GetSetting(Parley.Chat.Devices.DeviceFanout.ContactListSetting(Alice.Chat.Account.Id)), None));
        await Bob.Core.Rooms.SendAsync(RoomId, "to both", None);
        await Bob.FlushAsync();
        Assert.Empty(await Alice.Store.ReadAsync(r => r.GetOutboxFor(Alice.Chat.Account.Id), None));
        await World.SettleAsync();
        Assert.Equal([(false, "to the one device bob knows"), (false, "to both")], await ShownAsync(Phone));
    }

    [Fact]
    public async Task An_admin_removing_one_of_its_devices_starts_an_epoch_the_removed_device_cannot_read()
    {
        await RoomAsync();
        var bobsPhone = await World.AddDeviceAsync(Bob, "bob's phone");
        await World.SettleAsync();
        Assert.Equal(GroupStatus.Member, (await bobsPhone.Chat.GetGroupAsync(RoomId, None)).Status);
        var epoch = (await Alice.Chat.GetGroupAsync(RoomId, None)).Epoch;

        // Bob is the admin: his RemoveDevice entry goes to alice with his new chain.
        await Bob.Chat.Devices.RemoveAsync(bobsPhone.Chat.Device.DeviceId, None);
        await World.SettleAsync();
        var onAlice = await Alice.Chat.GetGroupAsync(RoomId, None);
        Assert.NotEqual(epoch, onAlice.Epoch);
        Assert.Contains($"{Bob.HandleText} removed a device (new keys)", onAlice.Audit);
        await Bob.Core.Rooms.SendAsync(RoomId, "after the removal", None);
        // Alice answers once she has bob's message: two messages sent at once have no order to assert.
        await World.SettleAsync();
        await Alice.Core.Rooms.SendAsync(RoomId, "alice after the removal", None);
        await World.SettleAsync();

        Assert.Equal([(false, "after the removal"), (true, "alice after the removal")], await ShownAsync(Alice));
        Assert.Equal([(true, "after the removal"), (false, "alice after the removal")], await ShownAsync(Bob));
        Assert.Empty(await ShownAsync(bobsPhone));
    }

    [Fact]
    public async Task Each_device_sends_on_a_chain_of_its_own()
    {
        await RoomThenPhoneAsync();
        await Phone.Core.Rooms.SendAsync(RoomId, "phone", None);
        await Alice.Core.Rooms.SendAsync(RoomId, "laptop", None);
        await World.SettleAsync();

        var messages = (await Bob.Chat.GetGroupHistoryAsync(RoomId, 1000, None)).Messages;
        var chains = new List<GroupMessageRecord>();
        foreach (var message in messages.Where(m => m.Text is "phone" or "laptop"))
        {
            chains.Add((await Bob.Store.ReadAsync(r => r.GetGroupMessage(message.Id), None))!);
        }
        Assert.Equal(2, chains.Count);
        Assert.All(chains, c => Assert.Equal(Alice.Chat.Account.PublicKey, c.Sender));
        Assert.NotEqual(chains[0].ChainId, chains[1].ChainId);
    }

    [Fact]
    public async Task A_device_that_was_offline_catches_up_room_messages_from_its_mailbox()
    {
        await RoomThenPhoneAsync();
        await Alice.Core.Rooms.SendAsync(RoomId, "the phone is in the room", None);
        await World.SettleAsync();
        await Phone.GoOfflineAsync();

        await Bob.Core.Rooms.SendAsync(RoomId, "while the phone sleeps", None);
        await World.SettleAsync();
        await Alice.Core.Rooms.SendAsync(RoomId, "laptop answers", None);
        await World.SettleAsync();

        await Phone.ComeOnlineAsync();
        await Phone.Chat.FetchMailboxAsync(None);
        await World.SettleAsync();

        Assert.Equal(
            [(true, "the phone is in the room"), (false, "while the phone sleeps"), (true, "laptop answers")],
            await ShownAsync(Phone));
    }

    [Fact]
    public async Task A_removed_device_cannot_decrypt_room_messages_sent_after_its_removal()
    {
        await RoomThenPhoneAsync();
        await Alice.Core.Rooms.SendAsync(RoomId, "all three of us", None);
        await World.SettleAsync();
        Assert.Contains((true, "all three of us"), await ShownAsync(Phone));
        var epochBefore = (await Bob.Chat.GetGroupAsync(RoomId, None)).Epoch;

        await Alice.Chat.Devices.RemoveAsync(Phone.Chat.Device.DeviceId, None);
        await World.SettleAsync();
        await Bob.Core.Rooms.SendAsync(RoomId, "bob after the removal", None);
        await Alice.Core.Rooms.SendAsync(RoomId, "laptop after the removal", None);
        await World.SettleAsync();

        // The removal is in the room's log, and began a new epoch everywhere but on the removed phone.
        var onBob = await Bob.Chat.GetGroupAsync(RoomId, None);
        Assert.NotEqual(epochBefore, onBob.Epoch);
        Assert.Equal(onBob.Epoch, (await Alice.Chat.GetGroupAsync(RoomId, None)).Epoch);
        Assert.Contains($"{Alice.HandleText} removed a device (new keys)", onBob.Audit);
        Assert.Contains((false, "bob after the removal"), await ShownAsync(Alice));
        Assert.Contains((false, "laptop after the removal"), await ShownAsync(Bob));

        var phoneShows = await ShownAsync(Phone);
        Assert.DoesNotContain(phoneShows, m => m.Text.EndsWith("after the removal", StringComparison.Ordinal));
        // Handed the ciphertexts themselves, the phone has no key for them: they were sent on the new epoch's chains.
        foreach (var text in new[] { "bob after the removal", "laptop after the removal" })
        {
            var sent = (await Bob.Chat.GetGroupHistoryAsync(RoomId, 1000, None)).Messages.Single(m => m.Text == text);
            var ciphertext = (await Bob.Store.ReadAsync(r => r.GetGroupMessage(sent.Id), None))!.Ciphertext!;
            var failure = await Phone.Core.RoomCache.ReadAsync(onBob.Id, (_, room) =>
                Assert.Throws<GroupMessageException>(() => room.Session.Decrypt(ciphertext, room.Log.State)), None);
            Assert.Equal(GroupMessageFailure.UnknownChain, failure.Reason);
        }
    }
}
