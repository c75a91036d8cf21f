using Parley.Chat.Devices;
using Parley.Chat.Messaging;
using Parley.Core.Identity;

namespace Parley.Chat.Tests.ChatCore;

public class AccountDevicesTests : AliceAndBobTest
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_single_device_account_has_no_device_list_and_lists_only_itself()
    {
        Assert.Null(await World.Directory.GetDeviceListAsync(Alice.Chat.Account.Id, None));
        Assert.False(await Alice.Chat.Devices.IsLinkedAsync(None));
        var devices = await Alice.Chat.Devices.ListAsync(None);

        Assert.Equal([Alice.Chat.Device.DeviceId], devices.Select(d => d.DeviceId));
        Assert.Equal(0, await Alice.Chat.Devices.RefreshAsync(None));
    }

    [Fact]
    public async Task Adding_a_device_certifies_it_and_publishes_a_list_both_devices_hold()
    {
        var phone = await World.AddDeviceAsync(Alice, "phone");

        var published = await World.Directory.GetDeviceListAsync(Alice.Chat.Account.Id, None);
        Assert.NotNull(published);
        Assert.Equal([Alice.Chat.Device.DeviceId, phone.Chat.Device.DeviceId], published.Devices.Select(d => d.DeviceId));
        Assert.Equal([AccountDevices.FirstDeviceName, "phone"], published.Devices.Select(d => d.Name));
        Assert.Equal(Alice.Chat.Account.PublicKey, published.Devices[1].Certificate.Account);
        foreach (var device in new[] { Alice, phone })
        {
            Assert.True(await device.Chat.Devices.IsLinkedAsync(None));
            Assert.Equal(published.Devices.Select(d => d.DeviceId), (await device.Chat.Devices.ListAsync(None)).Select(d => d.DeviceId));
        }
    }

    [Fact]
    public async Task Each_linked_device_publishes_its_own_presence_and_signed_prekey()
    {
        var phone = await World.AddDeviceAsync(Alice, "phone");
        var account = Alice.Chat.Account.Id;

        foreach (var device in new[] { Alice, phone })
        {
            var presence = await World.Directory.GetDevicePresenceAsync(account, device.Chat.Device.DeviceId, None);
            Assert.NotNull(presence);
            Assert.Equal([device.Chat.Device.DeviceId], presence.Devices.Select(d => d.DeviceId));
            var prekeys = await World.Directory.GetDevicePrekeysAsync(account, device.Chat.Device.DeviceId, None);
            Assert.NotNull(prekeys);
            var own = (await device.Store.ReadAsync(r => r.GetPrekeys(oneTime: false), None)).Single();
            Assert.Equal(own.PublicKey, prekeys.SignedPrekey);
        }
        // Each device has its own signed prekey; the identity DH key is the account's on both.
        Assert.NotEqual(
            (await World.Directory.GetDevicePrekeysAsync(account, Alice.Chat.Device.DeviceId, None))!.SignedPrekey,
            (await World.Directory.GetDevicePrekeysAsync(account, phone.Chat.Device.DeviceId, None))!.SignedPrekey);
    }

    [Fact]
    public async Task Adding_the_same_device_again_returns_its_certificate_so_a_link_can_be_retried()
    {
        var key = IdentityKey.Generate().PublicKey;
        var first = await Alice.Chat.Devices.AddAsync(key, "tablet", None);

        var again = await Alice.Chat.Devices.AddAsync(key, "tablet", None);

        Assert.Equal(first.Signature, again.Signature);
        Assert.Equal(2, (await Alice.Chat.Devices.ListAsync(None)).Count);
    }

    [Fact]
    public async Task A_removed_device_leaves_the_list_and_can_never_be_added_again()
    {
        var phone = await World.AddDeviceAsync(Alice, "phone");
        var phoneId = phone.Chat.Device.DeviceId;

        await Alice.Chat.Devices.RemoveAsync(phoneId, None);

        var published = (await World.Directory.GetDeviceListAsync(Alice.Chat.Account.Id, None))!;
        Assert.False(published.Contains(phoneId));
        Assert.True(published.WasRemoved(phone.Chat.Device.Device));
        var error = await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.Devices.AddAsync(phone.Chat.Device.Device, "phone again", None));
        Assert.Contains("removed", error.Message, StringComparison.Ordinal);
        // The removed device learns it from the list and no longer counts itself in.
        await phone.Chat.Devices.RefreshAsync(None);
        Assert.DoesNotContain(phoneId, (await phone.Chat.Devices.ListAsync(None)).Select(d => d.DeviceId));
        Assert.Contains("removed", (await Assert.ThrowsAsync<ChatException>(() => phone.Chat.Devices.JoinAsync(None))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_requests_are_refused_with_a_reason()
    {
        Assert.Contains("itself", (await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.Devices.RemoveAsync(Alice.Chat.Device.DeviceId, None))).Message, StringComparison.Ordinal);
        Assert.Contains("not a device", (await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.Devices.RemoveAsync(IdentityKey.Generate().PeerId, None))).Message, StringComparison.Ordinal);
        Assert.Contains("device name", (await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.Devices.AddAsync(IdentityKey.Generate().PublicKey, "", None))).Message, StringComparison.Ordinal);
        for (var i = 1; i < Parley.Chat.Directory.DirectoryRecordValidator.MaxDevices; i++)
        {
            await Alice.Chat.Devices.AddAsync(IdentityKey.Generate().PublicKey, $"device {i}", None);
        }
        Assert.Contains("at most", (await Assert.ThrowsAsync<ChatException>(() => Alice.Chat.Devices.AddAsync(IdentityKey.Generate().PublicKey, "one too many", None))).Message, StringComparison.Ordinal);
        Assert.Contains("no device list", (await Assert.ThrowsAsync<ChatException>(() => Bob.Chat.Devices.JoinAsync(None))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_device_learns_of_what_another_changed_when_it_next_republishes_its_presence()
    {
        var phone = await World.AddDeviceAsync(Alice, "phone");
        var tablet = IdentityKey.Generate().PublicKey;
        await phone.Chat.Devices.AddAsync(tablet, "tablet", None);
        await phone.Chat.Devices.RemoveAsync(Alice.Chat.Device.DeviceId, None);

        World.Time.Advance(FakeChatWorld.Options.PresenceRepublishInterval);
        await Alice.Core.Publisher.PublishDueAsync(force: false, None);

        // Removed, the first device hands the account records and the account mailbox to the next one.
        Assert.Equal([phone.Chat.Device.DeviceId, tablet.ToPeerId()], (await Alice.Chat.Devices.ListAsync(None)).Select(d => d.DeviceId));
        Assert.False(await Alice.Chat.Devices.HoldsAccountRecordsAsync(None));
        Assert.True(await phone.Chat.Devices.HoldsAccountRecordsAsync(None));
    }

    [Fact]
    public async Task Lists_published_by_different_devices_merge_and_a_stale_one_is_repaired()
    {
        var phone = await World.AddDeviceAsync(Alice, "phone");
        var stale = await phone.Chat.Devices.ListAsync(None);
        var tablet = IdentityKey.Generate().PublicKey;
        await Alice.Chat.Devices.AddAsync(tablet, "tablet", None);
        // A device that had not heard of the tablet publishes what it knows, overwriting the directory's list.
        await World.Directory.PublishDeviceListAsync(Alice.Chat.Account, stale, [], None);

        Assert.True(await Alice.Chat.Devices.RefreshAsync(None) > 0);
        await phone.Chat.Devices.RefreshAsync(None);

        var published = (await World.Directory.GetDeviceListAsync(Alice.Chat.Account.Id, None))!;
        Assert.Equal(3, published.Devices.Count);
        Assert.Contains(tablet.ToPeerId(), (await phone.Chat.Devices.ListAsync(None)).Select(d => d.DeviceId));
    }
}

/// <summary>
/// A linked account's first device keeps the account-wide records and the account mailbox (where senders that know no
/// list deposit); the other devices publish only their own, and each device's mailbox copies wait in its own mailbox.
/// </summary>
public class LinkedAccountRecordsTests : AliceAndBobTest
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_second_device_leaves_the_account_records_and_mailbox_to_the_first()
    {
        await MakeContactsAsync();
        var presenceBefore = await World.Directory.GetPresenceAsync(Alice.Chat.Account.Id, None);
        var prekeysBefore = await World.Directory.GetPrekeysAsync(Alice.Chat.Account.Id, None);

        var phone = await World.AddDeviceAsync(Alice, "phone");
        await phone.GoOfflineAsync();
        await phone.ComeOnlineAsync();

        Assert.True(await Alice.Chat.Devices.HoldsAccountRecordsAsync(None));
        Assert.False(await phone.Chat.Devices.HoldsAccountRecordsAsync(None));
        var presence = await World.Directory.GetPresenceAsync(Alice.Chat.Account.Id, None);
        Assert.Equal(presenceBefore!.Addresses.Select(a => a.Device), presence!.Addresses.Select(a => a.Device));
        Assert.Equal(prekeysBefore!.SignedPrekey, (await World.Directory.GetPrekeysAsync(Alice.Chat.Account.Id, None))!.SignedPrekey);

        // Bob's copy for the first device waits in that device's own mailbox (the phone, online, has its own), and the
        // first device reads it as before. Bob learns of the phone from alice's "offline", the first envelope of hers
        // that names her device (she saw him online: the greetings of accepting arrived in MakeContactsAsync).
        await Alice.GoOfflineAsync();
        Assert.NotNull(await Bob.Store.ReadAsync(r => r.GetSetting(DeviceFanout.ContactListSetting(Alice.Chat.Account.Id)), None));
        await Bob.Chat.SendAsync(Alice.HandleText, "while you were out", None);
        await Bob.FlushAsync();
        Assert.Equal(0, (await phone.Chat.FetchMailboxAsync(None)).Processed);
        Assert.Equal(1, World.Mailboxes.Waiting(Alice.Chat.Device.DeviceId));
        await Alice.ComeOnlineAsync();

        Assert.Equal(1, Alice.Chat.LastMailboxPass!.Processed);
        Assert.Equal(["hello", "while you were out"], (await Alice.HistoryWithAsync(Bob)).Select(m => m.Text));
        Assert.Equal(["while you were out"], phone.Received.Select(m => m.Text));
        Assert.Empty(Alice.SessionResets);
        Assert.Empty(Bob.SessionResets);
    }

    [Fact]
    public async Task A_second_device_has_its_own_mailbox_with_its_own_one_time_prekeys_and_policy()
    {
        await MakeContactsAsync();
        var phone = await World.AddDeviceAsync(Alice, "phone");
        var phoneKey = phone.Chat.Device.Device;

        // The phone's one-time prekeys wait at its own mailbox, signed by its key; the account's stay the first device's.
        var claimed = await World.Mailboxes.ClaimOneTimePrekeyAsync(phoneKey, None);
        Assert.NotNull(claimed);
        Assert.True(claimed.Verify(phoneKey));
        Assert.Equal(claimed.PublicKey, (await phone.Store.ReadAsync(r => r.GetPrekey(claimed.Id, oneTime: true), None))!.PublicKey);
        var accounts = (await World.Mailboxes.ClaimOneTimePrekeyAsync(Alice.Chat.Account.PublicKey, None))!;
        Assert.True(accounts.Verify(Alice.Chat.Account.PublicKey));
        Assert.Equal(accounts.PublicKey, (await Alice.Store.ReadAsync(r => r.GetPrekey(accounts.Id, oneTime: true), None))!.PublicKey);

        // Each device empties its own mailbox only: the phone's delete leaves the account mailbox to the first device.
        await Alice.GoOfflineAsync();
        await World.Mailboxes.DepositAsync(phoneKey, new byte[16], [1, 2, 3], new Parley.Chat.Mailbox.DepositAuthorization.Stamp(), None);
        await World.Mailboxes.DepositAsync(Alice.Chat.Account.PublicKey, Enumerable.Repeat((byte)1, 16).ToArray(), [4, 5, 6], new Parley.Chat.Mailbox.DepositAuthorization.Stamp(), None);
        await phone.Chat.FetchMailboxAsync(None);

        Assert.Equal(0, World.Mailboxes.Waiting(phone.Chat.Device.DeviceId));
        Assert.Equal(1, World.Mailboxes.Waiting(Alice.Chat.Account.Id));
    }
}
