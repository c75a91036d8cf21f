using Microsoft.Data.Sqlite;
using Parley.Chat.Mailbox;

namespace Parley.Storage;

/// <summary>
/// The mailbox store in its own SQLite file (<c>mailbox.db</c>): what this node keeps for others. Each operation is one
/// transaction, so quotas are checked and the write made together. Times are Unix milliseconds; sequences and nonces,
/// which are unsigned, are kept bit for bit in SQLite's signed integers.
/// </summary>
public sealed class SqliteMailboxStore : IMailboxStore, IAsyncDisposable
{
    public const string FileName = "mailbox.db";

    private const string EnvelopeColumns = "mailbox, envelope_id, envelope, stored_at, expires_at, token, stamp_nonce, depositor";

    private static readonly Migration[] Migrations =
    [
        new(1, """
            CREATE TABLE envelopes (
                sequence INTEGER PRIMARY KEY AUTOINCREMENT,
                mailbox BLOB NOT NULL,
                envelope_id BLOB NOT NULL,
                envelope BLOB NOT NULL,
                stored_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                token BLOB,
                token_hash BLOB,
                stamp_nonce INTEGER NOT NULL,
                depositor TEXT NOT NULL,
                UNIQUE (mailbox, envelope_id)
            );
            CREATE INDEX envelopes_by_mailbox ON envelopes (mailbox, sequence);
            CREATE INDEX envelopes_by_expiry ON envelopes (expires_at);
            CREATE TABLE tombstones (
                mailbox BLOB NOT NULL,
                id BLOB NOT NULL,
                expires_at INTEGER NOT NULL,
                request BLOB NOT NULL,
                PRIMARY KEY (mailbox, id)
            ) WITHOUT ROWID;
            CREATE INDEX tombstones_by_expiry ON tombstones (expires_at);
            CREATE TABLE tombstoned (
                mailbox BLOB NOT NULL,
                envelope_id BLOB NOT NULL,
                tombstone BLOB NOT NULL,
                PRIMARY KEY (mailbox, envelope_id, tombstone)
            ) WITHOUT ROWID;
            CREATE INDEX tombstoned_by_tombstone ON tombstoned (mailbox, tombstone);
            CREATE TABLE policies (
                mailbox BLOB PRIMARY KEY,
                sequence INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                request BLOB NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE policy_tokens (
                mailbox BLOB NOT NULL,
                token_hash BLOB NOT NULL,
                PRIMARY KEY (mailbox, token_hash)
            ) WITHOUT ROWID;
            CREATE TABLE prekeys (
                mailbox BLOB NOT NULL,
                id INTEGER NOT NULL,
                public_key BLOB NOT NULL,
                signature BLOB NOT NULL,
                expires_at INTEGER NOT NULL,
                UNIQUE (mailbox, id)
            );
            CREATE TABLE prekey_uploads (
                mailbox BLOB PRIMARY KEY,
                uploaded_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            """),
    ];

    private readonly SqliteDatabase _database;
    private readonly MailboxOptions _options;
    private readonly TimeProvider _time;

    // Bytes held, kept here rather than summed per deposit; every write goes through this class. A write that races
    // another may see it a moment late: the bound can be overrun by a few envelopes, never without limit.
    private long _storeBytes;

    private SqliteMailboxStore(SqliteDatabase database, MailboxOptions options, TimeProvider time, long storeBytes)
    {
        _database = database;
        _options = options;
        _time = time;
        _storeBytes = storeBytes;
    }

    /// <exception cref="StorageException">The file cannot be opened or migrated.</exception>
    public static async Task<SqliteMailboxStore> OpenAsync(string path, MailboxOptions? options, TimeProvider? time, CancellationToken cancellationToken)
    {
        // A power cut may lose the last deposits here; the other mailbox nodes hold copies.
        var database = await SqliteDatabase.OpenAsync(path, Migrations, Durability.ProcessCrash, cancellationToken);
        try
        {
            var bytes = await database.ReadAsync(c => (long)c.Scalar(null, $"""
                SELECT (SELECT COALESCE(SUM(length(envelope)), 0) FROM envelopes)
                     + (SELECT COALESCE(SUM(length(request)), 0) FROM tombstones)
                     + (SELECT COALESCE(SUM(length(request)), 0) FROM policies)
                     + (SELECT COUNT(*) FROM prekeys) * {MailboxQuota.PrekeyBytes}
                """)!, cancellationToken);
            return new SqliteMailboxStore(database, options ?? new MailboxOptions(), time ?? TimeProvider.System, bytes);
        }
        catch
        {
            await database.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => _database.DisposeAsync();

    /// <summary>SQLite's integrity verdict on the file ("ok" when sound).</summary>
    public Task<string> CheckIntegrityAsync(CancellationToken cancellationToken) => _database.CheckIntegrityAsync(cancellationToken);

    public async Task<StoreOutcome> AddEnvelopeAsync(HeldEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        var now = Now();
        var (outcome, delta) = await _database.WriteAsync((c, t) =>
        {
            var m = envelope.MailboxId;
            var delta = -RemoveExpiredEnvelopes(c, t, "mailbox = $m AND expires_at <= $now", ("$m", m), ("$now", now));
            if (c.Scalar(t, "SELECT 1 FROM envelopes WHERE mailbox = $m AND envelope_id = $id", ("$m", m), ("$id", envelope.EnvelopeId)) is not null
                || c.Scalar(t, "SELECT 1 FROM tombstoned JOIN tombstones ON tombstones.mailbox = tombstoned.mailbox AND tombstones.id = tombstoned.tombstone WHERE tombstoned.mailbox = $m AND envelope_id = $id AND expires_at > $now LIMIT 1", ("$m", m), ("$id", envelope.EnvelopeId), ("$now", now)) is not null)
            {
                return (StoreOutcome.Duplicate, delta);
            }
            var tokenHash = envelope.TokenHash();
            if (tokenHash is not null && c.Scalar(t, "SELECT 1 FROM policy_tokens JOIN policies USING (mailbox) WHERE mailbox = $m AND token_hash = $h AND expires_at > $now", ("$m", m), ("$h", tokenHash), ("$now", now)) is null)
            {
                return (StoreOutcome.UnknownToken, delta);
            }
            var usage = c.Query(t, """
                SELECT COUNT(*), COALESCE(SUM(length(envelope)), 0), COALESCE(SUM(token_hash = $h), 0),
                       COALESCE(SUM(token IS NULL AND depositor = $d), 0), COALESCE(SUM(token IS NULL), 0)
                FROM envelopes WHERE mailbox = $m
                """,
                r => new MailboxUsage(r.GetInt32(0), r.GetInt64(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), Volatile.Read(ref _storeBytes) + delta),
                ("$m", m), ("$h", tokenHash), ("$d", envelope.Depositor))[0];
            if (MailboxQuota.RefusalFor(envelope, usage, _options) is { } refusal)
            {
                return (StoreOutcome.Refused(refusal), delta);
            }
            c.Execute(t, """
                INSERT INTO envelopes (mailbox, envelope_id, envelope, stored_at, expires_at, token, token_hash, stamp_nonce, depositor)
                VALUES ($m, $id, $e, $s, $x, $t, $h, $n, $d)
                """,
                ("$m", m), ("$id", envelope.EnvelopeId), ("$e", envelope.Envelope), ("$s", envelope.StoredAt.ToUnixTimeMilliseconds()),
                ("$x", envelope.ExpiresAt.ToUnixTimeMilliseconds()), ("$t", envelope.Token), ("$h", tokenHash),
                ("$n", unchecked((long)envelope.StampNonce)), ("$d", envelope.Depositor));
            return (StoreOutcome.Stored, delta + envelope.Envelope.Length);
        }, cancellationToken);
        Interlocked.Add(ref _storeBytes, delta);
        return outcome;
    }

    public async Task<EnvelopePage> GetEnvelopesAsync(byte[] mailboxId, long cursor, int maxCount, long maxBytes, CancellationToken cancellationToken)
    {
        var now = Now();
        // One more than a page can hold, to know whether anything follows.
        var rows = await _database.ReadAsync(c => c.Query(null, $"""
            SELECT sequence, {EnvelopeColumns} FROM envelopes
            WHERE mailbox = $m AND sequence > $c AND expires_at > $now ORDER BY sequence LIMIT $n
            """,
            r => (Sequence: r.GetInt64(0), Envelope: ReadEnvelope(r, 1)),
            ("$m", mailboxId), ("$c", cursor), ("$now", now), ("$n", maxCount + 1)), cancellationToken);
        var page = new List<HeldEnvelope>();
        long bytes = 0;
        foreach (var (_, envelope) in rows)
        {
            if (page.Count > 0 && (page.Count >= maxCount || bytes + envelope.Envelope.Length > maxBytes))
            {
                return new EnvelopePage(page, rows[page.Count - 1].Sequence);
            }
            page.Add(envelope);
            bytes += envelope.Envelope.Length;
        }
        return new EnvelopePage(page, null);
    }

    public async Task<IReadOnlyList<HeldEnvelope>> GetEnvelopesByIdAsync(byte[] mailboxId, IReadOnlyCollection<byte[]> envelopeIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelopeIds);
        var now = Now();
        return await _database.ReadAsync(c => envelopeIds
            .SelectMany(id => c.Query(null, $"SELECT {EnvelopeColumns} FROM envelopes WHERE mailbox = $m AND envelope_id = $id AND expires_at > $now",
                r => ReadEnvelope(r, 0), ("$m", mailboxId), ("$id", id), ("$now", now)))
            .ToList(), cancellationToken);
    }

    public async Task<int> AddTombstoneAsync(Tombstone tombstone, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tombstone);
        var now = Now();
        var (deleted, delta) = await _database.WriteAsync((c, t) =>
        {
            var m = tombstone.MailboxId;
            var deleted = 0;
            long delta = 0;
            foreach (var id in tombstone.EnvelopeIds)
            {
                foreach (var size in c.Query(t, "DELETE FROM envelopes WHERE mailbox = $m AND envelope_id = $id RETURNING length(envelope)", r => r.GetInt64(0), ("$m", m), ("$id", id)))
                {
                    deleted++;
                    delta -= size;
                }
            }
            var held = c.Scalar(t, "SELECT 1 FROM tombstones WHERE mailbox = $m AND id = $id", ("$m", m), ("$id", tombstone.Id)) is not null;
            var expiresAt = tombstone.ExpiresAt.ToUnixTimeMilliseconds();
            if (!held && expiresAt > now && Volatile.Read(ref _storeBytes) + delta + tombstone.SignedRequest.Length <= _options.MaxStoreBytes)
            {
                c.Execute(t, "INSERT INTO tombstones (mailbox, id, expires_at, request) VALUES ($m, $id, $x, $r)", ("$m", m), ("$id", tombstone.Id), ("$x", expiresAt), ("$r", tombstone.SignedRequest));
                foreach (var id in tombstone.EnvelopeIds)
                {
                    c.Execute(t, "INSERT OR IGNORE INTO tombstoned (mailbox, envelope_id, tombstone) VALUES ($m, $e, $id)", ("$m", m), ("$e", id), ("$id", tombstone.Id));
                }
                delta += tombstone.SignedRequest.Length;
                var excess = (long)c.Scalar(t, "SELECT COUNT(*) FROM tombstones WHERE mailbox = $m", ("$m", m))! - _options.MaxTombstonesPerMailbox;
                if (excess > 0)
                {
                    var oldest = c.Query(t, "SELECT id FROM tombstones WHERE mailbox = $m ORDER BY expires_at LIMIT $n", r => r.GetFieldValue<byte[]>(0), ("$m", m), ("$n", excess));
                    delta -= oldest.Sum(id => RemoveTombstone(c, t, m, id));
                }
            }
            return (deleted, delta);
        }, cancellationToken);
        Interlocked.Add(ref _storeBytes, delta);
        return deleted;
    }

    public async Task<IReadOnlyList<Tombstone>> GetTombstonesAsync(byte[] mailboxId, IReadOnlyCollection<byte[]> tombstoneIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tombstoneIds);
        var now = Now();
        return await _database.ReadAsync(c =>
        {
            var found = new List<Tombstone>();
            foreach (var id in tombstoneIds)
            {
                var rows = c.Query(null, "SELECT expires_at, request FROM tombstones WHERE mailbox = $m AND id = $id AND expires_at > $now",
                    r => (ExpiresAt: r.GetInt64(0), Request: r.GetFieldValue<byte[]>(1)), ("$m", mailboxId), ("$id", id), ("$now", now));
                if (rows.Count == 1)
                {
                    var envelopeIds = c.Query(null, "SELECT envelope_id FROM tombstoned WHERE mailbox = $m AND tombstone = $id", r => r.GetFieldValue<byte[]>(0), ("$m", mailboxId), ("$id", id));
                    found.Add(new Tombstone(mailboxId, id, envelopeIds, DateTimeOffset.FromUnixTimeMilliseconds(rows[0].ExpiresAt), rows[0].Request));
                }
            }
            return (IReadOnlyList<Tombstone>)found;
        }, cancellationToken);
    }

    public async Task<StoreOutcome> SetPolicyAsync(HeldPolicy policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var now = Now();
        var (outcome, delta) = await _database.WriteAsync((c, t) =>
        {
            var m = policy.MailboxId;
            var current = c.Query(t, "SELECT sequence, expires_at, length(request) FROM policies WHERE mailbox = $m",
                r => (Sequence: unchecked((ulong)r.GetInt64(0)), ExpiresAt: r.GetInt64(1), Size: r.GetInt64(2)), ("$m", m));
            var live = current.Count == 1 && current[0].ExpiresAt > now ? current[0] : ((ulong Sequence, long ExpiresAt, long Size)?)null;
            var expiresAt = policy.ExpiresAt.ToUnixTimeMilliseconds();
            if (live is { } same && same.Sequence == policy.Sequence && SameHashes(c, t, m, policy.TokenHashes))
            {
                c.Execute(t, "UPDATE policies SET expires_at = MAX(expires_at, $x) WHERE mailbox = $m", ("$m", m), ("$x", expiresAt));
                return (StoreOutcome.Stored, 0L);
            }
            if (live is { } newer && newer.Sequence >= policy.Sequence)
            {
                return (MailboxQuota.PolicyHeld(newer.Sequence), 0L);
            }
            var heldSize = current.Count == 1 ? current[0].Size : 0;
            if (Volatile.Read(ref _storeBytes) - heldSize + policy.SignedRequest.Length > _options.MaxStoreBytes)
            {
                return (MailboxQuota.StoreFull, 0L);
            }
            c.Execute(t, "DELETE FROM policy_tokens WHERE mailbox = $m", ("$m", m));
            c.Execute(t, "INSERT OR REPLACE INTO policies (mailbox, sequence, expires_at, request) VALUES ($m, $s, $x, $r)",
                ("$m", m), ("$s", unchecked((long)policy.Sequence)), ("$x", expiresAt), ("$r", policy.SignedRequest));
            foreach (var hash in policy.TokenHashes)
            {
                c.Execute(t, "INSERT OR IGNORE INTO policy_tokens (mailbox, token_hash) VALUES ($m, $h)", ("$m", m), ("$h", hash));
            }
            return (StoreOutcome.Stored, policy.SignedRequest.Length - heldSize);
        }, cancellationToken);
        Interlocked.Add(ref _storeBytes, delta);
        return outcome;
    }

    public async Task<HeldPolicy?> GetPolicyAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        var now = Now();
        return await _database.ReadAsync(c =>
        {
            var rows = c.Query(null, "SELECT sequence, expires_at, request FROM policies WHERE mailbox = $m AND expires_at > $now",
                r => (Sequence: unchecked((ulong)r.GetInt64(0)), ExpiresAt: r.GetInt64(1), Request: r.GetFieldValue<byte[]>(2)), ("$m", mailboxId), ("$now", now));
            if (rows.Count == 0)
            {
                return null;
            }
            var hashes = c.Query(null, "SELECT token_hash FROM policy_tokens WHERE mailbox = $m", r => r.GetFieldValue<byte[]>(0), ("$m", mailboxId));
            return new HeldPolicy(mailboxId, rows[0].Sequence, hashes, DateTimeOffset.FromUnixTimeMilliseconds(rows[0].ExpiresAt), rows[0].Request);
        }, cancellationToken);
    }

    public async Task<PrekeyUploadOutcome> AddPrekeysAsync(byte[] mailboxId, DateTimeOffset uploadedAt, IReadOnlyList<SignedOneTimePrekey> prekeys, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prekeys);
        var now = Now();
        var (outcome, delta) = await _database.WriteAsync((c, t) =>
        {
            var m = mailboxId;
            var delta = -RemoveExpiredPrekeys(c, t, "mailbox = $m AND expires_at <= $now", ("$m", m), ("$now", now));
            c.Execute(t, "DELETE FROM prekey_uploads WHERE mailbox = $m AND expires_at <= $now", ("$m", m), ("$now", now));
            var held = (int)(long)c.Scalar(t, "SELECT COUNT(*) FROM prekeys WHERE mailbox = $m", ("$m", m))!;
            if (c.Scalar(t, "SELECT uploaded_at FROM prekey_uploads WHERE mailbox = $m", ("$m", m)) is long last && uploadedAt.ToUnixTimeMilliseconds() <= last)
            {
                return (new PrekeyUploadOutcome(0, held, "an upload at least as recent was already accepted"), delta);
            }
            c.Execute(t, "INSERT OR REPLACE INTO prekey_uploads (mailbox, uploaded_at, expires_at) VALUES ($m, $u, $x)",
                ("$m", m), ("$u", uploadedAt.ToUnixTimeMilliseconds()), ("$x", expiresAt.ToUnixTimeMilliseconds()));
            var accepted = 0;
            foreach (var prekey in prekeys)
            {
                if (held >= _options.MaxPrekeysPerMailbox || Volatile.Read(ref _storeBytes) + delta + MailboxQuota.PrekeyBytes > _options.MaxStoreBytes)
                {
                    break;
                }
                if (c.Execute(t, "INSERT OR IGNORE INTO prekeys (mailbox, id, public_key, signature, expires_at) VALUES ($m, $id, $k, $s, $x)",
                    ("$m", m), ("$id", (long)prekey.Id), ("$k", prekey.PublicKey), ("$s", prekey.Signature), ("$x", expiresAt.ToUnixTimeMilliseconds())) == 1)
                {
                    held++;
                    accepted++;
                    delta += MailboxQuota.PrekeyBytes;
                }
            }
            return (new PrekeyUploadOutcome(accepted, held), delta);
        }, cancellationToken);
        Interlocked.Add(ref _storeBytes, delta);
        return outcome;
    }

    public async Task<SignedOneTimePrekey?> TakePrekeyAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        var now = Now();
        var (prekey, delta) = await _database.WriteAsync((c, t) =>
        {
            var taken = c.Query(t, "DELETE FROM prekeys WHERE rowid = (SELECT rowid FROM prekeys WHERE mailbox = $m AND expires_at > $now ORDER BY rowid LIMIT 1) RETURNING id, public_key, signature",
                r => new SignedOneTimePrekey((uint)r.GetInt64(0), r.GetFieldValue<byte[]>(1), r.GetFieldValue<byte[]>(2)), ("$m", mailboxId), ("$now", now));
            return taken.Count == 0 ? ((SignedOneTimePrekey?)null, 0L) : (taken[0], -MailboxQuota.PrekeyBytes);
        }, cancellationToken);
        Interlocked.Add(ref _storeBytes, delta);
        return prekey;
    }

    public async Task<MailboxInventory> GetInventoryAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        var now = Now();
        return await _database.ReadAsync(c => new MailboxInventory(
            c.Query(null, "SELECT envelope_id FROM envelopes WHERE mailbox = $m AND expires_at > $now ORDER BY sequence", r => r.GetFieldValue<byte[]>(0), ("$m", mailboxId), ("$now", now)),
            c.Query(null, "SELECT id FROM tombstones WHERE mailbox = $m AND expires_at > $now", r => r.GetFieldValue<byte[]>(0), ("$m", mailboxId), ("$now", now)),
            c.Scalar(null, "SELECT sequence FROM policies WHERE mailbox = $m AND expires_at > $now", ("$m", mailboxId), ("$now", now)) is long sequence ? unchecked((ulong)sequence) : null),
            cancellationToken);
    }

    public async Task<IReadOnlyList<byte[]>> GetMailboxIdsAsync(CancellationToken cancellationToken) =>
        await _database.ReadAsync(c => c.Query(null, "SELECT mailbox FROM envelopes UNION SELECT mailbox FROM tombstones UNION SELECT mailbox FROM policies", r => r.GetFieldValue<byte[]>(0)), cancellationToken);

    public async Task<int> RemoveExpiredAsync(CancellationToken cancellationToken)
    {
        var now = Now();
        var (removed, delta) = await _database.WriteAsync((c, t) =>
        {
            var removed = 0;
            long delta = 0;
            foreach (var size in c.Query(t, "DELETE FROM envelopes WHERE expires_at <= $now RETURNING length(envelope)", r => r.GetInt64(0), ("$now", now)))
            {
                removed++;
                delta -= size;
            }
            foreach (var (mailbox, id) in c.Query(t, "SELECT mailbox, id FROM tombstones WHERE expires_at <= $now", r => (r.GetFieldValue<byte[]>(0), r.GetFieldValue<byte[]>(1)), ("$now", now)))
            {
                removed++;
                delta -= RemoveTombstone(c, t, mailbox, id);
            }
            foreach (var mailbox in c.Query(t, "DELETE FROM policies WHERE expires_at <= $now RETURNING mailbox, length(request)", r => (Mailbox: r.GetFieldValue<byte[]>(0), Size: r.GetInt64(1)), ("$now", now)))
            {
                removed++;
                delta -= mailbox.Size;
                c.Execute(t, "DELETE FROM policy_tokens WHERE mailbox = $m", ("$m", mailbox.Mailbox));
            }
            var prekeys = RemoveExpiredPrekeys(c, t, "expires_at <= $now", ("$now", now));
            removed += (int)(prekeys / MailboxQuota.PrekeyBytes);
            delta -= prekeys;
            c.Execute(t, "DELETE FROM prekey_uploads WHERE expires_at <= $now", ("$now", now));
            return (removed, delta);
        }, cancellationToken);
        Interlocked.Add(ref _storeBytes, delta);
        return removed;
    }

    private static HeldEnvelope ReadEnvelope(SqliteDataReader r, int first) => new(
        r.GetFieldValue<byte[]>(first),
        r.GetFieldValue<byte[]>(first + 1),
        r.GetFieldValue<byte[]>(first + 2),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(first + 3)),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(first + 4)),
        r.GetBlobOrNull(first + 5),
        unchecked((ulong)r.GetInt64(first + 6)),
        r.GetString(first + 7));

    private long Now() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Deletes the envelopes matching <paramref name="where"/>; returns their bytes.</summary>
    private static long RemoveExpiredEnvelopes(SqliteConnection c, SqliteTransaction t, string where, params ReadOnlySpan<(string, object?)> parameters) =>
        c.Query(t, $"DELETE FROM envelopes WHERE {where} RETURNING length(envelope)", r => r.GetInt64(0), parameters).Sum();

    /// <summary>Deletes the prekeys matching <paramref name="where"/>; returns their bytes.</summary>
    private static long RemoveExpiredPrekeys(SqliteConnection c, SqliteTransaction t, string where, params ReadOnlySpan<(string, object?)> parameters) =>
        c.Query(t, $"DELETE FROM prekeys WHERE {where} RETURNING 1", _ => (long)MailboxQuota.PrekeyBytes, parameters).Sum();

    /// <summary>Deletes a tombstone and its index rows; returns its bytes.</summary>
    private static long RemoveTombstone(SqliteConnection c, SqliteTransaction t, byte[] mailbox, byte[] id)
    {
        c.Execute(t, "DELETE FROM tombstoned WHERE mailbox = $m AND tombstone = $id", ("$m", mailbox), ("$id", id));
        return c.Query(t, "DELETE FROM tombstones WHERE mailbox = $m AND id = $id RETURNING length(request)", r => r.GetInt64(0), ("$m", mailbox), ("$id", id)).Sum();
    }

    private static bool SameHashes(SqliteConnection c, SqliteTransaction t, byte[] mailbox, IReadOnlyList<byte[]> hashes)
    {
        var held = c.Query(t, "SELECT token_hash FROM policy_tokens WHERE mailbox = $m", r => Convert.ToHexString(r.GetFieldValue<byte[]>(0)), ("$m", mailbox)).ToHashSet();
        return held.SetEquals(hashes.Select(Convert.ToHexString));
    }
}
