using Parley.Chat.Crypto;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Storage.Tests;

public sealed class SqliteChatStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("parley-chatstore-").FullName;
    private readonly ICryptoProvider _crypto = DefaultCryptoProvider.Instance;

    private string DatabasePath => Path.Combine(_folder, SqliteChatStore.FileName);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Everything_written_in_a_transaction_reads_back_after_reopening()
    {
        var contactKey = IdentityKey.Generate();
        var conversation = new byte[32];
        var messageId = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
        var parent = Enumerable.Repeat((byte)9, 16).ToArray();
        var now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
        await using (var store = await OpenAsync(null))
        {
            await store.TransactAsync(tx =>
            {
                tx.PutAccount(new AccountRecord([1, 2, 3], [4, 5, 6], "alice", 42, now));
                tx.PutContact(new ContactRecord(contactKey.PeerId, contactKey.PublicKey, [7, 7], "bob", ContactState.Accepted, [8], null, now));
                tx.PutSession(new SessionRecord(contactKey.PeerId, [1, 1, 1, 1, 1, 1, 1, 1], [9, 9, 9], new PendingPrekey(new byte[32], 5, 6), now, now));
                tx.PutPrekey(new PrekeyRecord(5, OneTime: false, [10], [11], now));
                tx.InsertMessage(new MessageRecord(messageId, conversation, contactKey.PeerId, MessageDirection.Incoming, 3, [parent], "hi", DeliveryState.Received, 0, now, now, false, true));
                tx.AdvanceConversation(conversation, contactKey.PeerId, 3, messageId);
                tx.PutOutbox(new OutboxItem([1], contactKey.PeerId, messageId, [2, 2], OutboxStage.Stored, 1, now, now));
                tx.MarkEnvelopeSeen([3], now);
                tx.PutSetting("x", [1]);
                return true;
            }, CancellationToken.None);
        }
        await using (var store = await OpenAsync(null))
        {
            await store.ReadAsync(r =>
            {
                var account = r.GetAccount()!;
                Assert.Equal([1, 2, 3], account.AccountSeed);
                Assert.Equal(42UL, account.NameProofOfWork);
                var contact = r.GetContact(contactKey.PeerId)!;
                Assert.Equal("bob", contact.Name);
                Assert.Equal(contactKey.PublicKey, contact.AccountKey);
                var session = Assert.Single(r.GetSessions(contactKey.PeerId));
                Assert.Equal([9, 9, 9], session.State);
                Assert.Equal(6u, session.Prekey!.OneTimePrekeyId);
                Assert.Equal([10], r.GetPrekey(5, oneTime: false)!.PrivateKey);
                var message = Assert.Single(r.GetMessages(conversation, 10));
                Assert.Equal(parent, Assert.Single(message.Parents));
                Assert.True(message.Unread);
                var (lamport, heads) = r.GetConversationClock(conversation);
                Assert.Equal(3UL, lamport);
                Assert.Equal(messageId, Assert.Single(heads));
                Assert.Equal(OutboxStage.Stored, Assert.Single(r.GetOutbox(now, 10)).Stage);
                Assert.Equal(3UL, r.GetConversationClock(conversation).Lamport);
                Assert.Equal([1], r.GetSetting("x"));
                return true;
            }, CancellationToken.None);
            Assert.Equal("ok", await store.CheckIntegrityAsync(CancellationToken.None));
        }
    }

    [Fact]
    public async Task Secrets_never_reach_the_file_in_the_clear()
    {
        var secret = Enumerable.Repeat((byte)0xA5, 32).ToArray();
        await using (var store = await OpenAsync("correct horse"))
        {
            await store.TransactAsync(tx =>
            {
                tx.PutAccount(new AccountRecord(secret, secret, "alice", null, DateTimeOffset.UnixEpoch));
                return true;
            }, CancellationToken.None);
        }
        foreach (var file in Directory.GetFiles(_folder))
        {
            var bytes = await File.ReadAllBytesAsync(file);
            Assert.Equal(-1, bytes.AsSpan().IndexOf(secret));
        }
    }

    [Fact]
    public async Task A_protected_store_needs_the_right_passphrase()
    {
        await using (await OpenAsync("correct horse"))
        {
        }
        await Assert.ThrowsAsync<PassphraseRequiredException>(() => OpenAsync(null));
        await Assert.ThrowsAsync<WrongPassphraseException>(() => OpenAsync("wrong horse"));
        await using (var store = await OpenAsync("correct horse"))
        {
            await store.ChangePassphraseAsync("battery staple", CancellationToken.None);
        }
        await using (await OpenAsync("battery staple"))
        {
        }
    }

    private Task<SqliteChatStore> OpenAsync(string? passphrase) =>
        SqliteChatStore.OpenAsync(DatabasePath, passphrase, _crypto, Durability.ProcessCrash, CancellationToken.None);
}
