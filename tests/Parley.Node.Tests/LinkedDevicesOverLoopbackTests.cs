using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Storage;

namespace Parley.Node.Tests;

/// <summary>
/// Alice on two whole nodes (TCP, DHT, SQLite) and bob: the second node gets the account's secrets as linking leaves
/// them, is certified through the device API and joins; the device list and each device's own records are found over
/// the network, both devices show the conversation with bob (fan-out) with the same delivery and read states, reads,
/// edits, deletions and reactions, both see bob typing, and removing the second device is published.
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

        var phoneNode = await LinkPhoneAsync(network, alice);
        var phone = phoneNode.Chat!;

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

        await BothDevicesStayInStepAsync(alice, phone, bob);

        await alice.Devices.RemoveAsync(phoneNode.PeerId, None);

        var after = await bobNode.Directory.GetDeviceListAsync(alice.Account.Id, None);
        Assert.Equal([aliceNode.PeerId], after!.Devices.Select(d => d.DeviceId));
        Assert.True(after.WasRemoved(phoneNode.PeerId.TryExtractPublicKey()!));
    }

    /// <summary>What alice does on one device shows on the other (docs/devices.md), and both show bob's states alike.</summary>
    private static async Task BothDevicesStayInStepAsync(ChatClient alice, ChatClient phone, ChatClient bob)
    {
        var typing = new[] { new TaskCompletionSource(), new TaskCompletionSource() };
        alice.TypingChanged += (_, e) => typing[0].TrySetResult();
        phone.TypingChanged += (_, e) => typing[1].TrySetResult();
        Assert.True(await bob.SendTypingAsync(alice.Handle.ToString(), typing: true, None));
        await Task.WhenAll(typing.Select(t => t.Task)).WaitAsync(Patience);

        var typo = await alice.SendAsync("bob", "helo", None);
        var oops = await alice.SendAsync("bob", "oops", None);
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await phone.GetHistoryAsync("bob", 10, None)).Count(m => m.Id.SequenceEqual(typo.Id) || m.Id.SequenceEqual(oops.Id)) == 2,
            Patience,
            "the phone has the laptop's messages");
        // Bob's device took them directly: the phone shows them delivered too, not "sending" (the laptop's note).
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await phone.GetHistoryAsync("bob", 10, None)).Where(m => m.Direction == MessageDirection.Outgoing).All(m => m.State >= DeliveryState.Delivered),
            Patience,
            "the phone shows the laptop's messages delivered");

        await alice.EditAsync("bob", typo.Id, "hello", None);
        await phone.DeleteForEveryoneAsync("bob", oops.Id, None);
        var answer = (await phone.GetHistoryAsync("bob", 10, None)).Single(m => m.Direction == MessageDirection.Incoming);
        await phone.ReactAsync("bob", answer.Id, "👍", None);
        await phone.MarkReadAsync(await phone.GetUnreadAsync(None), None);
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await bob.GetHistoryAsync("alice", 10, None)).Count(m => m.Id.SequenceEqual(typo.Id) || m.Id.SequenceEqual(oops.Id)) == 2,
            Patience,
            "bob has the laptop's messages");
        await bob.MarkReadAsync(await bob.GetHistoryAsync("alice", 10, None), None);

        static async Task<List<(MessageDirection, string, DeliveryState, bool, string)>> ShownAsync(ChatClient device) =>
            (await device.GetHistoryAsync("bob", 10, None)).Select(m => (m.Direction, m.Text, m.State, m.Deleted, string.Concat(m.Reactions.Select(r => r.Emoji)))).ToList();
        List<(MessageDirection, string, DeliveryState, bool, string)> expected =
        [
            (MessageDirection.Outgoing, "hi bob", DeliveryState.Read, false, ""),
            (MessageDirection.Incoming, "hi alice", DeliveryState.Received, false, "👍"),
            (MessageDirection.Outgoing, "hello", DeliveryState.Read, false, ""),
            (MessageDirection.Outgoing, "", DeliveryState.Read, true, ""),
        ];
        foreach (var (device, name) in new[] { (alice, "laptop"), (phone, "phone") })
        {
            await LoopbackNetwork.WaitUntilAsync(
                async () => (await ShownAsync(device)).SequenceEqual(expected) && (await device.GetUnreadAsync(None)).Count == 0,
                Patience,
                $"alice's {name} shows the edit, the deletion, the reaction, bob's reads and nothing unread");
        }
        Assert.Equal("hello", (await bob.GetHistoryAsync("alice", 10, None)).Single(m => m.Id.SequenceEqual(typo.Id)).Text);

        // Bob's view of his answer: both of alice's devices have it; the phone read it.
        var detail = await bob.GetDeliveryDetailAsync("alice", answer.Id, None);
        Assert.Equal(DeliveryState.Read, detail.Message.State);
        Assert.Equal([alice.Device.DeviceId, phone.Device.DeviceId], detail.Devices.Select(d => d.Device));
        Assert.Equal(DeliveryState.Read, detail.Devices[1].State);
        Assert.NotNull(detail.Devices[0].State);
    }

    [Fact]
    public async Task A_room_reaches_both_devices_of_a_member_and_a_removed_device_cannot_read_what_follows()
    {
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(12);
        var aliceNode = await network.StartUserAsync("alice");
        var bobNode = await network.StartUserAsync("bob");
        var (alice, bob) = (aliceNode.Chat!, bobNode.Chat!);
        var room = (await bob.CreateGroupAsync("band", historyEnabled: false, None)).IdText;
        await bob.InviteToGroupAsync(room, alice.Handle.ToString(), None);
        await WaitForRoomsAsync(alice, async () => (await alice.GetGroupsAsync(None)).Count == 1, "alice is invited");
        await alice.JoinGroupAsync(room, None);
        await WaitForRoomsAsync(bob, async () => (await bob.GetGroupAsync(room, None)).Members.Count == 2, "alice joined");

        // Linked after alice joined: the phone gets the room from her first device.
        var phoneNode = await LinkPhoneAsync(network, alice);
        var phone = phoneNode.Chat!;
        await WaitForRoomsAsync(phone, async () => (await phone.GetGroupsAsync(None)).Any(g => g.IdText == room && g.Status == GroupStatus.Member), "the phone has the room");

        List<string> sent = ["from bob", "from alice's phone", "from alice's laptop"];
        await bob.SendToGroupAsync(room, sent[0], None);
        await WaitForTextsAsync(phone, room, [sent[0]], "the phone reads bob");
        await phone.SendToGroupAsync(room, sent[1], None);
        await WaitForTextsAsync(alice, room, sent[..2], "the laptop reads the phone");
        await alice.SendToGroupAsync(room, sent[2], None);
        foreach (var (device, name) in new[] { (alice, "alice's laptop"), (phone, "alice's phone"), (bob, "bob") })
        {
            await WaitForTextsAsync(device, room, sent, $"{name} shows every message");
        }
        Assert.Equal([false, true, true], (await phone.GetGroupHistoryAsync(room, 100, None)).Messages.Select(m => m.Outgoing));

        var epoch = (await bob.GetGroupAsync(room, None)).Epoch;
        await aliceNode.RemoveDeviceAsync(phoneNode.PeerId, None);
        await WaitForRoomsAsync(bob, async () => (await bob.GetGroupAsync(room, None)).Epoch > epoch, "bob took the device's removal (a new epoch)");
        List<string> after = ["bob after the removal", "laptop after the removal"];
        await bob.SendToGroupAsync(room, after[0], None);
        await WaitForTextsAsync(alice, room, [.. sent, after[0]], "the laptop reads bob after the removal");
        await alice.SendToGroupAsync(room, after[1], None);
        await WaitForTextsAsync(alice, room, [.. sent, .. after], "the laptop reads on");
        await WaitForTextsAsync(bob, room, [.. sent, .. after], "bob reads on");
        await phone.FetchMailboxAsync(None);
        Assert.Equal(sent, await TextsAsync(phone, room));

        // Handed the ciphertexts themselves, the removed phone has no key for them (new epoch, new chains).
        var ciphertexts = (await bob.GetGroupHistoryAsync(room, 100, None)).Messages.Where(m => after.Contains(m.Text)).Select(m => m.Ciphertext).ToList();
        Assert.Equal(2, ciphertexts.Count);
        await network.StopAsync(phoneNode);
        await using var store = await SqliteChatStore.OpenAsync(Path.Combine(network.FolderOf("alice-phone"), "parley.db"), null, DefaultCryptoProvider.Instance, Durability.ProcessCrash, None);
        var (group, entries) = await store.ReadAsync(r =>
        {
            var record = r.GetGroups().Single();
            return (record, r.GetGroupEntries(record.Id));
        }, None);
        var log = new MembershipLog(DefaultCryptoProvider.Instance, Id256.FromBytes(group.Id), group.LinkKey);
        foreach (var entry in entries)
        {
            log.Add(entry);
        }
        var session = GroupSession.Deserialize(DefaultCryptoProvider.Instance, group.Session!);
        foreach (var ciphertext in ciphertexts)
        {
            Assert.NotNull(ciphertext);
            Assert.Equal(GroupMessageFailure.UnknownChain, Assert.Throws<GroupMessageException>(() => session.Decrypt(ciphertext, log.State)).Reason);
        }
    }

    /// <summary>A second device of <paramref name="alice"/>'s account as linking leaves it: the account's secrets in its
    /// own database, its key certified through the device API, joined before it starts.</summary>
    private static async Task<ParleyNode> LinkPhoneAsync(LoopbackNetwork network, ChatClient alice)
    {
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
        await phoneNode.Chat!.Devices.JoinAsync(None);
        await phoneNode.Chat.StartAsync(None);
        return phoneNode;
    }

    private static async Task<List<string>> TextsAsync(ChatClient device, string room) =>
        (await device.GetGroupHistoryAsync(room, 100, None)).Messages.Select(m => m.Text).ToList();

    private static Task WaitForTextsAsync(ChatClient device, string room, List<string> texts, string what) =>
        WaitForRoomsAsync(device, async () => (await TextsAsync(device, room)).SequenceEqual(texts), what);

    /// <summary>Waits until <paramref name="condition"/> holds, checking it again at each room event of <paramref name="device"/> (a room or a room message changed).</summary>
    private static async Task WaitForRoomsAsync(ChatClient device, Func<Task<bool>> condition, string what)
    {
        using var changed = new SemaphoreSlim(0);
        void Changed(object? sender, EventArgs e) => changed.Release();
        device.GroupChanged += Changed;
        device.GroupMessageReceived += Changed;
        device.GroupMessageChanged += Changed;
        try
        {
            using var deadline = new CancellationTokenSource(Patience);
            while (!await condition())
            {
                try
                {
                    await changed.WaitAsync(deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    Assert.Fail($"timed out after {Patience.TotalSeconds:0} s waiting until {what}");
                }
            }
        }
        finally
        {
            device.GroupChanged -= Changed;
            device.GroupMessageReceived -= Changed;
            device.GroupMessageChanged -= Changed;
        }
    }
}
