using Microsoft.Data.Sqlite;
using Parley.Chat.Files;
using Parley.Core.Identity;

namespace Parley.Storage;

/// <summary>
/// The chat store's file records (docs/files.md). Sealed at rest: the manifest (it holds the file's key, name and
/// thumbnail), the saved name and the problem text (it names files and contacts). The table came after
/// <see cref="ContentSealing"/>, sealed from its first row, so it needs no entry there.
/// </summary>
public sealed partial class SqliteChatStore
{
    private const string FilesSchema = """
        CREATE TABLE files (
            file_id BLOB PRIMARY KEY, message_id BLOB NOT NULL, conversation_id BLOB NOT NULL, in_room INTEGER NOT NULL,
            peer TEXT NOT NULL, outgoing INTEGER NOT NULL, manifest BLOB NOT NULL, state INTEGER NOT NULL, have BLOB NOT NULL,
            chunks_held INTEGER NOT NULL, saved_as BLOB, problem BLOB, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
        CREATE INDEX files_by_message ON files (message_id);
        CREATE INDEX files_by_time ON files (created_ms);
        CREATE INDEX files_unfinished ON files (created_ms) WHERE outgoing = 0 AND state IN (2, 3, 4);
        """;

    private sealed partial class Transaction
    {
        private const string FileColumns =
            "file_id, message_id, conversation_id, in_room, peer, outgoing, manifest, state, have, chunks_held, saved_as, problem, created_ms, updated_ms";

        public FileRecord? GetFile(byte[] fileId) =>
            connection.Query($"SELECT {FileColumns} FROM files WHERE file_id = $id", ReadFile, ("$id", fileId)).SingleOrDefault();

        public FileRecord? GetFileOfMessage(byte[] messageId) =>
            connection.Query($"SELECT {FileColumns} FROM files WHERE message_id = $m LIMIT 1", ReadFile, ("$m", messageId)).SingleOrDefault();

        public IReadOnlyList<FileRecord> GetFiles(int limit) =>
            connection.Query($"SELECT {FileColumns} FROM files ORDER BY created_ms DESC, file_id LIMIT $limit", ReadFile, ("$limit", limit));

        public IReadOnlyList<FileRecord> GetUnfinishedFiles(int limit) => connection.Query(
            $"SELECT {FileColumns} FROM files WHERE outgoing = 0 AND state IN ($waiting, $large, $space) ORDER BY created_ms, file_id LIMIT $limit",
            ReadFile,
            ("$waiting", (int)FileState.Waiting),
            ("$large", (int)FileState.TooLarge),
            ("$space", (int)FileState.NoSpace),
            ("$limit", limit));

        public void PutFile(FileRecord file) => connection.Execute(
            $"INSERT OR REPLACE INTO files ({FileColumns}) VALUES ($id, $m, $c, $room, $peer, $out, $manifest, $state, $have, $held, $saved, $problem, $created, $updated)",
            ("$id", file.FileId),
            ("$m", file.MessageId),
            ("$c", file.ConversationId),
            ("$room", file.InRoom),
            ("$peer", file.Peer.ToString()),
            ("$out", file.Outgoing),
            ("$manifest", vault.Seal(file.Manifest)),
            ("$state", (int)file.State),
            ("$have", file.Have),
            ("$held", file.ChunksHeld),
            ("$saved", file.SavedAs is null ? null : vault.SealText(file.SavedAs)),
            ("$problem", file.Problem is null ? null : vault.SealText(file.Problem)),
            ("$created", Ms(file.CreatedAt)),
            ("$updated", Ms(file.UpdatedAt)));

        private FileRecord ReadFile(SqliteDataReader r) => new(
            (byte[])r.GetValue(0),
            (byte[])r.GetValue(1),
            (byte[])r.GetValue(2),
            r.GetBoolean(3),
            PeerId.Parse(r.GetString(4)),
            r.GetBoolean(5),
            vault.Open((byte[])r.GetValue(6)),
            (FileState)r.GetInt32(7),
            (byte[])r.GetValue(8),
            r.GetInt32(9),
            r.IsDBNull(10) ? null : vault.OpenText((byte[])r.GetValue(10)),
            r.IsDBNull(11) ? null : vault.OpenText((byte[])r.GetValue(11)),
            Time(r.GetInt64(12)),
            Time(r.GetInt64(13)));
    }
}
