using Microsoft.Data.Sqlite;

namespace Parley.Storage.Tests;

public sealed class SqliteDatabaseTests : IDisposable
{
    private static readonly Migration[] Schema =
    [
        new(1, "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);"),
        new(2, "ALTER TABLE items ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"),
    ];

    private readonly string _folder = Directory.CreateTempSubdirectory("parley-storage-").FullName;

    private string DatabasePath => Path.Combine(_folder, "test.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public async Task Migrations_apply_in_order_once_and_survive_reopening()
    {
        await using (var database = await SqliteDatabase.OpenAsync(DatabasePath, Schema[..1], Durability.ProcessCrash, CancellationToken.None))
        {
            Assert.Equal(1, database.SchemaVersion);
            await database.WriteAsync((c, t) => c.Execute(t, "INSERT INTO items (name) VALUES ($n)", ("$n", "kept")), CancellationToken.None);
        }
        await using (var database = await SqliteDatabase.OpenAsync(DatabasePath, Schema, Durability.ProcessCrash, CancellationToken.None))
        {
            Assert.Equal(2, database.SchemaVersion);
            var rows = await database.ReadAsync(c => c.Query(null, "SELECT name, size FROM items", r => (r.GetString(0), r.GetInt64(1))), CancellationToken.None);
            Assert.Equal([("kept", 0L)], rows);
            Assert.Equal("ok", await database.CheckIntegrityAsync(CancellationToken.None));
        }
    }

    [Fact]
    public async Task A_database_from_a_newer_schema_is_refused_with_a_clear_reason()
    {
        await using (await SqliteDatabase.OpenAsync(DatabasePath, Schema, Durability.ProcessCrash, CancellationToken.None))
        {
        }
        var error = await Assert.ThrowsAsync<StorageException>(() => SqliteDatabase.OpenAsync(DatabasePath, Schema[..1], Durability.ProcessCrash, CancellationToken.None));
        Assert.Contains("newer", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_is_refused_with_a_clear_reason()
    {
        await File.WriteAllBytesAsync(DatabasePath, new byte[8192].Select((_, i) => (byte)(i * 7)).ToArray());
        var error = await Assert.ThrowsAsync<StorageException>(() => SqliteDatabase.OpenAsync(DatabasePath, Schema, Durability.ProcessCrash, CancellationToken.None));
        Assert.Contains("not a Parley database", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_write_that_throws_leaves_nothing_behind()
    {
        await using var database = await SqliteDatabase.OpenAsync(DatabasePath, Schema, Durability.PowerLoss, CancellationToken.None);
        await Assert.ThrowsAsync<InvalidOperationException>(() => database.WriteAsync((c, t) =>
        {
            c.Execute(t, "INSERT INTO items (name) VALUES ('half')");
            throw new InvalidOperationException("fails midway");
        }, CancellationToken.None));
        Assert.Equal(0L, await database.ReadAsync(c => (long)c.Scalar(null, "SELECT count(*) FROM items")!, CancellationToken.None));
    }

    [Fact]
    public async Task Sql_errors_become_storage_errors()
    {
        await using var database = await SqliteDatabase.OpenAsync(DatabasePath, Schema, Durability.ProcessCrash, CancellationToken.None);
        var error = await Assert.ThrowsAsync<StorageException>(() => database.WriteAsync((c, t) => c.Execute(t, "INSERT INTO items (id, name) VALUES (1, NULL)"), CancellationToken.None));
        Assert.IsType<SqliteException>(error.InnerException);
    }

    [Fact]
    public async Task Writes_queued_during_a_commit_share_the_next_one_and_one_that_fails_is_undone_alone()
    {
        await using var database = await SqliteDatabase.OpenAsync(DatabasePath, Schema, Durability.ProcessCrash, CancellationToken.None);
        using var release = new SemaphoreSlim(0);
        var held = await HoldWhileCommittingAsync(database, release, "first");
        var commitsBefore = database.Commits;

        var good = Enumerable.Range(0, 5).Select(i => database.WriteInBatchAsync(c => c.Execute(null, "INSERT INTO items (name) VALUES ($n)", ("$n", $"good {i}")), CancellationToken.None)).ToList();
        var thrown = database.WriteInBatchAsync<int>(c =>
        {
            c.Execute(null, "INSERT INTO items (name) VALUES ('half')");
            throw new InvalidOperationException("fails midway");
        }, CancellationToken.None);
        var refused = database.WriteInBatchAsync(c => c.Execute(null, "INSERT INTO items (id, name) VALUES (1000, NULL)"), CancellationToken.None);
        using var cancelled = new CancellationTokenSource();
        var withdrawn = database.WriteInBatchAsync(c => c.Execute(null, "INSERT INTO items (name) VALUES ('withdrawn')"), cancelled.Token);
        await cancelled.CancelAsync();
        // Withdrawn while the commit ahead still holds the database, so no commit can have taken it (one that had would
        // give the caller its outcome instead).
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => withdrawn);
        release.Release();
        await held;

        var inserted = await Task.WhenAll(good);
        Assert.All(inserted, count => Assert.Equal(1, count));
        await Assert.ThrowsAsync<InvalidOperationException>(() => thrown);
        Assert.IsType<SqliteException>((await Assert.ThrowsAsync<StorageException>(() => refused)).InnerException);
        Assert.Equal(1, database.Commits - commitsBefore - 1);
        var names = await database.ReadAsync(c => c.Query(null, "SELECT name FROM items ORDER BY id", r => r.GetString(0)), CancellationToken.None);
        Assert.Equal(["first", "good 0", "good 1", "good 2", "good 3", "good 4"], names);
    }

    [Fact]
    public async Task A_group_commit_the_disk_refuses_fails_every_write_in_it_and_keeps_what_was_there()
    {
        await using var database = await FullDatabaseAsync(DatabasePath);
        using var release = new SemaphoreSlim(0);
        var held = await HoldWhileCommittingAsync(database, release, null);

        var writes = Enumerable.Range(0, 3).Select(_ => database.WriteInBatchAsync(c => c.Execute(null, "INSERT INTO items (name) VALUES ($n)", ("$n", new string('x', 1 << 20))), CancellationToken.None)).ToList();
        release.Release();
        await held;

        foreach (var write in writes)
        {
            Assert.True((await Assert.ThrowsAsync<StorageException>(() => write)).IsDiskFull);
        }
        Assert.Equal(["kept"], await database.ReadAsync(c => c.Query(null, "SELECT name FROM items", r => r.GetString(0)), CancellationToken.None));
    }

    /// <summary>A write that holds the database until <paramref name="release"/> is released, so that writes queue behind it.</summary>
    private static async Task<Task> HoldWhileCommittingAsync(SqliteDatabase database, SemaphoreSlim release, string? name)
    {
        using var holding = new SemaphoreSlim(0);
        var held = Task.Run(() => database.WriteAsync((c, t) =>
        {
            holding.Release();
            release.Wait();
            if (name is not null)
            {
                c.Execute(t, "INSERT INTO items (name) VALUES ($n)", ("$n", name));
            }
        }, CancellationToken.None));
        await holding.WaitAsync();
        return held;
    }

    /// <summary>SQLite's max_page_count gives the same SQLITE_FULL a full disk does, without filling one.</summary>
    [Fact]
    public async Task A_full_disk_is_reported_as_a_full_disk_and_keeps_what_was_written()
    {
        await using var database = await FullDatabaseAsync(DatabasePath);

        var error = await Assert.ThrowsAsync<StorageException>(() => database.WriteAsync((c, t) => c.Execute(t, "INSERT INTO items (name) VALUES ($n)", ("$n", new string('x', 1 << 20))), CancellationToken.None));

        Assert.True(error.IsDiskFull);
        Assert.Equal($"the disk holding {DatabasePath} is full; nothing was written", error.Message);
        Assert.Equal(["kept"], await database.ReadAsync(c => c.Query(null, "SELECT name FROM items", r => r.GetString(0)), CancellationToken.None));
    }

    /// <summary>A database with one row that cannot grow any more, as on a full disk.</summary>
    public static async Task<SqliteDatabase> FullDatabaseAsync(string path)
    {
        var database = await SqliteDatabase.OpenAsync(path, Schema, Durability.ProcessCrash, CancellationToken.None);
        await database.WriteAsync((c, t) => c.Execute(t, "INSERT INTO items (name) VALUES ('kept')"), CancellationToken.None);
        await database.ReadAsync(c => c.Execute(null, "PRAGMA max_page_count = " + c.Scalar(null, "PRAGMA page_count")), CancellationToken.None);
        return database;
    }

    [Fact]
    public async Task Use_after_dispose_is_an_error_not_a_crash()
    {
        var database = await SqliteDatabase.OpenAsync(DatabasePath, Schema, Durability.ProcessCrash, CancellationToken.None);
        await database.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => database.ReadAsync(_ => 1, CancellationToken.None));
    }
}
