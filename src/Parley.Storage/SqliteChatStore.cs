using Microsoft.Data.Sqlite;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Storage;

/// <summary>
/// <see cref="IChatStore"/> on SQLite (docs/storage.md). Secrets (the account seed, private keys, ratchet states) and
/// content (message text, names, mailbox tokens, room contents: <see cref="ContentSealing"/>) are sealed by the
/// <see cref="KeyVault"/> before they reach the file; a contact is found by name through a keyed hash of it.
/// </summary>
public sealed partial class SqliteChatStore : IChatStore, IAsyncDisposable
{
    public const string FileName = "parley.db";

    /// <summary>Message ids are 16 random bytes; parents and heads are stored concatenated.</summary>
    public const int MessageIdLength = 16;

    /// <summary>At most this many heads are kept per conversation (messages with the same, highest clock).</summary>
    private const int MaxHeads = 4;

    internal static readonly Migration[] Schema =
    [
        new(1, """
            CREATE TABLE keyring (id INTEGER PRIMARY KEY CHECK (id = 1), scheme TEXT NOT NULL, data_key BLOB NOT NULL);
            CREATE TABLE account (
                id INTEGER PRIMARY KEY CHECK (id = 1), account_seed BLOB NOT NULL, identity_dh_private BLOB NOT NULL,
                name TEXT NOT NULL, name_pow INTEGER, created_ms INTEGER NOT NULL);
            CREATE TABLE devices (device_key BLOB PRIMARY KEY, certificate BLOB NOT NULL, added_ms INTEGER NOT NULL);
            CREATE TABLE prekeys (
                id INTEGER NOT NULL, one_time INTEGER NOT NULL, private_key BLOB NOT NULL, public_key BLOB NOT NULL,
                created_ms INTEGER NOT NULL, PRIMARY KEY (id, one_time));
            CREATE TABLE contacts (
                account TEXT PRIMARY KEY, account_key BLOB NOT NULL, identity_dh_key BLOB NOT NULL, name TEXT NOT NULL,
                state INTEGER NOT NULL, their_token BLOB, our_token BLOB, created_ms INTEGER NOT NULL);
            CREATE TABLE sessions (
                contact TEXT NOT NULL, session_id BLOB NOT NULL, state BLOB NOT NULL, prekey BLOB,
                last_received_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (contact, session_id));
            CREATE TABLE conversations (id BLOB PRIMARY KEY, contact TEXT, lamport INTEGER NOT NULL);
            CREATE TABLE messages (
                id BLOB PRIMARY KEY, conversation_id BLOB NOT NULL, sender TEXT NOT NULL, direction INTEGER NOT NULL,
                lamport INTEGER NOT NULL, parents BLOB NOT NULL, text TEXT NOT NULL, state INTEGER NOT NULL,
                stored_count INTEGER NOT NULL, sent_ms INTEGER NOT NULL, local_ms INTEGER NOT NULL,
                contact_request INTEGER NOT NULL, unread INTEGER NOT NULL);
            CREATE INDEX messages_by_conversation ON messages (conversation_id, lamport, sender, id);
            CREATE INDEX messages_unread ON messages (local_ms) WHERE unread = 1;
            CREATE TABLE outbox (
                envelope_id BLOB PRIMARY KEY, recipient TEXT NOT NULL, message_id BLOB, envelope BLOB NOT NULL,
                stage INTEGER NOT NULL, attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL, created_ms INTEGER NOT NULL);
            CREATE INDEX outbox_due ON outbox (next_attempt_ms);
            CREATE INDEX outbox_by_message ON outbox (message_id) WHERE message_id IS NOT NULL;
            CREATE TABLE seen_envelopes (envelope_id BLOB PRIMARY KEY, seen_ms INTEGER NOT NULL);
            CREATE INDEX seen_by_time ON seen_envelopes (seen_ms);
            CREATE TABLE settings (name TEXT PRIMARY KEY, value BLOB NOT NULL);
            """),
        new(2, """
            CREATE TABLE groups (
                id BLOB PRIMARY KEY, link_key BLOB NOT NULL, admin_handle TEXT NOT NULL, status INTEGER NOT NULL,
                session BLOB, created_ms INTEGER NOT NULL);
            CREATE TABLE group_entries (
                group_id BLOB NOT NULL, entry_id BLOB NOT NULL, entry BLOB NOT NULL, seq INTEGER NOT NULL,
                PRIMARY KEY (group_id, entry_id));
            CREATE TABLE group_messages (
                id BLOB PRIMARY KEY, group_id BLOB NOT NULL, sender BLOB NOT NULL, epoch BLOB NOT NULL, chain_id INTEGER NOT NULL,
                iteration INTEGER NOT NULL, lamport INTEGER NOT NULL, body BLOB NOT NULL, ciphertext BLOB, text TEXT NOT NULL,
                sent_ms INTEGER NOT NULL, local_ms INTEGER NOT NULL, outgoing INTEGER NOT NULL, recipients INTEGER NOT NULL,
                stored INTEGER NOT NULL, delivered INTEGER NOT NULL, unread INTEGER NOT NULL, from_history INTEGER NOT NULL);
            CREATE INDEX group_messages_order ON group_messages (group_id, lamport, sender, id);
            CREATE INDEX group_messages_chain ON group_messages (group_id, sender, epoch, chain_id, iteration);
            CREATE TABLE group_pending (
                id INTEGER PRIMARY KEY AUTOINCREMENT, group_id BLOB NOT NULL, ciphertext BLOB NOT NULL, received_ms INTEGER NOT NULL);
            CREATE INDEX group_pending_by_group ON group_pending (group_id, id);
            """),
        // The latest message ids of a conversation kept with its clock, so sending reads one row instead of a query.
        new(3, "ALTER TABLE conversations ADD COLUMN heads BLOB;"),
        // A pairwise envelope's plaintext content (sealed), so that session repair can encrypt it again on a new session.
        new(4, """
            ALTER TABLE outbox ADD COLUMN content BLOB;
            CREATE INDEX outbox_by_recipient ON outbox (recipient, created_ms);
            """),
        // Content sealed at rest (ContentSealing): contacts are found by a keyed hash of their name, and the keyring
        // records how far the rows are sealed and whether the file still has to be rebuilt without the plaintext.
        new(5, """
            ALTER TABLE contacts ADD COLUMN name_key BLOB;
            CREATE INDEX contacts_by_name_key ON contacts (name_key);
            ALTER TABLE keyring ADD COLUMN sealed_generation INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE keyring ADD COLUMN scrub_pending INTEGER NOT NULL DEFAULT 0;
            """),
        new(6, FilesSchema),
        // Replies, edits, deletions and reactions (docs/messaging.md): an action is a row of its own that names its
        // target; a text shows its latest edit and is erased in place when deleted.
        new(7, """
            ALTER TABLE messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE messages ADD COLUMN target BLOB;
            ALTER TABLE messages ADD COLUMN edited_ms INTEGER;
            ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX messages_by_target ON messages (target) WHERE target IS NOT NULL;
            ALTER TABLE group_messages ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE group_messages ADD COLUMN target BLOB;
            ALTER TABLE group_messages ADD COLUMN edited_ms INTEGER;
            ALTER TABLE group_messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX group_messages_by_target ON group_messages (target) WHERE target IS NOT NULL;
            """),
        // Linked devices (docs/devices.md): a session and an outbox entry name the contact's device they are for; null
        // (every row stored before) is the device holding the account's records, so no session is lost.
        new(8, """
            ALTER TABLE sessions ADD COLUMN device TEXT;
            ALTER TABLE outbox ADD COLUMN device TEXT;
            """),
        // Per-device delivery detail of our 1:1 messages (docs/devices.md): which of the recipient's devices has one, which read it.
        new(9, """
            CREATE TABLE message_devices (
                message_id BLOB NOT NULL, device TEXT NOT NULL, state INTEGER NOT NULL, at_ms INTEGER NOT NULL,
                PRIMARY KEY (message_id, device));
            """),
        // Fewer B-trees written per message (docs/benchmarks.md, "Fewer B-trees per message"): a seen envelope id is one
        // row of a table keyed by it, not a row plus its key index plus a time index (only the forgetting at start reads
        // by time: a scan); the outbox loses its index by recipient, read only when a device is removed or a session
        // repaired (a scan of what is queued).
        new(10, """
            CREATE TABLE seen_envelopes_by_id (envelope_id BLOB PRIMARY KEY, seen_ms INTEGER NOT NULL) WITHOUT ROWID;
            INSERT INTO seen_envelopes_by_id (envelope_id, seen_ms) SELECT envelope_id, seen_ms FROM seen_envelopes;
            DROP TABLE seen_envelopes;
            ALTER TABLE seen_envelopes_by_id RENAME TO seen_envelopes;
            DROP INDEX outbox_by_recipient;
            """),
    ];

    private readonly SqliteDatabase _database;
    private readonly KeyVault _vault;

    // Settings as last read outside a transaction (so committed), absent ones as null; a write drops its entry, so a
    // rolled-back write leaves nothing behind. Used under the database's lock only. Every send reads several (the
    // device lists), which would otherwise each be a query.
    private readonly Dictionary<string, byte[]?> _settings = new(StringComparer.Ordinal);

    private SqliteChatStore(SqliteDatabase database, KeyVault vault)
    {
        _database = database;
        _vault = vault;
    }

    public string Path => _database.Path;

    /// <summary>
    /// Opens the chat database, creating it (and its data key, under <paramref name="passphrase"/> if one is given) on
    /// first use. A database written by an older Parley has its content sealed on this first unlock.
    /// </summary>
    /// <exception cref="PassphraseRequiredException">The database is passphrase-protected and none was given.</exception>
    /// <exception cref="Chat.Crypto.WrongPassphraseException">The passphrase is wrong.</exception>
    /// <exception cref="StorageException">The file is damaged, locked, from a newer Parley, or the disk is full.</exception>
    public static async Task<SqliteChatStore> OpenAsync(string path, string? passphrase, ICryptoProvider crypto, Durability durability, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        var database = await SqliteDatabase.OpenAsync(path, Schema, durability, cancellationToken);
        KeyVault? vault = null;
        try
        {
            var stored = await database.ReadAsync(
                c => c.Query(null, "SELECT scheme, data_key, sealed_generation, scrub_pending FROM keyring", r => (Scheme: r.GetString(0), Key: (byte[])r.GetValue(1), Sealed: r.GetInt32(2), Scrub: r.GetBoolean(3))),
                cancellationToken);
            if (stored.Count == 0)
            {
                vault = KeyVault.Create(crypto);
                var (scheme, key) = vault.Export(passphrase);
                await database.WriteAsync(
                    (c, t) => c.Execute(t, "INSERT INTO keyring (id, scheme, data_key, sealed_generation) VALUES (1, $s, $k, $g)", ("$s", scheme), ("$k", key), ("$g", ContentSealing.Generation)),
                    cancellationToken);
            }
            else
            {
                vault = KeyVault.Unlock(crypto, stored[0].Scheme, stored[0].Key, passphrase);
                if (vault.NeedsRewrap)
                {
                    var (scheme, key) = vault.Export(passphrase);
                    await database.WriteAsync((c, t) => c.Execute(t, "UPDATE keyring SET scheme = $s, data_key = $k WHERE id = 1", ("$s", scheme), ("$k", key)), cancellationToken);
                }
                await ContentSealing.UpgradeAsync(database, vault, stored[0].Sealed, stored[0].Scrub, cancellationToken);
            }
            return new SqliteChatStore(database, vault);
        }
        catch
        {
            vault?.Dispose();
            await database.DisposeAsync();
            throw;
        }
    }

    /// <summary>Wraps the data key under a new passphrase (null: none); what it seals is not re-encrypted.</summary>
    public Task ChangePassphraseAsync(string? passphrase, CancellationToken cancellationToken)
    {
        var (scheme, key) = _vault.Export(passphrase);
        return _database.WriteAsync((c, t) => c.Execute(t, "UPDATE keyring SET scheme = $s, data_key = $k WHERE id = 1", ("$s", scheme), ("$k", key)), cancellationToken);
    }

    public Task<string> CheckIntegrityAsync(CancellationToken cancellationToken) => _database.CheckIntegrityAsync(cancellationToken);

    public Task<T> TransactAsync<T>(Func<IChatTransaction, T> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        // The group commit opens the transaction itself: its commands take no transaction object.
        return _database.WriteInBatchAsync(c => work(new Transaction(c, _vault, _settings, writing: true)), cancellationToken);
    }

    public Task<T> ReadAsync<T>(Func<IChatReader, T> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        return _database.ReadAsync(c => read(new Transaction(c, _vault, _settings, writing: false)), cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await _database.DisposeAsync();
        _vault.Dispose();
    }

    private static long Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private static DateTimeOffset Time(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    /// <summary>Reads and writes rows; only reads unless <paramref name="writing"/>, when it runs inside a write transaction.</summary>
    private sealed partial class Transaction(SqliteConnection connection, KeyVault vault, Dictionary<string, byte[]?> settings, bool writing) : IChatTransaction
    {
        private const string MessageColumns =
            "id, conversation_id, sender, direction, lamport, parents, text, state, stored_count, sent_ms, local_ms, contact_request, unread, kind, target, edited_ms, deleted";

        /// <summary>Rows that are an action on a message (an edit, a deletion, a reaction), not a text.</summary>
        private const string IsAction = "kind <> 0";
        private const string ContactColumns = "account, account_key, identity_dh_key, name, state, their_token, our_token, created_ms";
        private const string OutboxColumns = "envelope_id, recipient, message_id, envelope, stage, attempts, next_attempt_ms, created_ms, content, device";

        public AccountRecord? GetAccount() => connection.Query("SELECT account_seed, identity_dh_private, name, name_pow, created_ms FROM account", r => new AccountRecord(
            vault.Open((byte[])r.GetValue(0)),
            vault.Open((byte[])r.GetValue(1)),
            vault.OpenText((byte[])r.GetValue(2)),
            r.IsDBNull(3) ? null : unchecked((ulong)r.GetInt64(3)),
            Time(r.GetInt64(4)))).SingleOrDefault();

        public void PutAccount(AccountRecord account) => connection.Execute(
            """
            INSERT INTO account (id, account_seed, identity_dh_private, name, name_pow, created_ms) VALUES (1, $seed, $dh, $name, $pow, $created)
            ON CONFLICT (id) DO UPDATE SET account_seed = $seed, identity_dh_private = $dh, name = $name, name_pow = $pow, created_ms = $created
            """,
            ("$seed", vault.Seal(account.AccountSeed)),
            ("$dh", vault.Seal(account.IdentityDhPrivateKey)),
            ("$name", vault.SealText(account.Name)),
            ("$pow", account.NameProofOfWork is { } pow ? unchecked((long)pow) : null),
            ("$created", Ms(account.CreatedAt)));

        public IReadOnlyList<byte[]> GetDeviceCertificates() =>
            connection.Query("SELECT certificate FROM devices ORDER BY added_ms", r => (byte[])r.GetValue(0));

        public void PutDevice(byte[] deviceKey, byte[] certificate, DateTimeOffset addedAt) => connection.Execute(
            "INSERT INTO devices (device_key, certificate, added_ms) VALUES ($k, $c, $t) ON CONFLICT (device_key) DO UPDATE SET certificate = $c",
            ("$k", deviceKey),
            ("$c", certificate),
            ("$t", Ms(addedAt)));

        public void DeleteDevice(byte[] deviceKey) => connection.Execute("DELETE FROM devices WHERE device_key = $k", ("$k", deviceKey));

        public ContactRecord? GetContact(PeerId account) =>
            connection.Query($"SELECT {ContactColumns} FROM contacts WHERE account = $a", ReadContact, ("$a", account.ToString())).SingleOrDefault();

        /// <summary>By name, then account; sorted here, as the names are sealed.</summary>
        public IReadOnlyList<ContactRecord> GetContacts() =>
            connection.Query($"SELECT {ContactColumns} FROM contacts", ReadContact)
                .OrderBy(c => c.Name, StringComparer.Ordinal).ThenBy(c => c.Account.ToString(), StringComparer.Ordinal).ToList();

        public IReadOnlyList<ContactRecord> GetContactsNamed(string name) => connection.Query(
            $"SELECT {ContactColumns} FROM contacts WHERE name_key = $k ORDER BY account",
            ReadContact,
            ("$k", ContentSealing.ContactNameTag(vault, name)));

        public void PutContact(ContactRecord contact) => connection.Execute(
            $"""
            INSERT INTO contacts ({ContactColumns}, name_key) VALUES ($a, $key, $dh, $name, $state, $their, $our, $created, $name_key)
            ON CONFLICT (account) DO UPDATE SET account_key = $key, identity_dh_key = $dh, name = $name, state = $state,
                their_token = $their, our_token = $our, name_key = $name_key
            """,
            ("$a", contact.Account.ToString()),
            ("$key", contact.AccountKey.ToProtobuf()),
            ("$dh", contact.IdentityDhKey),
            ("$name", vault.SealText(contact.Name)),
            ("$state", (int)contact.State),
            ("$their", SealOrNull(contact.TheirMailboxToken)),
            ("$our", SealOrNull(contact.OurMailboxToken)),
            ("$created", Ms(contact.CreatedAt)),
            ("$name_key", ContentSealing.ContactNameTag(vault, contact.Name)));

        public bool HasSession(PeerId contact) =>
            connection.Scalar("SELECT 1 FROM sessions WHERE contact = $c LIMIT 1", ("$c", contact.ToString())) is not null;

        public SessionRecord? GetSession(PeerId contact, byte[] sessionId) => connection.Query(
            "SELECT session_id, state, prekey, last_received_ms, created_ms, device FROM sessions WHERE contact = $c AND session_id = $id",
            r => ReadSession(contact, r),
            ("$c", contact.ToString()),
            ("$id", sessionId)).SingleOrDefault();

        public IReadOnlyList<SessionRecord> GetSessions(PeerId contact) => connection.Query(
            "SELECT session_id, state, prekey, last_received_ms, created_ms, device FROM sessions WHERE contact = $c ORDER BY last_received_ms DESC, created_ms DESC",
            r => ReadSession(contact, r),
            ("$c", contact.ToString()));

        public void PutSession(SessionRecord session) => connection.Execute(
            """
            INSERT INTO sessions (contact, session_id, state, prekey, last_received_ms, created_ms, device) VALUES ($c, $id, $state, $prekey, $received, $created, $device)
            ON CONFLICT (contact, session_id) DO UPDATE SET state = $state, prekey = $prekey, last_received_ms = $received
            """,
            ("$c", session.Contact.ToString()),
            ("$id", session.SessionId),
            ("$state", vault.Seal(session.State)),
            ("$prekey", EncodePrekey(session.Prekey)),
            ("$received", Ms(session.LastReceivedAt)),
            ("$created", Ms(session.CreatedAt)),
            ("$device", session.Device?.ToString()));

        public void DeleteSession(PeerId contact, byte[] sessionId) =>
            connection.Execute("DELETE FROM sessions WHERE contact = $c AND session_id = $id", ("$c", contact.ToString()), ("$id", sessionId));

        public PrekeyRecord? GetPrekey(uint id, bool oneTime) => connection.Query(
            "SELECT id, one_time, private_key, public_key, created_ms FROM prekeys WHERE id = $id AND one_time = $o",
            ReadPrekey,
            ("$id", (long)id),
            ("$o", oneTime)).SingleOrDefault();

        public IReadOnlyList<PrekeyRecord> GetPrekeys(bool oneTime) => connection.Query(
            "SELECT id, one_time, private_key, public_key, created_ms FROM prekeys WHERE one_time = $o ORDER BY created_ms, id",
            ReadPrekey,
            ("$o", oneTime));

        public void PutPrekey(PrekeyRecord prekey) => connection.Execute(
            "INSERT OR REPLACE INTO prekeys (id, one_time, private_key, public_key, created_ms) VALUES ($id, $o, $private, $public, $created)",
            ("$id", (long)prekey.Id),
            ("$o", prekey.OneTime),
            ("$private", vault.Seal(prekey.PrivateKey)),
            ("$public", prekey.PublicKey),
            ("$created", Ms(prekey.CreatedAt)));

        public void DeletePrekey(uint id, bool oneTime) => connection.Execute("DELETE FROM prekeys WHERE id = $id AND one_time = $o", ("$id", (long)id), ("$o", oneTime));

        public bool MarkEnvelopeSeen(byte[] envelopeId, DateTimeOffset at) =>
            connection.Execute("INSERT OR IGNORE INTO seen_envelopes (envelope_id, seen_ms) VALUES ($id, $t)", ("$id", envelopeId), ("$t", Ms(at))) == 1;

        public void ForgetSeenEnvelopes(DateTimeOffset before) =>
            connection.Execute("DELETE FROM seen_envelopes WHERE seen_ms < $t", ("$t", Ms(before)));

        public MessageRecord? GetMessage(byte[] messageId) =>
            connection.Query($"SELECT {MessageColumns} FROM messages WHERE id = $id", ReadMessage, ("$id", messageId)).SingleOrDefault();

        public IReadOnlyList<MessageRecord> GetMessages(byte[] conversationId, int limit)
        {
            var newestFirst = connection.Query(
                $"SELECT {MessageColumns} FROM messages WHERE conversation_id = $c AND kind = 0 ORDER BY lamport DESC, sender DESC, id DESC LIMIT $limit",
                ReadMessage,
                ("$c", conversationId),
                ("$limit", limit));
            newestFirst.Reverse();
            return newestFirst;
        }

        public IReadOnlyList<MessageRecord> GetActions(byte[] targetId) => connection.Query(
            $"SELECT {MessageColumns} FROM messages WHERE target = $t AND {IsAction} ORDER BY lamport, sender, id",
            ReadMessage,
            ("$t", targetId));

        public IReadOnlyList<MessageRecord> GetActionsSince(byte[] conversationId, ulong lamport, int limit) => connection.Query(
            $"SELECT {MessageColumns} FROM messages WHERE conversation_id = $c AND lamport >= $l AND {IsAction} ORDER BY lamport, sender, id LIMIT $limit",
            ReadMessage,
            ("$c", conversationId),
            ("$l", (long)Math.Min(lamport, (ulong)long.MaxValue)),
            ("$limit", limit));

        public IReadOnlyList<MessageRecord> GetUnread(int limit) => connection.Query(
            $"SELECT {MessageColumns} FROM messages WHERE unread = 1 ORDER BY conversation_id, lamport, sender, id LIMIT $limit",
            ReadMessage,
            ("$limit", limit));

        public bool InsertMessage(MessageRecord message)
        {
            var parents = new byte[message.Parents.Count * MessageIdLength];
            for (var i = 0; i < message.Parents.Count; i++)
            {
                message.Parents[i].AsSpan(0, MessageIdLength).CopyTo(parents.AsSpan(i * MessageIdLength));
            }
            return connection.Execute(
                $"INSERT OR IGNORE INTO messages ({MessageColumns}) VALUES ($id, $c, $sender, $dir, $lamport, $parents, $text, $state, $stored, $sent, $local, $request, $unread, $kind, $target, $edited, $deleted)",
                ("$id", message.Id),
                ("$c", message.ConversationId),
                ("$sender", message.Sender.ToString()),
                ("$dir", (int)message.Direction),
                ("$lamport", checked((long)message.Lamport)),
                ("$parents", parents),
                ("$text", vault.SealText(message.Text)),
                ("$state", (int)message.State),
                ("$stored", message.StoredCount),
                ("$sent", Ms(message.SentAt)),
                ("$local", Ms(message.LocalAt)),
                ("$request", message.IsContactRequest),
                ("$unread", message.Unread),
                ("$kind", (int)message.Kind),
                ("$target", message.Target),
                ("$edited", message.EditedAt is { } edited ? Ms(edited) : null),
                ("$deleted", message.Deleted)) == 1;
        }

        public void UpdateMessageState(byte[] messageId, DeliveryState state, int storedCount) => connection.Execute(
            "UPDATE messages SET state = $state, stored_count = $stored WHERE id = $id",
            ("$state", (int)state),
            ("$stored", storedCount),
            ("$id", messageId));

        public MessageRecord? AdvanceMessageState(byte[] messageId, DeliveryState state) => connection.Query(
            $"UPDATE messages SET state = $state WHERE id = $id AND state < $state RETURNING {MessageColumns}",
            ReadMessage,
            ("$state", (int)state),
            ("$id", messageId)).SingleOrDefault();

        public IReadOnlyList<DeviceDelivery> GetDeviceDeliveries(byte[] messageId) => connection.Query(
            "SELECT device, state, at_ms FROM message_devices WHERE message_id = $id ORDER BY rowid",
            r => new DeviceDelivery(PeerId.Parse(r.GetString(0)), (DeliveryState)r.GetInt32(1), Time(r.GetInt64(2))),
            ("$id", messageId));

        public void PutDeviceDelivery(byte[] messageId, DeviceDelivery delivery) => connection.Execute(
            """
            INSERT INTO message_devices (message_id, device, state, at_ms) VALUES ($id, $device, $state, $at)
            ON CONFLICT (message_id, device) DO UPDATE SET state = $state, at_ms = $at WHERE state < $state
            """,
            ("$id", messageId),
            ("$device", delivery.Device.ToString()),
            ("$state", (int)delivery.State),
            ("$at", Ms(delivery.At)));

        public void MarkRead(byte[] messageId) => connection.Execute("UPDATE messages SET unread = 0 WHERE id = $id", ("$id", messageId));

        public void EditMessage(byte[] messageId, string text, DateTimeOffset editedAt) => connection.Execute(
            "UPDATE messages SET text = $text, edited_ms = $edited WHERE id = $id", ("$text", vault.SealText(text)), ("$edited", Ms(editedAt)), ("$id", messageId));

        public void EraseMessage(byte[] messageId) =>
            connection.Execute("UPDATE messages SET text = $text, deleted = 1 WHERE id = $id", ("$text", vault.SealText("")), ("$id", messageId));

        public void DeleteMessages(byte[] conversationId) => connection.Execute(
            """
            DELETE FROM message_devices WHERE message_id IN (SELECT id FROM messages WHERE conversation_id = $c);
            DELETE FROM messages WHERE conversation_id = $c;
            """,
            ("$c", conversationId));

        public (ulong Lamport, IReadOnlyList<byte[]> Heads) GetConversationClock(byte[] conversationId)
        {
            var row = connection.Query("SELECT lamport, heads FROM conversations WHERE id = $c", r => ((ulong)r.GetInt64(0), r.GetBlobOrNull(1)), ("$c", conversationId));
            if (row.Count == 0)
            {
                return (0, []);
            }
            return (row[0].Item1, SplitIds(row[0].Item2 ?? []));
        }

        public void AdvanceConversation(byte[] conversationId, PeerId? contact, ulong lamport, byte[] messageId) => connection.Execute(
            """
            INSERT INTO conversations (id, contact, lamport, heads) VALUES ($c, $contact, $l, $m)
            ON CONFLICT (id) DO UPDATE SET
                heads = CASE
                    WHEN $l > lamport THEN $m
                    WHEN $l = lamport AND length(coalesce(heads, x'')) < $max THEN CAST(coalesce(heads, x'') || $m AS BLOB)
                    ELSE heads END,
                lamport = max(lamport, $l)
            """,
            ("$c", conversationId),
            ("$contact", contact?.ToString()),
            ("$l", checked((long)lamport)),
            ("$m", messageId),
            ("$max", MaxHeads * MessageIdLength));

        public IReadOnlyList<OutboxItem> GetOutbox(DateTimeOffset dueBy, int limit) => connection.Query(
            $"SELECT {OutboxColumns} FROM outbox WHERE next_attempt_ms <= $due ORDER BY next_attempt_ms, created_ms LIMIT $limit",
            ReadOutbox,
            ("$due", Ms(dueBy)),
            ("$limit", limit));

        public OutboxItem? GetOutboxItem(byte[] envelopeId) =>
            connection.Query($"SELECT {OutboxColumns} FROM outbox WHERE envelope_id = $id", ReadOutbox, ("$id", envelopeId)).SingleOrDefault();

        public IReadOnlyList<OutboxItem> GetOutboxFor(PeerId recipient) => connection.Query(
            $"SELECT {OutboxColumns} FROM outbox WHERE recipient = $r ORDER BY created_ms, rowid",
            ReadOutbox,
            ("$r", recipient.ToString()));

        public int CountOutbox(OutboxStage? stage = null) => Convert.ToInt32(
            connection.Scalar("SELECT count(*) FROM outbox WHERE $stage IS NULL OR stage = $stage", ("$stage", stage is null ? null : (int)stage)),
            System.Globalization.CultureInfo.InvariantCulture);

        public void PutOutbox(OutboxItem item) => connection.Execute(
            $"INSERT OR REPLACE INTO outbox ({OutboxColumns}) VALUES ($id, $r, $m, $e, $stage, $attempts, $next, $created, $content, $device)",
            ("$id", item.EnvelopeId),
            ("$r", item.Recipient.ToString()),
            ("$m", item.MessageId),
            ("$e", item.Envelope),
            ("$stage", (int)item.Stage),
            ("$attempts", item.Attempts),
            ("$next", Ms(item.NextAttemptAt)),
            ("$created", Ms(item.CreatedAt)),
            ("$content", SealOrNull(item.Content)),
            ("$device", item.Device?.ToString()));

        public void DeleteOutbox(byte[] envelopeId) => connection.Execute("DELETE FROM outbox WHERE envelope_id = $id", ("$id", envelopeId));

        public void DeleteOutboxForMessage(byte[] messageId) => connection.Execute("DELETE FROM outbox WHERE message_id = $m", ("$m", messageId));

        public byte[]? GetSetting(string name)
        {
            if (settings.TryGetValue(name, out var known))
            {
                // A copy: the caller may change what it gets.
                return known?.ToArray();
            }
            var value = connection.Scalar("SELECT value FROM settings WHERE name = $n", ("$n", name)) as byte[];
            if (!writing)
            {
                settings[name] = value?.ToArray();
            }
            return value;
        }

        public void PutSetting(string name, byte[] value)
        {
            settings.Remove(name);
            connection.Execute("INSERT INTO settings (name, value) VALUES ($n, $v) ON CONFLICT (name) DO UPDATE SET value = $v", ("$n", name), ("$v", value));
        }

        private const string GroupMessageColumns =
            "id, group_id, sender, epoch, chain_id, iteration, lamport, body, ciphertext, text, sent_ms, local_ms, outgoing, recipients, stored, delivered, unread, from_history, kind, target, edited_ms, deleted";

        public IReadOnlyList<GroupRecord> GetGroups() =>
            connection.Query("SELECT id, link_key, admin_handle, status, session, created_ms FROM groups ORDER BY created_ms", ReadGroup);

        public GroupRecord? GetGroup(byte[] groupId) =>
            connection.Query("SELECT id, link_key, admin_handle, status, session, created_ms FROM groups WHERE id = $id", ReadGroup, ("$id", groupId)).SingleOrDefault();

        public void PutGroup(GroupRecord group) => connection.Execute(
            """
            INSERT INTO groups (id, link_key, admin_handle, status, session, created_ms) VALUES ($id, $link, $admin, $status, $session, $created)
            ON CONFLICT (id) DO UPDATE SET link_key = $link, admin_handle = $admin, status = $status, session = $session
            """,
            ("$id", group.Id),
            ("$link", vault.Seal(group.LinkKey)),
            ("$admin", vault.SealText(group.AdminHandle)),
            ("$status", (int)group.Status),
            ("$session", group.Session is null ? null : vault.Seal(group.Session)),
            ("$created", Ms(group.CreatedAt)));

        public IReadOnlyList<byte[]> GetGroupEntries(byte[] groupId) =>
            connection.Query("SELECT entry FROM group_entries WHERE group_id = $g ORDER BY seq", r => vault.Open((byte[])r.GetValue(0)), ("$g", groupId));

        public void AddGroupEntry(byte[] groupId, byte[] entryId, byte[] entry) => connection.Execute(
            "INSERT OR IGNORE INTO group_entries (group_id, entry_id, entry, seq) VALUES ($g, $id, $e, (SELECT coalesce(max(seq), 0) + 1 FROM group_entries WHERE group_id = $g))",
            ("$g", groupId),
            ("$id", entryId),
            ("$e", vault.Seal(entry)));

        public IReadOnlyList<GroupMessageRecord> GetGroupMessages(byte[] groupId, int limit) => GroupMessagesNewestLast(groupId, limit, "AND kind = 0");

        public IReadOnlyList<GroupMessageRecord> GetGroupTimeline(byte[] groupId, int limit) => GroupMessagesNewestLast(groupId, limit, "");

        public IReadOnlyList<GroupMessageRecord> GetGroupActions(byte[] targetId) => connection.Query(
            $"SELECT {GroupMessageColumns} FROM group_messages WHERE target = $t AND {IsAction} ORDER BY lamport, sender, id",
            ReadGroupMessage,
            ("$t", targetId));

        public IReadOnlyList<GroupMessageRecord> GetGroupActionsSince(byte[] groupId, ulong lamport, int limit) => connection.Query(
            $"SELECT {GroupMessageColumns} FROM group_messages WHERE group_id = $g AND lamport >= $l AND {IsAction} ORDER BY lamport, sender, id LIMIT $limit",
            ReadGroupMessage,
            ("$g", groupId),
            ("$l", (long)Math.Min(lamport, (ulong)long.MaxValue)),
            ("$limit", limit));

        public void EditGroupMessage(byte[] messageId, string text, DateTimeOffset editedAt) => connection.Execute(
            "UPDATE group_messages SET text = $text, edited_ms = $edited WHERE id = $id", ("$text", vault.SealText(text)), ("$edited", Ms(editedAt)), ("$id", messageId));

        public void EraseGroupMessage(byte[] messageId, byte[] erasedBody) => connection.Execute(
            "UPDATE group_messages SET text = $text, body = $body, ciphertext = NULL, deleted = 1 WHERE id = $id",
            ("$text", vault.SealText("")),
            ("$body", vault.Seal(erasedBody)),
            ("$id", messageId));

        private List<GroupMessageRecord> GroupMessagesNewestLast(byte[] groupId, int limit, string filter)
        {
            var newestFirst = connection.Query(
                $"SELECT {GroupMessageColumns} FROM group_messages WHERE group_id = $g {filter} ORDER BY lamport DESC, sender DESC, id DESC LIMIT $limit",
                ReadGroupMessage,
                ("$g", groupId),
                ("$limit", limit));
            newestFirst.Reverse();
            return newestFirst;
        }

        public GroupMessageRecord? GetGroupMessage(byte[] messageId) =>
            connection.Query($"SELECT {GroupMessageColumns} FROM group_messages WHERE id = $id", ReadGroupMessage, ("$id", messageId)).SingleOrDefault();

        public IReadOnlyList<GroupMessageRecord> GetGroupMessagesOfChain(byte[] groupId, PublicKey sender, byte[] epoch, uint chainId, uint first, uint last) => connection.Query(
            $"SELECT {GroupMessageColumns} FROM group_messages WHERE group_id = $g AND sender = $s AND epoch = $e AND chain_id = $c AND iteration BETWEEN $first AND $last ORDER BY iteration LIMIT 256",
            ReadGroupMessage,
            ("$g", groupId),
            ("$s", sender.ToProtobuf()),
            ("$e", epoch),
            ("$c", (long)chainId),
            ("$first", (long)first),
            ("$last", (long)last));

        public bool InsertGroupMessage(GroupMessageRecord message) => connection.Execute(
            $"INSERT OR IGNORE INTO group_messages ({GroupMessageColumns}) VALUES ($id, $g, $s, $e, $c, $i, $l, $body, $ct, $text, $sent, $local, $out, $recipients, $stored, $delivered, $unread, $history, $kind, $target, $edited, $deleted)",
            ("$id", message.Id),
            ("$g", message.GroupId),
            ("$s", message.Sender.ToProtobuf()),
            ("$e", message.Epoch),
            ("$c", (long)message.ChainId),
            ("$i", (long)message.Iteration),
            ("$l", checked((long)message.Lamport)),
            ("$body", vault.Seal(message.Body)),
            ("$ct", SealOrNull(message.Ciphertext)),
            ("$text", vault.SealText(message.Text)),
            ("$sent", Ms(message.SentAt)),
            ("$local", Ms(message.LocalAt)),
            ("$out", message.Outgoing),
            ("$recipients", message.Recipients),
            ("$stored", message.Stored),
            ("$delivered", message.Delivered),
            ("$unread", message.Unread),
            ("$history", message.FromHistory),
            ("$kind", (int)message.Kind),
            ("$target", message.Target),
            ("$edited", message.EditedAt is { } edited ? Ms(edited) : null),
            ("$deleted", message.Deleted)) == 1;

        public void CountGroupCopy(byte[] messageId, bool delivered) => connection.Execute(
            delivered
                ? "UPDATE group_messages SET delivered = min(recipients, delivered + 1) WHERE id = $id"
                : "UPDATE group_messages SET stored = min(recipients, stored + 1) WHERE id = $id",
            ("$id", messageId));

        public void MarkGroupRead(byte[] groupId) => connection.Execute("UPDATE group_messages SET unread = 0 WHERE group_id = $g AND unread = 1", ("$g", groupId));

        public IReadOnlyList<(long Id, byte[] Ciphertext)> GetGroupPending(byte[] groupId) =>
            connection.Query("SELECT id, ciphertext FROM group_pending WHERE group_id = $g ORDER BY id", r => (r.GetInt64(0), vault.Open((byte[])r.GetValue(1))), ("$g", groupId));

        public void AddGroupPending(byte[] groupId, byte[] ciphertext, DateTimeOffset at, int maxPerGroup)
        {
            connection.Execute("INSERT INTO group_pending (group_id, ciphertext, received_ms) VALUES ($g, $c, $t)", ("$g", groupId), ("$c", vault.Seal(ciphertext)), ("$t", Ms(at)));
            connection.Execute(
                "DELETE FROM group_pending WHERE group_id = $g AND id NOT IN (SELECT id FROM group_pending WHERE group_id = $g ORDER BY id DESC LIMIT $max)",
                ("$g", groupId),
                ("$max", maxPerGroup));
        }

        public void DeleteGroupPending(long id) => connection.Execute("DELETE FROM group_pending WHERE id = $id", ("$id", id));

        private GroupRecord ReadGroup(SqliteDataReader r) => new(
            (byte[])r.GetValue(0),
            vault.Open((byte[])r.GetValue(1)),
            vault.OpenText((byte[])r.GetValue(2)),
            (GroupStatus)r.GetInt32(3),
            r.GetBlobOrNull(4) is { } session ? vault.Open(session) : null,
            Time(r.GetInt64(5)));

        private GroupMessageRecord ReadGroupMessage(SqliteDataReader r) => new(
            (byte[])r.GetValue(0),
            (byte[])r.GetValue(1),
            PublicKey.FromProtobuf((byte[])r.GetValue(2)),
            (byte[])r.GetValue(3),
            (uint)r.GetInt64(4),
            (uint)r.GetInt64(5),
            (ulong)r.GetInt64(6),
            vault.Open((byte[])r.GetValue(7)),
            OpenOrNull(r.GetBlobOrNull(8)),
            vault.OpenText((byte[])r.GetValue(9)),
            Time(r.GetInt64(10)),
            Time(r.GetInt64(11)),
            r.GetBoolean(12),
            r.GetInt32(13),
            r.GetInt32(14),
            r.GetInt32(15),
            r.GetBoolean(16),
            r.GetBoolean(17),
            (MessageKind)r.GetInt32(18),
            r.GetBlobOrNull(19),
            r.IsDBNull(20) ? null : Time(r.GetInt64(20)),
            r.GetBoolean(21));

        private OutboxItem ReadOutbox(SqliteDataReader r) => new(
            (byte[])r.GetValue(0),
            PeerId.Parse(r.GetString(1)),
            r.GetBlobOrNull(2),
            (byte[])r.GetValue(3),
            (OutboxStage)r.GetInt32(4),
            r.GetInt32(5),
            Time(r.GetInt64(6)),
            Time(r.GetInt64(7)),
            OpenOrNull(r.GetBlobOrNull(8)),
            r.IsDBNull(9) ? null : PeerId.Parse(r.GetString(9)));

        private SessionRecord ReadSession(PeerId contact, SqliteDataReader r) => new(
            contact, (byte[])r.GetValue(0), vault.Open((byte[])r.GetValue(1)), DecodePrekey(r.GetBlobOrNull(2)), Time(r.GetInt64(3)), Time(r.GetInt64(4)),
            r.IsDBNull(5) ? null : PeerId.Parse(r.GetString(5)));

        private ContactRecord ReadContact(SqliteDataReader r) => new(
            PeerId.Parse(r.GetString(0)),
            PublicKey.FromProtobuf((byte[])r.GetValue(1)),
            (byte[])r.GetValue(2),
            vault.OpenText((byte[])r.GetValue(3)),
            (ContactState)r.GetInt32(4),
            OpenOrNull(r.GetBlobOrNull(5)),
            OpenOrNull(r.GetBlobOrNull(6)),
            Time(r.GetInt64(7)));

        private PrekeyRecord ReadPrekey(SqliteDataReader r) => new(
            (uint)r.GetInt64(0),
            r.GetBoolean(1),
            vault.Open((byte[])r.GetValue(2)),
            (byte[])r.GetValue(3),
            Time(r.GetInt64(4)));

        private MessageRecord ReadMessage(SqliteDataReader r)
        {
            return new MessageRecord(
                (byte[])r.GetValue(0),
                (byte[])r.GetValue(1),
                PeerId.Parse(r.GetString(2)),
                (MessageDirection)r.GetInt32(3),
                (ulong)r.GetInt64(4),
                SplitIds((byte[])r.GetValue(5)),
                vault.OpenText((byte[])r.GetValue(6)),
                (DeliveryState)r.GetInt32(7),
                r.GetInt32(8),
                Time(r.GetInt64(9)),
                Time(r.GetInt64(10)),
                r.GetBoolean(11),
                r.GetBoolean(12),
                (MessageKind)r.GetInt32(13),
                r.GetBlobOrNull(14),
                r.IsDBNull(15) ? null : Time(r.GetInt64(15)),
                r.GetBoolean(16));
        }

        private byte[]? SealOrNull(byte[]? value) => value is null ? null : vault.Seal(value);

        private byte[]? OpenOrNull(byte[]? value) => value is null ? null : vault.Open(value);

        private static List<byte[]> SplitIds(byte[] concatenated)
        {
            var ids = new List<byte[]>(concatenated.Length / MessageIdLength);
            for (var offset = 0; offset + MessageIdLength <= concatenated.Length; offset += MessageIdLength)
            {
                ids.Add(concatenated[offset..(offset + MessageIdLength)]);
            }
            return ids;
        }

        /// <summary>Ephemeral key (32) ‖ signed prekey id (4) ‖ [one-time prekey id (4)], big-endian.</summary>
        private static byte[]? EncodePrekey(PendingPrekey? prekey)
        {
            if (prekey is null)
            {
                return null;
            }
            var bytes = new byte[prekey.EphemeralKey.Length + 4 + (prekey.OneTimePrekeyId is null ? 0 : 4)];
            prekey.EphemeralKey.CopyTo(bytes, 0);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(prekey.EphemeralKey.Length), prekey.SignedPrekeyId);
            if (prekey.OneTimePrekeyId is { } oneTime)
            {
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(prekey.EphemeralKey.Length + 4), oneTime);
            }
            return bytes;
        }

        private static PendingPrekey? DecodePrekey(byte[]? bytes)
        {
            const int KeyLength = 32;
            if (bytes is null)
            {
                return null;
            }
            var signedPrekeyId = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(KeyLength));
            uint? oneTime = bytes.Length >= KeyLength + 8 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(KeyLength + 4)) : null;
            return new PendingPrekey(bytes[..KeyLength], signedPrekeyId, oneTime);
        }
    }
}
