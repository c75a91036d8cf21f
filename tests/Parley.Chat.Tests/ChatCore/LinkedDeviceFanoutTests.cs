using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>Sessions per device pair and fan-out (docs/devices.md): alice on a laptop and a phone, bob on one device.</summary>
public class LinkedDeviceFanoutTests : AliceAndBobTest
{
    private static readonly CancellationToken None = CancellationToken.None;

    private FakeChatUser Phone { get; set; } = null!;

    /// <summary>Alice links her phone, then she and bob become contacts (the laptop writes first).</summary>
    private async Task LinkPhoneAndMakeContactsAsync()
    {
        Phone = await World.AddDeviceAsync(Alice, "phone");
        await MakeContactsAsync();
        await World.SettleAsync();
    }

    private static async Task<List<(MessageDirection, string)>> ShownAsync(FakeChatUser device, FakeChatUser with) =>
        (await device.HistoryWithAsync(with)).Select(m => (m.Direction, m.Text)).ToList();

    [Fact]
    public async Task Both_of_alices_devices_show_every_message_of_both_directions_including_the_other_devices()
    {
        await LinkPhoneAndMakeContactsAsync();

        await Bob.Chat.SendAsync("alice", "hi to both of you", None);
        await World.SettleAsync();
        await Phone.Chat.SendAsync("bob", "from my phone", None);
        await World.SettleAsync();
        await Alice.Chat.SendAsync("bob", "from my laptop", None);
        await World.SettleAsync();

        List<(MessageDirection, string)> alicesView =
        [
            (MessageDirection.Outgoing, "hello"),
            (MessageDirection.Incoming, "hi to both of you"),
            (MessageDirection.Outgoing, "from my phone"),
            (MessageDirection.Outgoing, "from my laptop"),
        ];
        Assert.Equal(alicesView, await ShownAsync(Alice, Bob));
        Assert.Equal(alicesView, await ShownAsync(Phone, Bob));
        Assert.Equal(
            alicesView.Select(m => (m.Item1 == MessageDirection.Outgoing ? MessageDirection.Incoming : MessageDirection.Outgoing, m.Item2)),
            await ShownAsync(Bob, Alice));
        // The phone learned bob from the laptop's copy of the request, and his acceptance reached it too.
        Assert.Equal(ContactState.Accepted, (await Phone.Chat.GetContactsAsync(None)).Single().State);
    }

    [Fact]
    public async Task A_message_is_delivered_when_any_of_the_recipients_devices_has_it_and_read_when_any_read_it()
    {
        await LinkPhoneAndMakeContactsAsync();
        await Alice.GoOfflineAsync();

        var sent = await Bob.Chat.SendAsync("alice", "are you there?", None);
        await World.SettleAsync();

        Assert.Equal(DeliveryState.Delivered, (await Bob.HistoryWithAsync(Alice)).Single(m => m.Id.SequenceEqual(sent.Id)).State);
        // The laptop's copy waits in its mailbox: the phone having it did not take it out of bob's outbox.
        var waiting = Assert.Single(await Bob.Store.ReadAsync(r => r.GetOutboxFor(Alice.Chat.Account.Id), None));
        Assert.Equal((Alice.Chat.Device.DeviceId, OutboxStage.Stored), (waiting.Device, waiting.Stage));

        await Phone.Chat.MarkReadAsync(await Phone.HistoryWithAsync(Bob), None);
        await World.SettleAsync();
        Assert.Equal(DeliveryState.Read, (await Bob.HistoryWithAsync(Alice)).Single(m => m.Id.SequenceEqual(sent.Id)).State);
    }

    [Fact]
    public async Task A_device_that_was_offline_catches_up_from_its_own_mailbox()
    {
        await LinkPhoneAndMakeContactsAsync();
        await Phone.GoOfflineAsync();

        await Bob.Chat.SendAsync("alice", "while your phone sleeps", None);
        await World.SettleAsync();
        await Alice.Chat.SendAsync("bob", "answered from the laptop", None);
        await World.SettleAsync();

        await Phone.ComeOnlineAsync();
        await Phone.Chat.FetchMailboxAsync(None);

        Assert.Equal(
            [(MessageDirection.Outgoing, "hello"), (MessageDirection.Incoming, "while your phone sleeps"), (MessageDirection.Outgoing, "answered from the laptop")],
            await ShownAsync(Phone, Bob));
    }

    [Fact]
    public async Task A_removed_device_gets_nothing_sent_after_its_removal_and_what_it_sends_is_refused()
    {
        await LinkPhoneAndMakeContactsAsync();

        await Alice.Chat.Devices.RemoveAsync(Phone.Chat.Device.DeviceId, None);
        // Bob looks the list up again when his copy is older than the presence cache time.
        World.Time.Advance(FakeChatWorld.Options.PresenceCacheTime + TimeSpan.FromSeconds(1));
        await Bob.Chat.SendAsync("alice", "after the removal", None);
        await World.SettleAsync();
        await Alice.Chat.SendAsync("bob", "also after it", None);
        await Phone.Chat.SendAsync("bob", "from the removed phone", None);
        await World.SettleAsync();

        // The phone shows only what it wrote itself: nothing of bob's or of the laptop's since.
        Assert.Equal([(MessageDirection.Outgoing, "hello"), (MessageDirection.Outgoing, "from the removed phone")], await ShownAsync(Phone, Bob));
        Assert.Equal(
            [(MessageDirection.Outgoing, "hello"), (MessageDirection.Incoming, "after the removal"), (MessageDirection.Outgoing, "also after it")],
            await ShownAsync(Alice, Bob));
        Assert.DoesNotContain("from the removed phone", (await Bob.HistoryWithAsync(Alice)).Select(m => m.Text));
        // Bob dropped his session with the removed device.
        Assert.DoesNotContain(
            await Bob.Store.ReadAsync(r => r.GetSessions(Alice.Chat.Account.Id), None),
            s => s.Device == Phone.Chat.Device.DeviceId);
    }

    [Fact]
    public async Task A_single_device_account_sends_and_looks_up_exactly_as_before()
    {
        await MakeContactsAsync();
        await Bob.Chat.SendAsync("alice", "one device each", None);
        await Alice.Chat.SendAsync("bob", "as before", None);

        foreach (var user in new[] { Alice, Bob })
        {
            var queued = await user.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), None);
            Assert.NotEmpty(queued);
            Assert.All(queued, item => Assert.Null(item.Device));
            Assert.All(queued, item => Assert.True(Envelope.Parser.ParseFrom(item.Envelope).SenderDevice.IsEmpty));
        }
        await World.SettleAsync();

        Assert.Equal(0, World.Directory.DeviceListLookups);
        Assert.Equal(3, (await Alice.HistoryWithAsync(Bob)).Count);
        Assert.All(await Alice.Store.ReadAsync(r => r.GetSessions(Bob.Chat.Account.Id), None), s => Assert.Null(s.Device));
    }
}
