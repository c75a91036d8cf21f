using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Parley.Core.IO;

namespace Parley.Storage;

/// <summary>One schema step: the SQL that takes the database from <c>Version - 1</c> to <see cref="Version"/>.</summary>
public sealed record Migration(int Version, string Sql);

/// <summary>How hard a commit waits for the disk.</summary>
public enum Durability
{
    /// <summary>WAL with synchronous=NORMAL: a killed process loses nothing committed; a power cut may lose the last commits, never the file.</summary>
    ProcessCrash,

    /// <summary>WAL with synchronous=FULL: every commit is on disk before it returns, also across a power cut.</summary>
    PowerLoss,
}

/// <summary>
/// A SQLite file in WAL mode with a versioned schema (<c>PRAGMA user_version</c>), opened once per process and used
/// through one connection. Every write runs in one transaction, so a process killed at any instant leaves either all of
/// it or none of it. Access is serialised by an async lock; SQLite's own calls are synchronous and short.
/// </summary>
public sealed class SqliteDatabase : IAsyncDisposable
{
    private readonly SqliteConnection _connection;
    private const int MaxWritesPerCommit = 256;
    private const string BatchSavepoint = "batched_write";
    // A group commit runs its transaction statements as prepared statements (SqliteCommands keeps them): BeginTransaction,
    // Commit and Save parse "BEGIN", "COMMIT" and "SAVEPOINT" anew every time (a profile found those two prepares per
    // commit to be every statement prepared while messages flowed). IMMEDIATE, as BeginTransaction does.
    private const string BeginSql = "BEGIN IMMEDIATE";
    private const string CommitSql = "COMMIT";
    private const string RollbackSql = "ROLLBACK";
    private const string SaveSql = "SAVEPOINT " + BatchSavepoint;
    private const string UndoSql = "ROLLBACK TO " + BatchSavepoint;
    private const string ReleaseSql = "RELEASE " + BatchSavepoint;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly ConcurrentQueue<IBatchedWrite> _batch = new();
    private bool _disposed;
    private long _commits;

    private SqliteDatabase(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Write transactions committed since the database was opened (a group commit counts once).</summary>
    public long Commits => Interlocked.Read(ref _commits);

    /// <summary>Opens (creating if needed) the database and applies the migrations it lacks, each in its own transaction.</summary>
    /// <exception cref="StorageException">The file is not a database, is corrupt, was written by a newer schema, or the disk is full.</exception>
    public static async Task<SqliteDatabase> OpenAsync(string path, IReadOnlyList<Migration> migrations, Durability durability, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(migrations);
        CreateOwnerOnly(path);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            await connection.OpenAsync(cancellationToken);
            // One connection per file and process (a node's data folder is locked to one process), so SQLite may keep
            // its lock for good: no file-lock calls per transaction and no shared-memory index beside the WAL.
            Execute(connection, $"""
                PRAGMA locking_mode = EXCLUSIVE;
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = {(durability == Durability.PowerLoss ? "FULL" : "NORMAL")};
                PRAGMA foreign_keys = ON;
                PRAGMA busy_timeout = 5000;
                """);
            var database = new SqliteDatabase(connection, path);
            database.Migrate(migrations);
            return database;
        }
        catch (SqliteException e)
        {
            await connection.DisposeAsync();
            throw StorageException.From(e, path);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// The folder, the file and its -wal companion are the owner's only (and a -shm left by a version before exclusive
    /// locking). SQLite creates the companions with the mode of the database file (and sets it past the umask), so a
    /// database file created here as 0600 keeps them 0600; files from before are narrowed.
    /// </summary>
    private static void CreateOwnerOnly(string path)
    {
        var fullPath = System.IO.Path.GetFullPath(path);
        if (System.IO.Path.GetDirectoryName(fullPath) is { } directory)
        {
            OwnerOnly.CreateDirectory(directory);
        }
        if (!File.Exists(fullPath))
        {
            // An empty file is a new database to SQLite.
            using var created = new FileStream(fullPath, OwnerOnly.CreateOptions());
        }
        foreach (var file in new[] { fullPath, fullPath + "-wal", fullPath + "-shm" })
        {
            OwnerOnly.RestrictFile(file);
        }
    }

    /// <summary>The schema version the file is at.</summary>
    public int SchemaVersion => Convert.ToInt32(_connection.Scalar(null, "PRAGMA user_version"), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Runs <paramref name="read"/> with the connection; no transaction.</summary>
    public async Task<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return read(_connection);
        }
        catch (SqliteException e)
        {
            throw StorageException.From(e, Path);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Runs <paramref name="write"/> in one transaction: committed if it returns, rolled back if it throws.</summary>
    public async Task<T> WriteAsync<T>(Func<SqliteConnection, SqliteTransaction, T> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            using var transaction = _connection.BeginTransaction();
            var result = write(_connection, transaction);
            transaction.Commit();
            Interlocked.Increment(ref _commits);
            return result;
        }
        catch (SqliteException e)
        {
            throw StorageException.From(e, Path);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Runs <paramref name="write"/> as <see cref="WriteAsync{T}(Func{SqliteConnection, SqliteTransaction, T}, CancellationToken)"/>
    /// does, except that writes queued while another commits share the next commit (group commit): each runs in a
    /// savepoint of its own, so one that throws is rolled back alone, and each caller resumes only once the commit
    /// holding its write is done. A burst of writes then costs one WAL append and sync instead of one each.
    /// </summary>
    /// <remarks>For writes whose callers keep no in-memory state that a later write in the same batch reads before
    /// the batch commits: the write sees the batch's earlier writes in the database, not their callers' follow-ups.
    /// The transaction is opened with SQL, not a <see cref="SqliteTransaction"/>: the write's commands take none.</remarks>
    public async Task<T> WriteInBatchAsync<T>(Func<SqliteConnection, T> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        var queued = new BatchedWrite<T>(write);
        _batch.Enqueue(queued);
        try
        {
            await _gate.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) when (!queued.TryWithdraw())
        {
            // Too late to withdraw: a commit running now holds the write, and its outcome is the caller's.
            return await queued.Task;
        }
        try
        {
            // An earlier holder of the lock may have committed this write with its own.
            if (!queued.Task.IsCompleted)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                CommitBatch();
            }
        }
        finally
        {
            _gate.Release();
        }
        return await queued.Task;
    }

    /// <summary>Runs every queued write in one transaction, a savepoint each, commits, then tells each caller.</summary>
    private void CommitBatch()
    {
        var writes = new List<IBatchedWrite>();
        while (writes.Count < MaxWritesPerCommit && _batch.TryDequeue(out var write))
        {
            writes.Add(write);
        }
        var done = new List<IBatchedWrite>(writes.Count);
        // A write alone in its commit needs no savepoint: if it throws, the whole transaction is rolled back.
        var alone = writes.Count == 1;
        try
        {
            _connection.Execute(null, BeginSql);
            foreach (var write in writes)
            {
                if (!write.TryClaim())
                {
                    // Its caller gave up waiting before this commit took it.
                    continue;
                }
                if (!alone)
                {
                    _connection.Execute(null, SaveSql);
                }
                try
                {
                    write.Run(_connection);
                    if (!alone)
                    {
                        _connection.Execute(null, ReleaseSql);
                    }
                    done.Add(write);
                }
                catch (Exception e)
                {
                    var failure = e is SqliteException sqlite ? StorageException.From(sqlite, Path) : e;
                    if (alone || !TryUndo())
                    {
                        // Alone, or SQLite ended the whole transaction itself (a full disk, an I/O error): nothing of the batch stays.
                        FailAll(writes, failure);
                        return;
                    }
                    write.Fail(failure);
                }
            }
            _connection.Execute(null, CommitSql);
            Interlocked.Increment(ref _commits);
        }
        catch (SqliteException e)
        {
            // BEGIN or COMMIT was refused: nothing of this batch was written.
            FailAll(writes, StorageException.From(e, Path));
            return;
        }
        finally
        {
            // Whatever ended the batch early leaves no transaction open for the next one.
            RollBackIfOpen();
        }
        foreach (var write in done)
        {
            write.Complete();
        }
    }

    private bool InTransaction => SQLitePCL.raw.sqlite3_get_autocommit(_connection.Handle) == 0;

    private void RollBackIfOpen()
    {
        if (InTransaction)
        {
            _connection.Execute(null, RollbackSql);
        }
    }

    /// <summary>Undoes the current write of a batch alone; false when SQLite already rolled the whole transaction back.</summary>
    private bool TryUndo()
    {
        if (!InTransaction)
        {
            return false;
        }
        try
        {
            _connection.Execute(null, UndoSql);
            _connection.Execute(null, ReleaseSql);
            return true;
        }
        catch (SqliteException)
        {
            return false;
        }
    }

    private static void FailAll(List<IBatchedWrite> writes, Exception failure)
    {
        foreach (var write in writes.Where(w => !w.IsCompleted))
        {
            write.Fail(failure);
        }
    }

    public Task WriteAsync(Action<SqliteConnection, SqliteTransaction> write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        return WriteAsync((connection, transaction) =>
        {
            write(connection, transaction);
            return true;
        }, cancellationToken);
    }

    /// <summary>
    /// Rebuilds the file (VACUUM) and empties the write-ahead log into it, so that nothing deleted or overwritten
    /// lingers in free pages or old log frames.
    /// </summary>
    /// <exception cref="StorageException">The disk is full (VACUUM needs room for a copy), or the log could not be emptied.</exception>
    public Task CompactAsync(CancellationToken cancellationToken) => ReadAsync(connection =>
    {
        Execute(connection, "VACUUM");
        var busy = connection.Query(null, "PRAGMA wal_checkpoint(TRUNCATE)", r => r.GetInt32(0)).Single();
        return busy == 0 ? true : throw new StorageException($"{Path}: the write-ahead log could not be emptied (the database is busy)");
    }, cancellationToken);

    /// <summary>SQLite's full integrity check; "ok" when the file is sound.</summary>
    public Task<string> CheckIntegrityAsync(CancellationToken cancellationToken) =>
        ReadAsync(connection => Convert.ToString(connection.Scalar(null, "PRAGMA integrity_check"), System.Globalization.CultureInfo.InvariantCulture) ?? "", cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _gate.WaitAsync();
        try
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            await _connection.DisposeAsync();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Runs SQL statements that return nothing, in the given transaction if any.</summary>
    public static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private void Migrate(IReadOnlyList<Migration> migrations)
    {
        var known = migrations.Count == 0 ? 0 : migrations.Max(m => m.Version);
        var current = SchemaVersion;
        if (current > known)
        {
            throw new StorageException($"{Path} has schema version {current}, newer than this Parley knows ({known}); use a newer Parley");
        }
        foreach (var migration in migrations.Where(m => m.Version > current).OrderBy(m => m.Version))
        {
            using var transaction = _connection.BeginTransaction();
            Execute(_connection, migration.Sql, transaction);
            // user_version cannot take a parameter; the value is an int we control.
            Execute(_connection, $"PRAGMA user_version = {migration.Version}", transaction);
            transaction.Commit();
        }
    }
}

/// <summary>A write waiting for a group commit, with its caller's task.</summary>
internal interface IBatchedWrite
{
    /// <summary>True when this commit may run the write; false when its caller withdrew it first.</summary>
    bool TryClaim();

    bool IsCompleted { get; }

    void Run(SqliteConnection connection);

    void Complete();

    void Fail(Exception failure);
}

internal sealed class BatchedWrite<T>(Func<SqliteConnection, T> write) : IBatchedWrite
{
    private const int Queued = 0;
    private const int Claimed = 1;
    private const int Withdrawn = 2;

    // Callers resume on the thread pool, never inside the commit that holds the database's lock.
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private T? _result;
    private int _state = Queued;

    public Task<T> Task => _completion.Task;

    public bool TryClaim() => Interlocked.CompareExchange(ref _state, Claimed, Queued) == Queued;

    /// <summary>True when no commit has taken the write and none will; false when one has.</summary>
    public bool TryWithdraw() => Interlocked.CompareExchange(ref _state, Withdrawn, Queued) == Queued;

    public bool IsCompleted => _completion.Task.IsCompleted;

    public void Run(SqliteConnection connection) => _result = write(connection);

    public void Complete() => _completion.TrySetResult(_result!);

    public void Fail(Exception failure) => _completion.TrySetException(failure);

}

/// <summary>The database could not do what was asked: the disk is full, the file is corrupt or locked, or its schema is unknown.</summary>
public sealed class StorageException : IOException
{
    public StorageException(string message)
        : base(message)
    {
    }

    public StorageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public StorageException()
    {
    }

    /// <summary>True when the failure was a full disk (SQLITE_FULL): nothing was written, and retrying after freeing space works.</summary>
    public bool IsDiskFull { get; private init; }

    internal static StorageException From(SqliteException e, string path) => e.SqliteErrorCode switch
    {
        13 => new StorageException($"the disk holding {path} is full; nothing was written", e) { IsDiskFull = true },
        11 or 26 => new StorageException($"{path} is corrupt or not a Parley database ({e.Message})", e),
        5 or 6 => new StorageException($"{path} is locked by another process; is another Parley node using this data folder?", e),
        _ => new StorageException($"{path}: {e.Message}", e),
    };
}
