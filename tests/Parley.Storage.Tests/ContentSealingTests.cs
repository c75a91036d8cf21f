using System.Text;
using Parley.Chat.Crypto;
using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Storage.Tests;

/// <summary>
/// Content sealed at rest in parley.db: message text, names, mailbox tokens and room contents never reach the database
/// files (the write-ahead log included) in the clear, read back after reopening, and a database written by an older
/// Parley has them sealed, all or nothing, on its first unlock.
/// </summary>
public sealed class ContentSealingTests : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000);
    private static readonly byte[] Group = Enumerable.Repeat((byte)7, 32).ToArray();
    private static readonly byte[] MessageId = Enumerable.Repeat((byte)1, 16).ToArray();
    private static readonly byte[] Conversation = new byte[32];

    private readonly string _folder = Directory.CreateTempSubdirectory("parley-sealing-").FullName;
    private readonly ICryptoProvider _crypto = DefaultCryptoProvider.Instance;
    private readonly IdentityKey _bob = IdentityKey.Generate();

    private string DatabasePath => Path.Combine(_folder, SqliteChatStore.FileName);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("correct horse")]
    [InlineData(null)]
    public async Task Sealed_content_never_reaches_the_files_in_the_clear_and_reads_back_after_reopening(string? passphrase)
    {
        await using (var store = await OpenAsync(passphrase))
        {
            await store.TransactAsync(tx =>
            {
                tx.PutAccount(new AccountRecord([1], [2], Secret("ownname"), null, Now));
                tx.PutContact(new ContactRecord(_bob.PeerId, _bob.PublicKey, [7], Secret("contactname"), ContactState.Accepted, Bytes("theirtoken"), Bytes("ourtoken"), Now));
                tx.InsertMessage(new MessageRecord(MessageId, Conversation, _bob.PeerId, MessageDirection.Incoming, 1, [], Secret("message text"), DeliveryState.Received, 0, Now, Now, false, true));
                tx.PutOutbox(new OutboxItem([1], _bob.PeerId, MessageId, [2], OutboxStage.Sending, 0, Now, Now, Bytes("outbox content")));
                tx.PutGroup(new GroupRecord(Group, [3], Secret("adminhandle"), GroupStatus.Member, null, Now));
                tx.AddGroupEntry(Group, [1], Bytes("membership entry"));
                tx.InsertGroupMessage(new GroupMessageRecord(
                    Enumerable.Repeat((byte)2, 32).ToArray(), Group, _bob.PublicKey, [1], 1, 0, 1, Bytes("room body"), Bytes("room ciphertext"), Secret("room text"),
                    Now, Now, false, 0, 0, 0, true, false));
                tx.AddGroupPending(Group, Bytes("pending ciphertext"), Now, 10);
                tx.PutFile(new FileRecord(FileId, MessageId, Conversation, false, _bob.PeerId, false, Bytes("file manifest"), FileState.Complete, [1], 1, Secret("saved name"), Secret("file problem"), Now, Now));
                return true;
            }, CancellationToken.None);
            // While the store is open, the latest writes are in the write-ahead log.
            Assert.True(File.Exists(DatabasePath + "-wal"));
            AssertNowhereInTheClear();
        }
        AssertNowhereInTheClear();

        await using (var reopened = await OpenAsync(passphrase))
        {
            await reopened.ReadAsync(AssertEverythingReadsBack, CancellationToken.None);
            Assert.Equal(Bytes("outbox content"), (await reopened.ReadAsync(r => r.GetOutboxItem([1]), CancellationToken.None))!.Content);
            var file = (await reopened.ReadAsync(r => r.GetFile(FileId), CancellationToken.None))!;
            Assert.Equal(Bytes("file manifest"), file.Manifest);
            Assert.Equal((Secret("saved name"), Secret("file problem")), (file.SavedAs, file.Problem));
        }
    }

    [Theory]
    [InlineData("correct horse")]
    [InlineData(null)]
    public async Task A_database_from_before_sealing_has_its_content_sealed_on_the_first_unlock(string? passphrase)
    {
        await WriteOldDatabaseAsync(passphrase, poisoned: false);
        Assert.True((await File.ReadAllBytesAsync(DatabasePath + "-wal")).AsSpan().IndexOf(Bytes("message text")) >= 0);
        Assert.True(await OldContentIsInTheClearAsync());

        await using (var store = await OpenAsync(passphrase))
        {
            await store.ReadAsync(AssertEverythingReadsBack, CancellationToken.None);
            Assert.Equal("ok", await store.CheckIntegrityAsync(CancellationToken.None));
        }
        AssertNowhereInTheClear();
        Assert.Equal((SqliteChatStore.Schema[^1].Version, 1, 0), await KeyringStateAsync());
    }

    [Fact]
    public async Task Sealing_that_fails_part_way_leaves_every_row_as_it_was_and_the_next_unlock_seals_them()
    {
        // A value no Parley writes (an integer where a membership entry's bytes belong) stops the sealing after some
        // columns are done: the transaction rolls back as a killed process's would.
        await WriteOldDatabaseAsync("correct horse", poisoned: true);

        var failure = await Assert.ThrowsAsync<StorageException>(() => OpenAsync("correct horse"));
        Assert.Contains("group_entries.entry", failure.Message, StringComparison.Ordinal);
        Assert.True(await OldContentIsInTheClearAsync());
        // The schema is migrated to the latest version before the sealing starts.
        Assert.Equal((SqliteChatStore.Schema[^1].Version, 0, 0), await KeyringStateAsync());

        await using (var database = await SqliteDatabase.OpenAsync(DatabasePath, SqliteChatStore.Schema, Durability.ProcessCrash, CancellationToken.None))
        {
            await database.WriteAsync((c, t) => c.Execute(t, "UPDATE group_entries SET entry = $e WHERE entry_id = x'02'", ("$e", Bytes("second entry"))), CancellationToken.None);
        }
        await using (var store = await OpenAsync("correct horse"))
        {
            await store.ReadAsync(AssertEverythingReadsBack, CancellationToken.None);
        }
        AssertNowhereInTheClear();
    }

    [Fact]
    public async Task A_database_from_before_libsodium_and_sealing_is_rewrapped_and_sealed_on_its_first_unlock_with_nothing_lost()
    {
        // Written by the Parley before both: its data key wrapped with scrypt, its content in the clear, schema 3.
        var scryptWrapped = Convert.FromHexString(SqliteChatStoreTests.ScryptWrappedKey);
        using (var old = KeyVault.Unlock(_crypto, KeyVault.PassphraseScheme, scryptWrapped, SqliteChatStoreTests.ScryptPassphrase))
        {
            Assert.True(old.NeedsRewrap);
            await WriteOldDatabaseAsync(old, KeyVault.PassphraseScheme, scryptWrapped, poisoned: false);
        }

        // A wrong passphrase changes nothing.
        await Assert.ThrowsAsync<WrongPassphraseException>(() => OpenAsync("wrong horse"));
        Assert.True(await OldContentIsInTheClearAsync());
        Assert.Equal(scryptWrapped, await StoredKeyAsync());

        await using (var store = await OpenAsync(SqliteChatStoreTests.ScryptPassphrase))
        {
            await store.ReadAsync(AssertEverythingReadsBack, CancellationToken.None);
            Assert.Equal("ok", await store.CheckIntegrityAsync(CancellationToken.None));
        }
        Assert.Equal((SqliteChatStore.Schema[^1].Version, 1, 0), await KeyringStateAsync());
        var rewrapped = await StoredKeyAsync();
        Assert.True(PassphraseProtection.IsCurrent(rewrapped));
        AssertNowhereInTheClear();
        // The rebuild dropped the scrypt wrapping with the plaintext: only the Argon2id one is left in the files.
        Assert.All(Directory.GetFiles(_folder), file => Assert.True(File.ReadAllBytes(file).AsSpan().IndexOf(scryptWrapped) < 0, Path.GetFileName(file)));

        // The secrets sealed under the old wrapping's data key open under the new one; no further upgrade is due.
        await using (var reopened = await OpenAsync(SqliteChatStoreTests.ScryptPassphrase))
        {
            var account = (await reopened.ReadAsync(r => r.GetAccount(), CancellationToken.None))!;
            Assert.Equal([1], account.AccountSeed);
            Assert.Equal([2], account.IdentityDhPrivateKey);
            await reopened.ReadAsync(AssertEverythingReadsBack, CancellationToken.None);
        }
        Assert.Equal(rewrapped, await StoredKeyAsync());
    }

    /// <summary>A text that cannot occur in the file by chance: found anywhere, it leaked.</summary>
    private static string Secret(string what) => $"zq{what.Replace(' ', 'x')}qz";

    private static byte[] Bytes(string what) => Encoding.UTF8.GetBytes(Secret(what));

    private static readonly string[] Secrets =
    [
        "ownname", "contactname", "theirtoken", "ourtoken", "message text", "outbox content", "adminhandle", "membership entry",
        "room body", "room ciphertext", "room text", "pending ciphertext", "bulk text", "file manifest", "saved name", "file problem",
    ];

    private static readonly byte[] FileId = Enumerable.Repeat((byte)9, FileManifest.FileIdLength).ToArray();

    private void AssertNowhereInTheClear()
    {
        foreach (var file in Directory.GetFiles(_folder))
        {
            var bytes = File.ReadAllBytes(file);
            foreach (var secret in Secrets)
            {
                Assert.True(bytes.AsSpan().IndexOf(Bytes(secret)) < 0, $"\"{Secret(secret)}\" is in {Path.GetFileName(file)} in the clear");
            }
        }
    }

    private bool AssertEverythingReadsBack(IChatReader r)
    {
        Assert.Equal(Secret("ownname"), r.GetAccount()!.Name);
        var contact = Assert.Single(r.GetContactsNamed(Secret("contactname").ToUpperInvariant()));
        Assert.Equal((Secret("contactname"), _bob.PeerId), (contact.Name, contact.Account));
        Assert.Equal(Bytes("theirtoken"), contact.TheirMailboxToken);
        Assert.Equal(Bytes("ourtoken"), contact.OurMailboxToken);
        Assert.Equal(Secret("contactname"), Assert.Single(r.GetContacts()).Name);
        Assert.Empty(r.GetContactsNamed("bob"));
        Assert.Equal(Secret("message text"), r.GetMessage(MessageId)!.Text);
        var message = Assert.Single(r.GetMessages(Conversation, 10));
        Assert.Equal(Secret("message text"), message.Text);
        // From before message actions: a text, neither edited nor deleted.
        Assert.Equal((MessageKind.Text, null, null, false), (message.Kind, message.Target, message.EditedAt, message.Deleted));
        Assert.Equal(Secret("adminhandle"), r.GetGroup(Group)!.AdminHandle);
        Assert.Equal(Bytes("membership entry"), r.GetGroupEntries(Group)[0]);
        var roomMessage = Assert.Single(r.GetGroupMessages(Group, 10));
        Assert.Equal((Secret("room text"), Bytes("room body"), Bytes("room ciphertext")), (roomMessage.Text, roomMessage.Body, roomMessage.Ciphertext!), TupleComparer);
        Assert.Equal(Bytes("pending ciphertext"), Assert.Single(r.GetGroupPending(Group)).Ciphertext);
        return true;
    }

    private static readonly IEqualityComparer<(string, byte[], byte[])> TupleComparer = EqualityComparer<(string, byte[], byte[])>.Create(
        (a, b) => a.Item1 == b.Item1 && a.Item2.AsSpan().SequenceEqual(b.Item2) && a.Item3.AsSpan().SequenceEqual(b.Item3),
        a => a.Item1.GetHashCode(StringComparison.Ordinal));

    /// <summary>
    /// A parley.db as the Parley before sealing wrote it (schema 3): secrets sealed, everything else in the clear, and
    /// left as a killed process leaves it, its last commits in the write-ahead log only. With <paramref name="poisoned"/>,
    /// a second membership entry holds a value no Parley writes.
    /// </summary>
    private async Task WriteOldDatabaseAsync(string? passphrase, bool poisoned)
    {
        using var vault = KeyVault.Create(_crypto);
        var (scheme, key) = vault.Export(passphrase);
        await WriteOldDatabaseAsync(vault, scheme, key, poisoned);
    }

    /// <summary>The same, its secrets sealed by <paramref name="vault"/>, whose key the keyring holds as <paramref name="storedKey"/>.</summary>
    private async Task WriteOldDatabaseAsync(KeyVault vault, string scheme, byte[] storedKey, bool poisoned)
    {
        byte[] file, log;
        await using (var database = await SqliteDatabase.OpenAsync(DatabasePath, SqliteChatStore.Schema[..3], Durability.ProcessCrash, CancellationToken.None))
        {
            await WriteOldRowsAsync(database, vault, scheme, storedKey, poisoned);
            (file, log) = (await File.ReadAllBytesAsync(DatabasePath), await File.ReadAllBytesAsync(DatabasePath + "-wal"));
        }
        // Closing checkpointed the log into the file; the files as they were before, as after a kill -9.
        await File.WriteAllBytesAsync(DatabasePath, file);
        await File.WriteAllBytesAsync(DatabasePath + "-wal", log);
        File.Delete(DatabasePath + "-shm");
    }

    private async Task WriteOldRowsAsync(SqliteDatabase database, KeyVault vault, string scheme, byte[] storedKey, bool poisoned)
    {
        await database.WriteAsync((c, t) =>
        {
            c.Execute(t, "INSERT INTO keyring (id, scheme, data_key) VALUES (1, $s, $k)", ("$s", scheme), ("$k", storedKey));
            c.Execute(t, "INSERT INTO account (id, account_seed, identity_dh_private, name, created_ms) VALUES (1, $seed, $dh, $n, 0)",
                ("$seed", vault.Seal([1])), ("$dh", vault.Seal([2])), ("$n", Secret("ownname")));
            c.Execute(t, "INSERT INTO contacts (account, account_key, identity_dh_key, name, state, their_token, our_token, created_ms) VALUES ($a, $k, x'07', $n, 2, $their, $our, 0)",
                ("$a", _bob.PeerId.ToString()), ("$k", _bob.PublicKey.ToProtobuf()), ("$n", Secret("contactname")), ("$their", Bytes("theirtoken")), ("$our", Bytes("ourtoken")));
            c.Execute(t, """
                INSERT INTO messages (id, conversation_id, sender, direction, lamport, parents, text, state, stored_count, sent_ms, local_ms, contact_request, unread)
                VALUES ($id, $c, $s, 1, 1, x'', $text, 4, 0, 0, 0, 0, 1)
                """, ("$id", MessageId), ("$c", Conversation), ("$s", _bob.PeerId.ToString()), ("$text", Secret("message text")));
            c.Execute(t, "INSERT INTO groups (id, link_key, admin_handle, status, created_ms) VALUES ($g, $link, $admin, 2, 0)",
                ("$g", Group), ("$link", vault.Seal([3])), ("$admin", Secret("adminhandle")));
            c.Execute(t, "INSERT INTO group_entries (group_id, entry_id, entry, seq) VALUES ($g, x'01', $e, 1)", ("$g", Group), ("$e", Bytes("membership entry")));
            if (poisoned)
            {
                c.Execute(t, "INSERT INTO group_entries (group_id, entry_id, entry, seq) VALUES ($g, x'02', 42, 2)", ("$g", Group));
            }
            c.Execute(t, """
                INSERT INTO group_messages (id, group_id, sender, epoch, chain_id, iteration, lamport, body, ciphertext, text, sent_ms, local_ms, outgoing, recipients, stored, delivered, unread, from_history)
                VALUES ($id, $g, $s, x'01', 1, 0, 1, $body, $ct, $text, 0, 0, 0, 0, 0, 0, 1, 0)
                """, ("$id", Enumerable.Repeat((byte)2, 32).ToArray()), ("$g", Group), ("$s", _bob.PublicKey.ToProtobuf()),
                ("$body", Bytes("room body")), ("$ct", Bytes("room ciphertext")), ("$text", Secret("room text")));
            c.Execute(t, "INSERT INTO group_pending (group_id, ciphertext, received_ms) VALUES ($g, $c, 0)", ("$g", Group), ("$c", Bytes("pending ciphertext")));
            // Enough rows that sealing them (each 28 bytes longer) moves cells between pages.
            for (var i = 0; i < 300; i++)
            {
                c.Execute(t, """
                    INSERT INTO messages (id, conversation_id, sender, direction, lamport, parents, text, state, stored_count, sent_ms, local_ms, contact_request, unread)
                    VALUES ($id, $c, $s, 1, 2, x'', $text, 4, 0, 0, 0, 0, 0)
                    """, ("$id", Guid.NewGuid().ToByteArray()), ("$c", Enumerable.Repeat((byte)5, 32).ToArray()), ("$s", _bob.PeerId.ToString()), ("$text", Secret("bulk text") + new string('.', 200)));
            }
        }, CancellationToken.None);
    }

    /// <summary>Whether every old row still holds its content in the clear (read through SQLite, not the store).</summary>
    private async Task<bool> OldContentIsInTheClearAsync()
    {
        await using var database = await SqliteDatabase.OpenAsync(DatabasePath, SqliteChatStore.Schema, Durability.ProcessCrash, CancellationToken.None);
        return await database.ReadAsync(c =>
            Convert.ToString(c.Scalar(null, "SELECT text FROM messages"), System.Globalization.CultureInfo.InvariantCulture) == Secret("message text")
            && Convert.ToString(c.Scalar(null, "SELECT name FROM contacts"), System.Globalization.CultureInfo.InvariantCulture) == Secret("contactname")
            && c.Scalar(null, "SELECT ciphertext FROM group_pending") is byte[] pending && pending.AsSpan().SequenceEqual(Bytes("pending ciphertext")),
            CancellationToken.None);
    }

    /// <summary>Schema version, the generation the rows are sealed at, and whether the file is still to be rebuilt.</summary>
    private async Task<(int Schema, int Sealed, int Scrub)> KeyringStateAsync()
    {
        await using var database = await SqliteDatabase.OpenAsync(DatabasePath, SqliteChatStore.Schema, Durability.ProcessCrash, CancellationToken.None);
        var (sealedGeneration, scrub) = await database.ReadAsync(
            c => c.Query(null, "SELECT sealed_generation, scrub_pending FROM keyring", r => (r.GetInt32(0), r.GetInt32(1))).Single(),
            CancellationToken.None);
        return (database.SchemaVersion, sealedGeneration, scrub);
    }

    /// <summary>The data key as the keyring holds it (wrapped, or as it is).</summary>
    private async Task<byte[]> StoredKeyAsync()
    {
        await using var database = await SqliteDatabase.OpenAsync(DatabasePath, SqliteChatStore.Schema, Durability.ProcessCrash, CancellationToken.None);
        return await database.ReadAsync(c => (byte[])c.Scalar(null, "SELECT data_key FROM keyring")!, CancellationToken.None);
    }

    private Task<SqliteChatStore> OpenAsync(string? passphrase) =>
        SqliteChatStore.OpenAsync(DatabasePath, passphrase, _crypto, Durability.ProcessCrash, CancellationToken.None);
}
