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

    private Task<SqliteChatStore> OpenAsync(string? passphrase) =>
        SqliteChatStore.OpenAsync(DatabasePath, passphrase, _crypto, Durability.ProcessCrash, CancellationToken.None);
}
