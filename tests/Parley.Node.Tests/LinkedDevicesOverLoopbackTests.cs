using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Storage;

namespace Parley.Node.Tests;

/// <summary>
/// Alice on two whole nodes (TCP, DHT, SQLite) and bob: the second node gets the account's secrets as linking leaves
/// them, is certified through the device API and joins; the device list and each device's own records are found over
/// the network, both devices show the conversation with bob (fan-out), and removing the second device is published.
/// </summary>
public sealed class LinkedDevicesOverLoopbackTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task A_second_device_is_certified_found_per_device_and_removed_while_the_first_keeps_chatting()
    {
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(12);
        var aliceNode = await network.StartUserAsync("alice");
        var bobNode = await network.StartUserAsync("bob");
        var alice = aliceNode.Chat!;
        var bob = bobNode.Chat!;

        // What linking leaves on the new device: the account's secrets in its own database.
        Directory.CreateDirectory(network.FolderOf("alice-phone"));
        await using (var store = await SqliteChatStore.OpenAsync(Path.Combine(network.FolderOf("alice-phone"), "parley.db"), null, DefaultCryptoProvider.Instance, Durability.ProcessCrash, None))
        {
            await store.TransactAsync(tx =>
            {
                tx.PutAccount(new AccountRecord(alice.Account.AccountSeed, alice.Account.IdentityDhPrivateKey, alice.Handle.Name, null, DateTimeOffset.UtcNow));
                return true;
            }, None);
        }
        var phoneNode = await network.StartNodeAsync("alice-phone");
        await alice.Devices.AddAsync(phoneNode.PeerId.TryExtractPublicKey()!, "phone", None);
        Assert.True(await phoneNode.OpenChatAsync(None));
        var phone = phoneNode.Chat!;
        await phone.Devices.JoinAsync(None);
        await phone.StartAsync(None);

        var list = await bobNode.Directory.GetDeviceListAsync(alice.Account.Id, None);
        Assert.NotNull(list);
        Assert.Equal([aliceNode.PeerId, phoneNode.PeerId], list.Devices.Select(d => d.DeviceId));
        foreach (var device in new[] { aliceNode, phoneNode })
        {
            var presence = await bobNode.Directory.GetDevicePresenceAsync(alice.Account.Id, device.PeerId, None);
            Assert.Equal(device.Host.ListenAddresses, Assert.Single(presence!.Addresses).Addresses);
            Assert.NotNull(await bobNode.Directory.GetDevicePrekeysAsync(alice.Account.Id, device.PeerId, None));
        }
        // The account-wide presence still names the first device, which holds the account's sessions.
        Assert.Equal(aliceNode.PeerId, Assert.Single((await bobNode.Directory.GetPresenceAsync(alice.Account.Id, None))!.Addresses).Device);

        await alice.SendAsync(bob.Handle.ToString(), "hi bob", None);
        await LoopbackNetwork.WaitUntilAsync(async () => (await bob.GetUnreadAsync(None)).Count == 1, Patience, "bob has alice's request");
        await bob.SendAsync(alice.Handle.ToString(), "hi alice", None);
        await LoopbackNetwork.WaitUntilAsync(async () => (await alice.GetHistoryAsync("bob", 10, None)).Count == 2, Patience, "alice's first device has bob's answer");
        // The phone shows the conversation too: alice's request from the first device's sync copy, bob's answer from
        // the copy bob encrypted to the phone.
        await LoopbackNetwork.WaitUntilAsync(async () => (await phone.GetContactsAsync(None)).Count == 1 && (await phone.GetHistoryAsync("bob", 10, None)).Count == 2, Patience, "alice's phone has both messages");
        Assert.Equal(
            [(MessageDirection.Outgoing, "hi bob"), (MessageDirection.Incoming, "hi alice")],
            (await phone.GetHistoryAsync("bob", 10, None)).Select(m => (m.Direction, m.Text)));

        await alice.Devices.RemoveAsync(phoneNode.PeerId, None);

        var after = await bobNode.Directory.GetDeviceListAsync(alice.Account.Id, None);
        Assert.Equal([aliceNode.PeerId], after!.Devices.Select(d => d.DeviceId));
        Assert.True(after.WasRemoved(phoneNode.PeerId.TryExtractPublicKey()!));
    }
}
