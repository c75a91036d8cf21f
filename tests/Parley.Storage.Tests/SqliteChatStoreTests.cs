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

    /// <summary>The chat tests' known-answer vector: scrypt (log2 N 10, r 8, p 1) over a 32-byte secret, used as a data key.</summary>
    internal const string ScryptPassphrase = "correct horse battery staple \u00e9";

    /// <summary>A data key wrapped under <see cref="ScryptPassphrase"/> as Parley did before Argon2id.</summary>
    internal const string ScryptWrappedKey = "504c504b010a08010ad104939adf3b4ad7b31b809ac960770a252a6679fa6c4a9d00dc43a39eb4f23d66a91e7959924d1907fd31ac11f5937da484e8993d3fa2ca8796b3c403ea1da987952e04cefd6ecfb07472";

    /// <summary>A data key wrapped with scrypt (before Argon2id) opens, and is rewrapped with Argon2id on that first unlock.</summary>
    [Fact]
    public async Task A_scrypt_wrapped_key_is_rewrapped_on_first_unlock()
    {
        const string passphrase = ScryptPassphrase;
        await using (await OpenAsync(passphrase))
        {
        }
        await WriteKeyringAsync(Convert.FromHexString(ScryptWrappedKey));

        await using (var store = await OpenAsync(passphrase))
        {
            await store.TransactAsync(tx =>
            {
                tx.PutSetting("x", [1]);
                tx.PutAccount(new AccountRecord([1, 2, 3], [4, 5, 6], "alice", null, DateTimeOffset.UnixEpoch));
                return true;
            }, CancellationToken.None);
        }
        var rewrapped = await ReadKeyringAsync();
        Assert.Equal(PassphraseProtection.Version, rewrapped[4]);
        Assert.True(PassphraseProtection.IsCurrent(rewrapped));
        await Assert.ThrowsAsync<WrongPassphraseException>(() => OpenAsync("wrong"));
        await using (var store = await OpenAsync(passphrase))
        {
            Assert.Equal([1, 2, 3], (await store.ReadAsync(r => r.GetAccount(), CancellationToken.None))!.AccountSeed);
        }
    }

    [Fact]
    public async Task Seen_envelopes_and_queued_envelopes_survive_the_move_to_fewer_indexes()
    {
        var recipient = IdentityKey.Generate().PeerId;
        await using (var database = await SqliteDatabase.OpenAsync(DatabasePath, SqliteChatStore.Schema[..9], Durability.ProcessCrash, CancellationToken.None))
        {
            await database.WriteAsync((c, t) =>
            {
                c.Execute(t, "INSERT INTO seen_envelopes (envelope_id, seen_ms) VALUES (x'01', 0), (x'02', 5000)");
                c.Execute(t, """
                    INSERT INTO outbox (envelope_id, recipient, message_id, envelope, stage, attempts, next_attempt_ms, created_ms)
                    VALUES (x'0A', $r, NULL, x'0B', 0, 0, 0, 0)
                    """, ("$r", recipient.ToString()));
            }, CancellationToken.None);
        }

        await using var store = await OpenAsync(null);
        Assert.False(await store.TransactAsync(tx => tx.MarkEnvelopeSeen([2], DateTimeOffset.UnixEpoch), CancellationToken.None));
        await store.TransactAsync(tx =>
        {
            tx.ForgetSeenEnvelopes(DateTimeOffset.FromUnixTimeMilliseconds(1000));
            return true;
        }, CancellationToken.None);
        Assert.True(await store.TransactAsync(tx => tx.MarkEnvelopeSeen([1], DateTimeOffset.UnixEpoch), CancellationToken.None));
        Assert.False(await store.TransactAsync(tx => tx.MarkEnvelopeSeen([2], DateTimeOffset.UnixEpoch), CancellationToken.None));
        Assert.Equal([[0x0A]], (await store.ReadAsync(r => r.GetOutboxFor(recipient), CancellationToken.None)).Select(i => i.EnvelopeId));
    }

    private async Task WriteKeyringAsync(byte[] storedKey)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE keyring SET data_key = $k WHERE id = 1";
        command.Parameters.AddWithValue("$k", storedKey);
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }

    private async Task<byte[]> ReadKeyringAsync()
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT data_key FROM keyring WHERE id = 1";
        return (byte[])(await command.ExecuteScalarAsync())!;
    }

    private Task<SqliteChatStore> OpenAsync(string? passphrase) =>
        SqliteChatStore.OpenAsync(DatabasePath, passphrase, _crypto, Durability.ProcessCrash, CancellationToken.None);
}
