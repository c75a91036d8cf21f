using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>
/// What alice's devices keep in step besides the messages (docs/devices.md): delivery and read state, what was read,
/// edits, deletions and reactions; typing reaching every device; the per-device delivery detail. Alice on a laptop
/// and a phone, bob on one device.
/// </summary>
public sealed class LinkedDeviceSyncTests : AliceAndBobTest
{
    private static readonly CancellationToken None = CancellationToken.None;

    private FakeChatUser Phone { get; set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Phone = await World.AddDeviceAsync(Alice, "phone");
        await MakeContactsAsync();
        await World.SettleAsync();
    }

    private static async Task<MessageRecord> ShownAsync(FakeChatUser device, FakeChatUser with, byte[] id) =>
        (await device.HistoryWithAsync(with)).Single(m => m.Id.SequenceEqual(id));

    [Fact]
    public async Task A_message_sent_from_one_device_shows_on_the_other_as_delivered_then_read_not_sending()
    {
        var sent = await Alice.Chat.SendAsync("bob", "from the laptop", None);
        await World.SettleAsync();

        // Bob's device took it directly (no receipt follows that): the laptop's note told the phone.
        Assert.Equal(DeliveryState.Delivered, (await ShownAsync(Alice, Bob, sent.Id)).State);
        Assert.Equal(DeliveryState.Delivered, (await ShownAsync(Phone, Bob, sent.Id)).State);
        var detail = await Phone.Chat.GetDeliveryDetailAsync("bob", sent.Id, None);
        Assert.Equal((Bob.Chat.Account.Id, DeliveryState.Delivered), (Assert.Single(detail.Devices).Device, detail.Devices[0].State));

        await Bob.Chat.MarkReadAsync(await Bob.Chat.GetUnreadAsync(None), None);
        await World.SettleAsync();
        Assert.Equal(DeliveryState.Read, (await ShownAsync(Alice, Bob, sent.Id)).State);
        Assert.Equal(DeliveryState.Read, (await ShownAsync(Phone, Bob, sent.Id)).State);
    }

    [Fact]
    public async Task A_message_bob_fetched_from_his_mailbox_shows_delivered_on_both_devices()
    {
        await Bob.GoOfflineAsync();
        var sent = await Phone.Chat.SendAsync("bob", "while you were away", None);
        await World.SettleAsync();
        Assert.Equal(DeliveryState.Stored, (await ShownAsync(Phone, Bob, sent.Id)).State);

        await Bob.ComeOnlineAsync();
        await Bob.Chat.FetchMailboxAsync(None);
        await World.SettleAsync();

        Assert.Equal(DeliveryState.Delivered, (await ShownAsync(Phone, Bob, sent.Id)).State);
        Assert.Equal(DeliveryState.Delivered, (await ShownAsync(Alice, Bob, sent.Id)).State);
    }

    [Fact]
    public async Task Reading_on_one_device_marks_the_conversation_read_on_the_other()
    {
        await Bob.Chat.SendAsync("alice", "one", None);
        await Bob.Chat.SendAsync("alice", "two", None);
        await World.SettleAsync();
        Assert.Equal(2, (await Alice.Chat.GetUnreadAsync(None)).Count);
        Assert.Equal(2, (await Phone.Chat.GetUnreadAsync(None)).Count);

        await Phone.Chat.MarkReadAsync(await Phone.Chat.GetUnreadAsync(None), None);
        await World.SettleAsync();

        Assert.Empty(await Phone.Chat.GetUnreadAsync(None));
        Assert.Empty(await Alice.Chat.GetUnreadAsync(None));
        Assert.All((await Bob.HistoryWithAsync(Alice)).Where(m => m.Direction == MessageDirection.Outgoing), m => Assert.Equal(DeliveryState.Read, m.State));
    }

    [Fact]
    public async Task Edits_deletions_and_reactions_made_on_one_device_show_on_the_other()
    {
        var typo = await Alice.Chat.SendAsync("bob", "helo", None);
        var gone = await Alice.Chat.SendAsync("bob", "never mind", None);
        var his = await Bob.Chat.SendAsync("alice", "news", None);
        await World.SettleAsync();

        await Alice.Chat.EditAsync("bob", typo.Id, "hello", None);
        await Phone.Chat.DeleteForEveryoneAsync("bob", gone.Id, None);
        await Phone.Chat.ReactAsync("bob", his.Id, "🎉", None);
        await World.SettleAsync();

        foreach (var device in new[] { Alice, Phone })
        {
            var edited = await ShownAsync(device, Bob, typo.Id);
            Assert.Equal("hello", edited.Text);
            Assert.NotNull(edited.EditedAt);
            Assert.True((await ShownAsync(device, Bob, gone.Id)).Deleted);
            Assert.Equal([(Alice.Chat.Account.Id, "🎉")], (await ShownAsync(device, Bob, his.Id)).Reactions.Select(r => (r.From, r.Emoji)));
        }
        Assert.Equal("hello", (await ShownAsync(Bob, Alice, typo.Id)).Text);
        Assert.True((await ShownAsync(Bob, Alice, gone.Id)).Deleted);
        Assert.Equal("🎉", Assert.Single((await ShownAsync(Bob, Alice, his.Id)).Reactions).Emoji);
    }

    [Fact]
    public async Task Typing_reaches_every_device_of_the_recipient()
    {
        var onLaptop = new List<bool>();
        var onPhone = new List<bool>();
        Alice.Chat.TypingChanged += (_, e) => onLaptop.Add(e.Typing);
        Phone.Chat.TypingChanged += (_, e) => onPhone.Add(e.Typing);

        Assert.True(await Bob.Chat.SendTypingAsync("alice", typing: true, None));
        Assert.True(await Bob.Chat.SendTypingAsync("alice", typing: false, None));

        Assert.Equal([true, false], onLaptop);
        Assert.Equal([true, false], onPhone);
        Assert.Equal(0, await Bob.Chat.CountOutboxAsync(None));
    }

    [Fact]
    public async Task The_detail_says_which_of_the_recipients_devices_has_a_message_and_which_read_it()
    {
        await Alice.GoOfflineAsync();
        var sent = await Bob.Chat.SendAsync("alice", "who has it?", None);
        await World.SettleAsync();

        var detail = await Bob.Chat.GetDeliveryDetailAsync("alice", sent.Id, None);
        Assert.Equal(DeliveryState.Delivered, detail.Message.State);
        Assert.Equal(
            [(Alice.Chat.Device.DeviceId, (DeliveryState?)null), (Phone.Chat.Device.DeviceId, DeliveryState.Delivered)],
            detail.Devices.Select(d => (d.Device, d.State)));
        Assert.Equal("phone", detail.Devices[1].Name);

        await Alice.ComeOnlineAsync();
        await Alice.Chat.FetchMailboxAsync(None);
        await World.SettleAsync();
        await Alice.Chat.MarkReadAsync(await Alice.Chat.GetUnreadAsync(None), None);
        await World.SettleAsync();

        detail = await Bob.Chat.GetDeliveryDetailAsync("alice", sent.Id, None);
        Assert.Equal(DeliveryState.Read, detail.Message.State);
        // The phone's copy was read on the laptop: the phone marked it read, it sent no receipt of its own.
        Assert.Equal(
            [(Alice.Chat.Device.DeviceId, (DeliveryState?)DeliveryState.Read), (Phone.Chat.Device.DeviceId, DeliveryState.Delivered)],
            detail.Devices.Select(d => (d.Device, d.State)));
        Assert.Empty(await Phone.Chat.GetUnreadAsync(None));

        await Assert.ThrowsAsync<ChatException>(() => Bob.Chat.GetDeliveryDetailAsync("alice", new byte[16], None));
        // Not ours: alice's messages have no delivery detail on bob's side.
        var hers = (await Bob.HistoryWithAsync(Alice)).First(m => m.Direction == MessageDirection.Incoming);
        await Assert.ThrowsAsync<ChatException>(() => Bob.Chat.GetDeliveryDetailAsync("alice", hers.Id, None));
    }
}
