using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Core.Identity;
using Parley.Testing.Chat;

namespace Parley.Storage.Tests;

/// <summary>What every <see cref="IChatStore"/> must do; run against the in-memory and the SQLite store.</summary>
public abstract class ChatStoreContractTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
    private static readonly byte[] Conversation = new byte[32];
    private static readonly byte[] MessageId = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
    private static readonly byte[] Parent = Enumerable.Repeat((byte)9, 16).ToArray();

    protected IChatStore Store { get; private set; } = null!;

    public async Task InitializeAsync() => Store = await CreateAsync();

    public virtual async Task DisposeAsync()
    {
        if (Store is IAsyncDisposable disposable)
        {
            await disposable.DisposeAsync();
        }
    }

    protected abstract Task<IChatStore> CreateAsync();

    [Fact]
    public async Task Everything_written_in_a_transaction_reads_back()
    {
        var contactKey = IdentityKey.Generate();
        await Store.TransactAsync(tx => WriteOneOfEach(tx, contactKey), CancellationToken.None);
        await Store.ReadAsync(r => AssertOneOfEach(r, contactKey), CancellationToken.None);
    }

    /// <summary>Writes a row of every kind: account, contact, session, prekey, message and its conversation, outbox, device, setting, file.</summary>
    protected static bool WriteOneOfEach(IChatTransaction tx, IdentityKey contactKey)
    {
        tx.PutAccount(new AccountRecord([1, 2, 3], [4, 5, 6], "alice", 42, Now));
        tx.PutContact(new ContactRecord(contactKey.PeerId, contactKey.PublicKey, [7, 7], "bob", ContactState.Accepted, [8], null, Now));
        tx.PutSession(new SessionRecord(contactKey.PeerId, [1, 1, 1, 1, 1, 1, 1, 1], [9, 9, 9], new PendingPrekey(new byte[32], 5, 6), Now, Now));
        tx.PutPrekey(new PrekeyRecord(5, OneTime: false, [10], [11], Now));
        tx.InsertMessage(new MessageRecord(MessageId, Conversation, contactKey.PeerId, MessageDirection.Incoming, 3, [Parent], "hi", DeliveryState.Received, 0, Now, Now, false, true));
        tx.AdvanceConversation(Conversation, contactKey.PeerId, 3, MessageId);
        tx.PutOutbox(new OutboxItem([1], contactKey.PeerId, MessageId, [2, 2], OutboxStage.Stored, 1, Now, Now, [3, 3]));
        tx.PutDevice([1], [2], Now);
        tx.MarkEnvelopeSeen([3], Now);
        tx.PutSetting("x", [1]);
        tx.PutFile(File([7], MessageId, contactKey.PeerId, FileState.Waiting, Now));
        return true;
    }

    /// <summary>Checks that what <see cref="WriteOneOfEach"/> wrote reads back as it was.</summary>
    protected static bool AssertOneOfEach(IChatReader r, IdentityKey contactKey)
    {
        var file = r.GetFile(FileId(7))!;
        Assert.Equal(File([7], MessageId, contactKey.PeerId, FileState.Waiting, Now) with { Manifest = file.Manifest, Have = file.Have, FileId = file.FileId, MessageId = file.MessageId, ConversationId = file.ConversationId }, file);
        Assert.Equal(Manifest(7), file.Manifest);
        Assert.Equal([1, 0], file.Have);
        var account = r.GetAccount()!;
        Assert.Equal([1, 2, 3], account.AccountSeed);
        Assert.Equal(42UL, account.NameProofOfWork);
        var contact = r.GetContact(contactKey.PeerId)!;
        Assert.Equal("bob", contact.Name);
        Assert.Equal(contactKey.PublicKey, contact.AccountKey);
        Assert.Equal([8], contact.TheirMailboxToken);
        var session = Assert.Single(r.GetSessions(contactKey.PeerId));
        Assert.Equal([9, 9, 9], session.State);
        Assert.Equal(6u, session.Prekey!.OneTimePrekeyId);
        Assert.True(r.HasSession(contactKey.PeerId));
        Assert.Equal([10], r.GetPrekey(5, oneTime: false)!.PrivateKey);
        Assert.Null(r.GetPrekey(5, oneTime: true));
        var message = Assert.Single(r.GetMessages(Conversation, 10));
        Assert.Equal(Parent, Assert.Single(message.Parents));
        Assert.Equal(Now, message.SentAt);
        Assert.True(message.Unread);
        var (lamport, heads) = r.GetConversationClock(Conversation);
        Assert.Equal(3UL, lamport);
        Assert.Equal(MessageId, Assert.Single(heads));
        var queued = Assert.Single(r.GetOutbox(Now, 10));
        Assert.Equal(OutboxStage.Stored, queued.Stage);
        Assert.Equal([3, 3], queued.Content);
        Assert.Equal([[2]], r.GetDeviceCertificates());
        Assert.Equal([1], r.GetSetting("x"));
        Assert.Null(r.GetSetting("y"));
        return true;
    }

    [Fact]
    public async Task Sessions_and_outbox_entries_keep_the_device_they_are_for()
    {
        var contact = IdentityKey.Generate().PeerId;
        var device = IdentityKey.Generate().PeerId;
        await Store.TransactAsync(tx =>
        {
            tx.PutSession(new SessionRecord(contact, [1, 1, 1, 1, 1, 1, 1, 1], [9], null, Now, Now));
            tx.PutSession(new SessionRecord(contact, [2, 2, 2, 2, 2, 2, 2, 2], [9], null, Now.AddSeconds(1), Now, device));
            tx.PutOutbox(new OutboxItem([1], contact, null, [1], OutboxStage.Sending, 0, Now, Now));
            tx.PutOutbox(new OutboxItem([2], contact, null, [2], OutboxStage.Sending, 0, Now, Now.AddSeconds(1), null, device));
            return true;
        }, CancellationToken.None);

        await Store.ReadAsync(r =>
        {
            Assert.Equal([device, null], r.GetSessions(contact).Select(s => s.Device));
            Assert.Equal(device, r.GetSession(contact, [2, 2, 2, 2, 2, 2, 2, 2])!.Device);
            Assert.Null(r.GetSession(contact, [1, 1, 1, 1, 1, 1, 1, 1])!.Device);
            Assert.Equal([null, device], r.GetOutboxFor(contact).Select(i => i.Device));
            return true;
        }, CancellationToken.None);
    }

    [Fact]
    public async Task A_setting_reads_back_as_last_committed_after_reads_writes_and_a_rolled_back_write()
    {
        Assert.Null(await Store.ReadAsync(r => r.GetSetting("s"), CancellationToken.None));
        await Store.TransactAsync(tx =>
        {
            tx.PutSetting("s", [1]);
            Assert.Equal([1], tx.GetSetting("s"));
            return true;
        }, CancellationToken.None);
        Assert.Equal([1], await Store.ReadAsync(r => r.GetSetting("s"), CancellationToken.None));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.TransactAsync<bool>(tx =>
        {
            tx.PutSetting("s", [2]);
            Assert.Equal([2], tx.GetSetting("s"));
            throw new InvalidOperationException("refused");
        }, CancellationToken.None));

        Assert.Equal([1], await Store.ReadAsync(r => r.GetSetting("s"), CancellationToken.None));
        Assert.Equal([1], await Store.TransactAsync(tx => tx.GetSetting("s"), CancellationToken.None));
    }

    [Fact]
    public async Task A_transaction_that_throws_leaves_nothing_behind()
    {
        var peer = IdentityKey.Generate();
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.TransactAsync<bool>(tx =>
        {
            tx.PutSetting("x", [1]);
            tx.PutContact(new ContactRecord(peer.PeerId, peer.PublicKey, [7], "bob", ContactState.Accepted, null, null, Now));
            tx.PutOutbox(new OutboxItem([1], peer.PeerId, null, [2], OutboxStage.Sending, 0, Now, Now));
            throw new InvalidOperationException("refused");
        }, CancellationToken.None));

        await Store.ReadAsync(r =>
        {
            Assert.Null(r.GetSetting("x"));
            Assert.Null(r.GetContact(peer.PeerId));
            Assert.Equal(0, r.CountOutbox());
            return true;
        }, CancellationToken.None);
    }

    [Fact]
    public async Task A_device_is_listed_once_whatever_its_certificate_and_forgotten_when_deleted()
    {
        await Store.TransactAsync(tx =>
        {
            tx.PutDevice([1], [10], Now);
            tx.PutDevice([2], [20], Now.AddSeconds(1));
            tx.PutDevice([1], [11], Now.AddSeconds(2));
            tx.DeleteDevice([3]);
            return true;
        }, CancellationToken.None);
        Assert.Equal([[11], [20]], await Store.ReadAsync(r => r.GetDeviceCertificates(), CancellationToken.None));

        await Store.TransactAsync(tx =>
        {
            tx.DeleteDevice([1]);
            return true;
        }, CancellationToken.None);
        Assert.Equal([[20]], await Store.ReadAsync(r => r.GetDeviceCertificates(), CancellationToken.None));
    }

    [Fact]
    public async Task Contacts_are_found_by_name_whatever_its_case_and_only_those()
    {
        var (bob1, bob2, carol) = (IdentityKey.Generate(), IdentityKey.Generate(), IdentityKey.Generate());
        await Store.TransactAsync(tx =>
        {
            foreach (var (key, name) in new[] { (bob1, "bob"), (bob2, "bob"), (carol, "carol") })
            {
                tx.PutContact(new ContactRecord(key.PeerId, key.PublicKey, [7], name, ContactState.Accepted, null, null, DateTimeOffset.UnixEpoch));
            }
            return true;
        }, CancellationToken.None);

        await Store.ReadAsync(r =>
        {
            Assert.Equal(new[] { bob1.PeerId, bob2.PeerId }.Select(p => p.ToString()).Order(), r.GetContactsNamed("BoB").Select(c => c.Account.ToString()).Order());
            Assert.Equal(carol.PeerId, Assert.Single(r.GetContactsNamed("carol")).Account);
            Assert.Empty(r.GetContactsNamed("bo"));
            Assert.Equal(["bob", "bob", "carol"], r.GetContacts().Select(c => c.Name));
            return true;
        }, CancellationToken.None);
    }

    [Fact]
    public async Task A_conversation_keeps_its_clock_and_the_ids_of_its_latest_messages()
    {
        var conversation = new byte[32];
        // Zero bytes inside ids must survive being joined in SQL.
        byte[] Id(byte n) => [.. Enumerable.Repeat(n, 8), 0, 0, .. Enumerable.Repeat(n, 6)];
        await Store.TransactAsync(tx =>
        {
            tx.AdvanceConversation(conversation, null, 1, Id(1));
            tx.AdvanceConversation(conversation, null, 2, Id(2));
            tx.AdvanceConversation(conversation, null, 2, Id(3));
            tx.AdvanceConversation(conversation, null, 1, Id(4));
            return true;
        }, CancellationToken.None);
        var (lamport, heads) = await Store.ReadAsync(r => r.GetConversationClock(conversation), CancellationToken.None);
        Assert.Equal(2UL, lamport);
        Assert.Equal([Id(2), Id(3)], heads);
        Assert.Equal((0UL, 0), await Store.ReadAsync(r => (r.GetConversationClock(new byte[32].Select(_ => (byte)9).ToArray()).Lamport, r.GetConversationClock([9]).Heads.Count), CancellationToken.None));
    }

    [Fact]
    public async Task An_envelope_id_is_seen_once_unless_its_transaction_rolls_back_or_it_is_forgotten()
    {
        Assert.True(await Store.TransactAsync(tx => tx.MarkEnvelopeSeen([1], DateTimeOffset.UnixEpoch), CancellationToken.None));
        Assert.False(await Store.TransactAsync(tx => tx.MarkEnvelopeSeen([1], DateTimeOffset.UnixEpoch), CancellationToken.None));
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.TransactAsync<bool>(tx =>
        {
            tx.MarkEnvelopeSeen([2], DateTimeOffset.UnixEpoch);
            throw new InvalidOperationException("refused");
        }, CancellationToken.None));
        Assert.True(await Store.TransactAsync(tx => tx.MarkEnvelopeSeen([2], DateTimeOffset.UnixEpoch), CancellationToken.None));

        await Store.TransactAsync(tx =>
        {
            tx.MarkEnvelopeSeen([3], Now);
            tx.ForgetSeenEnvelopes(DateTimeOffset.UnixEpoch.AddDays(1));
            return true;
        }, CancellationToken.None);
        Assert.True(await Store.TransactAsync(tx => tx.MarkEnvelopeSeen([1], DateTimeOffset.UnixEpoch), CancellationToken.None));
        Assert.False(await Store.TransactAsync(tx => tx.MarkEnvelopeSeen([3], Now), CancellationToken.None));
    }

    [Fact]
    public async Task A_message_id_is_stored_once()
    {
        var peer = IdentityKey.Generate().PeerId;
        var message = new MessageRecord(new byte[16], new byte[32], peer, MessageDirection.Incoming, 1, [], "x", DeliveryState.Received, 0, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, false, true);
        Assert.True(await Store.TransactAsync(tx => tx.InsertMessage(message), CancellationToken.None));
        Assert.False(await Store.TransactAsync(tx => tx.InsertMessage(message with { Text = "y" }), CancellationToken.None));
        Assert.Equal("x", (await Store.ReadAsync(r => r.GetMessage(new byte[16]), CancellationToken.None))!.Text);
    }

    [Fact]
    public async Task Messages_come_in_display_order_and_a_state_only_moves_forward()
    {
        var (a, b) = (IdentityKey.Generate().PeerId, IdentityKey.Generate().PeerId);
        var conversation = new byte[32];
        MessageRecord Message(byte id, PeerId sender, ulong lamport, bool unread) =>
            new(Enumerable.Repeat(id, 16).ToArray(), conversation, sender, MessageDirection.Outgoing, lamport, [], $"m{id}", DeliveryState.Queued, 0, Now, Now, false, unread);
        await Store.TransactAsync(tx =>
        {
            tx.InsertMessage(Message(3, a, 2, unread: true));
            tx.InsertMessage(Message(1, a, 1, unread: false));
            tx.InsertMessage(Message(2, b, 1, unread: true));
            return true;
        }, CancellationToken.None);
        var first = string.CompareOrdinal(a.ToString(), b.ToString()) < 0 ? "m1" : "m2";
        var second = first == "m1" ? "m2" : "m1";

        Assert.Equal([first, second, "m3"], (await Store.ReadAsync(r => r.GetMessages(conversation, 10), CancellationToken.None)).Select(m => m.Text));
        Assert.Equal([second, "m3"], (await Store.ReadAsync(r => r.GetMessages(conversation, 2), CancellationToken.None)).Select(m => m.Text));
        Assert.Equal(["m2", "m3"], (await Store.ReadAsync(r => r.GetUnread(10), CancellationToken.None)).Select(m => m.Text).Order());

        var id = Enumerable.Repeat((byte)3, 16).ToArray();
        Assert.Equal(DeliveryState.Delivered, (await Store.TransactAsync(tx => tx.AdvanceMessageState(id, DeliveryState.Delivered), CancellationToken.None))!.State);
        Assert.Null(await Store.TransactAsync(tx => tx.AdvanceMessageState(id, DeliveryState.Stored), CancellationToken.None));
        await Store.TransactAsync(tx =>
        {
            tx.MarkRead(id);
            tx.UpdateMessageState(id, DeliveryState.Read, 4);
            return true;
        }, CancellationToken.None);
        var read = (await Store.ReadAsync(r => r.GetMessage(id), CancellationToken.None))!;
        Assert.Equal((DeliveryState.Read, 4, false), (read.State, read.StoredCount, read.Unread));

        await Store.TransactAsync(tx =>
        {
            tx.DeleteMessages(conversation);
            return true;
        }, CancellationToken.None);
        Assert.Empty(await Store.ReadAsync(r => r.GetMessages(conversation, 10), CancellationToken.None));
    }

    [Fact]
    public async Task A_devices_delivery_of_a_message_only_moves_forward_and_goes_with_its_conversation()
    {
        var (laptop, phone) = (IdentityKey.Generate().PeerId, IdentityKey.Generate().PeerId);
        var conversation = Enumerable.Repeat((byte)5, 32).ToArray();
        await Store.TransactAsync(tx =>
        {
            tx.InsertMessage(new MessageRecord(MessageId, conversation, laptop, MessageDirection.Outgoing, 1, [], "hi", DeliveryState.Queued, 0, Now, Now, false, false));
            tx.PutDeviceDelivery(MessageId, new DeviceDelivery(phone, DeliveryState.Delivered, Now));
            tx.PutDeviceDelivery(MessageId, new DeviceDelivery(laptop, DeliveryState.Read, Now.AddSeconds(1)));
            tx.PutDeviceDelivery(MessageId, new DeviceDelivery(phone, DeliveryState.Read, Now.AddSeconds(2)));
            // Never back: a late delivered receipt after the read one changes nothing.
            tx.PutDeviceDelivery(MessageId, new DeviceDelivery(laptop, DeliveryState.Delivered, Now.AddSeconds(3)));
            return true;
        }, CancellationToken.None);

        Assert.Equal(
            [new DeviceDelivery(phone, DeliveryState.Read, Now.AddSeconds(2)), new DeviceDelivery(laptop, DeliveryState.Read, Now.AddSeconds(1))],
            await Store.ReadAsync(r => r.GetDeviceDeliveries(MessageId), CancellationToken.None));
        Assert.Empty(await Store.ReadAsync(r => r.GetDeviceDeliveries(Parent), CancellationToken.None));

        await Store.TransactAsync(tx =>
        {
            tx.DeleteMessages(conversation);
            return true;
        }, CancellationToken.None);
        Assert.Empty(await Store.ReadAsync(r => r.GetDeviceDeliveries(MessageId), CancellationToken.None));
    }

    [Fact]
    public async Task The_outbox_gives_what_is_due_oldest_first_and_forgets_a_message_s_envelopes_together()
    {
        var peer = IdentityKey.Generate().PeerId;
        var message = new byte[16];
        await Store.TransactAsync(tx =>
        {
            tx.PutOutbox(new OutboxItem([1], peer, message, [1], OutboxStage.Sending, 0, Now.AddSeconds(2), Now));
            tx.PutOutbox(new OutboxItem([2], peer, null, [2], OutboxStage.Stored, 0, Now.AddSeconds(1), Now));
            tx.PutOutbox(new OutboxItem([3], peer, message, [3], OutboxStage.Sending, 0, Now.AddHours(1), Now));
            return true;
        }, CancellationToken.None);

        Assert.Equal([[2], [1]], (await Store.ReadAsync(r => r.GetOutbox(Now.AddMinutes(1), 10), CancellationToken.None)).Select(i => i.EnvelopeId));
        Assert.Equal([[2]], (await Store.ReadAsync(r => r.GetOutbox(Now.AddMinutes(1), 1), CancellationToken.None)).Select(i => i.EnvelopeId));
        Assert.Equal((3, 2), await Store.ReadAsync(r => (r.CountOutbox(), r.CountOutbox(OutboxStage.Sending)), CancellationToken.None));
        await Store.TransactAsync(tx =>
        {
            tx.PutOutbox(new OutboxItem([4], IdentityKey.Generate().PeerId, null, [4], OutboxStage.Sending, 0, Now, Now.AddSeconds(-1)));
            tx.PutOutbox(new OutboxItem([0], peer, null, [0], OutboxStage.Sending, 0, Now, Now.AddSeconds(-1)));
            return true;
        }, CancellationToken.None);
        // One recipient's entries, due or not, oldest first (and in the order they were put when as old).
        Assert.Equal([[0], [1], [2], [3]], (await Store.ReadAsync(r => r.GetOutboxFor(peer), CancellationToken.None)).Select(i => i.EnvelopeId));
        await Store.TransactAsync(tx =>
        {
            tx.DeleteOutbox([0]);
            tx.DeleteOutbox([4]);
            return true;
        }, CancellationToken.None);

        await Store.TransactAsync(tx =>
        {
            tx.PutOutbox(tx.GetOutboxItem([2])! with { Attempts = 5 });
            tx.DeleteOutboxForMessage(message);
            return true;
        }, CancellationToken.None);
        var left = Assert.Single(await Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None));
        Assert.Equal(5, left.Attempts);
        await Store.TransactAsync(tx =>
        {
            tx.DeleteOutbox([2]);
            return true;
        }, CancellationToken.None);
        Assert.Null(await Store.ReadAsync(r => r.GetOutboxItem([2]), CancellationToken.None));
    }

    [Fact]
    public async Task Sessions_come_last_heard_first_and_prekeys_oldest_first()
    {
        var peer = IdentityKey.Generate().PeerId;
        await Store.TransactAsync(tx =>
        {
            tx.PutSession(new SessionRecord(peer, [1], [1], null, Now, Now));
            tx.PutSession(new SessionRecord(peer, [2], [2], null, Now.AddSeconds(5), Now));
            tx.PutSession(new SessionRecord(peer, [3], [3], null, DateTimeOffset.UnixEpoch, Now.AddSeconds(9)));
            tx.PutPrekey(new PrekeyRecord(2, OneTime: true, [2], [2], Now.AddSeconds(1)));
            tx.PutPrekey(new PrekeyRecord(1, OneTime: true, [1], [1], Now.AddSeconds(2)));
            return true;
        }, CancellationToken.None);

        Assert.Equal([[2], [1], [3]], (await Store.ReadAsync(r => r.GetSessions(peer), CancellationToken.None)).Select(s => s.SessionId));
        Assert.Equal([2u, 1u], (await Store.ReadAsync(r => r.GetPrekeys(oneTime: true), CancellationToken.None)).Select(p => p.Id));

        await Store.TransactAsync(tx =>
        {
            tx.DeleteSession(peer, [2]);
            tx.DeletePrekey(2, oneTime: true);
            return true;
        }, CancellationToken.None);
        Assert.Equal([[1], [3]], (await Store.ReadAsync(r => r.GetSessions(peer), CancellationToken.None)).Select(s => s.SessionId));
        Assert.Null(await Store.ReadAsync(r => r.GetSession(peer, [2]), CancellationToken.None));
        Assert.Equal([1u], (await Store.ReadAsync(r => r.GetPrekeys(oneTime: true), CancellationToken.None)).Select(p => p.Id));
    }

    [Fact]
    public async Task A_room_keeps_its_entries_once_in_order_its_messages_in_display_order_and_its_waiting_ciphertexts_capped()
    {
        var group = Enumerable.Repeat((byte)7, 32).ToArray();
        var sender = IdentityKey.Generate().PublicKey;
        GroupMessageRecord Message(byte id, ulong lamport, uint iteration) => new(
            Enumerable.Repeat(id, 32).ToArray(), group, sender, [1], 1, iteration, lamport, [id], [id], $"g{id}", Now, Now, true, 2, 0, 0, true, false);
        await Store.TransactAsync(tx =>
        {
            tx.PutGroup(new GroupRecord(group, [1], "alice#abcd", GroupStatus.Member, [5], Now));
            tx.AddGroupEntry(group, [2], [20]);
            tx.AddGroupEntry(group, [1], [10]);
            tx.AddGroupEntry(group, [2], [21]);
            tx.InsertGroupMessage(Message(2, 2, 1));
            tx.InsertGroupMessage(Message(1, 1, 0));
            tx.InsertGroupMessage(Message(3, 3, 5));
            for (var i = 0; i < 4; i++)
            {
                tx.AddGroupPending(group, [(byte)i], Now, maxPerGroup: 3);
            }
            return true;
        }, CancellationToken.None);

        await Store.ReadAsync(r =>
        {
            Assert.Equal(GroupStatus.Member, Assert.Single(r.GetGroups()).Status);
            Assert.Equal([5], r.GetGroup(group)!.Session);
            Assert.Equal([[20], [10]], r.GetGroupEntries(group));
            Assert.Equal(["g1", "g2", "g3"], r.GetGroupMessages(group, 10).Select(m => m.Text));
            Assert.Equal(["g1", "g2"], r.GetGroupMessagesOfChain(group, sender, [1], 1, 0, 1).Select(m => m.Text));
            Assert.Equal([[1], [2], [3]], r.GetGroupPending(group).Select(p => p.Ciphertext));
            return true;
        }, CancellationToken.None);

        var messageId = Enumerable.Repeat((byte)1, 32).ToArray();
        await Store.TransactAsync(tx =>
        {
            Assert.False(tx.InsertGroupMessage(Message(1, 9, 9)));
            for (var i = 0; i < 3; i++)
            {
                tx.CountGroupCopy(messageId, delivered: true);
            }
            tx.CountGroupCopy(messageId, delivered: false);
            tx.MarkGroupRead(group);
            tx.DeleteGroupPending(tx.GetGroupPending(group)[0].Id);
            return true;
        }, CancellationToken.None);
        var counted = (await Store.ReadAsync(r => r.GetGroupMessage(messageId), CancellationToken.None))!;
        Assert.Equal((2, 1, false), (counted.Delivered, counted.Stored, counted.Unread));
        Assert.Equal(2, (await Store.ReadAsync(r => r.GetGroupPending(group), CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Files_are_found_by_id_and_message_listed_newest_first_and_the_unfinished_oldest_first()
    {
        var peer = IdentityKey.Generate().PeerId;
        var roomMessage = Enumerable.Repeat((byte)4, 32).ToArray();
        await Store.TransactAsync(tx =>
        {
            tx.PutFile(File([1], MessageId, peer, FileState.Waiting, Now));
            tx.PutFile(File([2], roomMessage, peer, FileState.TooLarge, Now.AddSeconds(1)) with { InRoom = true, Problem = "too large" });
            tx.PutFile(File([3], [5], peer, FileState.Complete, Now.AddSeconds(2)) with { SavedAs = "a.jpg" });
            tx.PutFile(File([4], [6], peer, FileState.Offered, Now.AddSeconds(3)) with { Outgoing = true });
            tx.PutFile(File([5], [8], peer, FileState.NoSpace, Now.AddSeconds(4)));
            return true;
        }, CancellationToken.None);

        await Store.ReadAsync(r =>
        {
            Assert.Equal([5, 4, 3, 2, 1], Ids(r.GetFiles(10)));
            Assert.Equal([5, 4], Ids(r.GetFiles(2)));
            Assert.Equal([1, 2, 5], Ids(r.GetUnfinishedFiles(10)));
            Assert.Equal(FileId(2), r.GetFileOfMessage(roomMessage)!.FileId);
            Assert.True(r.GetFile(FileId(2))!.InRoom);
            Assert.Equal("too large", r.GetFile(FileId(2))!.Problem);
            Assert.Equal("a.jpg", r.GetFile(FileId(3))!.SavedAs);
            Assert.Null(r.GetFile(FileId(9)));
            Assert.Null(r.GetFileOfMessage([9]));
            return true;
        }, CancellationToken.None);

        // A record is replaced whole: progress and state move on.
        await Store.TransactAsync(tx =>
        {
            tx.PutFile(tx.GetFile(FileId(1))! with { State = FileState.Complete, Have = [3, 0], ChunksHeld = 2, SavedAs = "b.bin", Problem = null });
            return true;
        }, CancellationToken.None);
        var done = (await Store.ReadAsync(r => r.GetFile(FileId(1)), CancellationToken.None))!;
        Assert.Equal((FileState.Complete, 2, "b.bin"), (done.State, done.ChunksHeld, done.SavedAs));
        Assert.Equal([3, 0], done.Have);
        Assert.Equal([2, 5], Ids(await Store.ReadAsync(r => r.GetUnfinishedFiles(10), CancellationToken.None)));
    }

    protected static byte[] FileId(byte tag) => Enumerable.Repeat(tag, FileManifest.FileIdLength).ToArray();

    /// <summary>The bytes stored as a file's manifest (the store does not read them).</summary>
    protected static byte[] Manifest(byte tag) => Enumerable.Repeat(tag, 100).ToArray();

    private static FileRecord File(byte[] tag, byte[] messageId, PeerId peer, FileState state, DateTimeOffset at) =>
        new(FileId(tag[0]), messageId, Conversation, false, peer, false, Manifest(tag[0]), state, [1, 0], 1, null, null, at, at.AddSeconds(5));

    private static byte[] Ids(IEnumerable<FileRecord> files) => files.Select(f => f.FileId[0]).ToArray();

    [Fact]
    public async Task Actions_are_rows_of_their_own_found_by_target_and_clock_and_texts_are_edited_and_erased_in_place()
    {
        var (a, b) = (IdentityKey.Generate().PeerId, IdentityKey.Generate().PeerId);
        var conversation = Enumerable.Repeat((byte)4, 32).ToArray();
        var target = Enumerable.Repeat((byte)1, 16).ToArray();
        MessageRecord Row(byte id, PeerId sender, ulong lamport, MessageKind kind, string text, byte[]? about) =>
            new(Enumerable.Repeat(id, 16).ToArray(), conversation, sender, MessageDirection.Incoming, lamport, [], text, DeliveryState.Received, 0, Now, Now, false, false, kind, about);
        await Store.TransactAsync(tx =>
        {
            // The reaction and the edit came before their message; the reply quotes it.
            tx.InsertMessage(Row(3, b, 3, MessageKind.Reaction, "👍", target));
            tx.InsertMessage(Row(2, a, 2, MessageKind.Edit, "hello!", target));
            tx.InsertMessage(Row(1, a, 1, MessageKind.Text, "hello", null));
            tx.InsertMessage(Row(4, b, 4, MessageKind.Text, "hi", target));
            return true;
        }, CancellationToken.None);

        await Store.ReadAsync(r =>
        {
            Assert.Equal(["hello", "hi"], r.GetMessages(conversation, 10).Select(m => m.Text));
            Assert.Equal(target, r.GetMessages(conversation, 10)[1].Target);
            Assert.Equal([MessageKind.Edit, MessageKind.Reaction], r.GetActions(target).Select(m => m.Kind));
            Assert.Equal(["👍"], r.GetActionsSince(conversation, 3, 10).Select(m => m.Text));
            Assert.Equal(2, r.GetActionsSince(conversation, 0, 10).Count);
            Assert.Single(r.GetActionsSince(conversation, 0, 1));
            return true;
        }, CancellationToken.None);

        var editedAt = Now + TimeSpan.FromMinutes(1);
        await Store.TransactAsync(tx =>
        {
            tx.EditMessage(target, "hello!", editedAt);
            return true;
        }, CancellationToken.None);
        var edited = (await Store.ReadAsync(r => r.GetMessage(target), CancellationToken.None))!;
        Assert.Equal(("hello!", editedAt, false), (edited.Text, edited.EditedAt, edited.Deleted));

        await Store.TransactAsync(tx =>
        {
            tx.EraseMessage(target);
            tx.EraseMessage(Enumerable.Repeat((byte)2, 16).ToArray());
            return true;
        }, CancellationToken.None);
        var erased = (await Store.ReadAsync(r => r.GetMessage(target), CancellationToken.None))!;
        Assert.Equal(("", true), (erased.Text, erased.Deleted));
        var erasedEdit = await Store.ReadAsync(r => r.GetActions(target)[0], CancellationToken.None);
        Assert.Equal(("", true), (erasedEdit.Text, erasedEdit.Deleted));
    }

    [Fact]
    public async Task A_room_shows_its_texts_keeps_its_whole_timeline_and_erases_a_message_with_its_ciphertext()
    {
        var group = Enumerable.Repeat((byte)8, 32).ToArray();
        var sender = IdentityKey.Generate().PublicKey;
        var target = Enumerable.Repeat((byte)1, 32).ToArray();
        GroupMessageRecord Row(byte id, ulong lamport, MessageKind kind, string text, byte[]? about) => new(
            Enumerable.Repeat(id, 32).ToArray(), group, sender, [1], 1, (uint)lamport, lamport, [id, 1], [id, 2], text, Now, Now, false, 0, 0, 0, false, false, kind, about);
        await Store.TransactAsync(tx =>
        {
            tx.InsertGroupMessage(Row(1, 1, MessageKind.Text, "hello", null));
            tx.InsertGroupMessage(Row(2, 2, MessageKind.Reaction, "🎉", target));
            tx.InsertGroupMessage(Row(3, 3, MessageKind.Edit, "hello all", target));
            tx.InsertGroupMessage(Row(4, 4, MessageKind.Text, "welcome", target));
            return true;
        }, CancellationToken.None);

        await Store.ReadAsync(r =>
        {
            Assert.Equal(["hello", "welcome"], r.GetGroupMessages(group, 10).Select(m => m.Text));
            Assert.Equal(["hello", "🎉", "hello all", "welcome"], r.GetGroupTimeline(group, 10).Select(m => m.Text));
            Assert.Equal([MessageKind.Reaction, MessageKind.Edit], r.GetGroupActions(target).Select(m => m.Kind));
            Assert.Equal(["hello all"], r.GetGroupActionsSince(group, 3, 10).Select(m => m.Text));
            return true;
        }, CancellationToken.None);

        await Store.TransactAsync(tx =>
        {
            tx.EditGroupMessage(target, "hello all", Now);
            return true;
        }, CancellationToken.None);
        Assert.Equal("hello all", (await Store.ReadAsync(r => r.GetGroupMessage(target), CancellationToken.None))!.Text);
        await Store.TransactAsync(tx =>
        {
            tx.EraseGroupMessage(target, [9]);
            return true;
        }, CancellationToken.None);
        var erased = (await Store.ReadAsync(r => r.GetGroupMessage(target), CancellationToken.None))!;
        Assert.Equal(("", true, (byte[]?)null), (erased.Text, erased.Deleted, erased.Ciphertext));
        Assert.Equal([9], erased.Body);
        Assert.Empty(await Store.ReadAsync(r => r.GetGroupMessagesOfChain(group, sender, [1], 1, 1, 1).Where(m => m.Ciphertext is not null).ToList(), CancellationToken.None));
    }
}

public sealed class InMemoryChatStoreContractTests : ChatStoreContractTests
{
    protected override Task<IChatStore> CreateAsync() => Task.FromResult<IChatStore>(new InMemoryChatStore());
}

public sealed class SqliteChatStoreContractTests : ChatStoreContractTests
{
    private readonly string _folder = Directory.CreateTempSubdirectory("parley-chatstore-contract-").FullName;

    private string DatabasePath => Path.Combine(_folder, SqliteChatStore.FileName);

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task Everything_written_in_a_transaction_reads_back_after_reopening()
    {
        var contactKey = IdentityKey.Generate();
        await Store.TransactAsync(tx => WriteOneOfEach(tx, contactKey), CancellationToken.None);
        await ((SqliteChatStore)Store).DisposeAsync();

        await using var reopened = await OpenAsync();
        await reopened.ReadAsync(r => AssertOneOfEach(r, contactKey), CancellationToken.None);
        Assert.Equal("ok", await reopened.CheckIntegrityAsync(CancellationToken.None));
    }

    protected override async Task<IChatStore> CreateAsync() => await OpenAsync();

    private Task<SqliteChatStore> OpenAsync() =>
        SqliteChatStore.OpenAsync(DatabasePath, null, Core.Crypto.DefaultCryptoProvider.Instance, Durability.ProcessCrash, CancellationToken.None);
}
