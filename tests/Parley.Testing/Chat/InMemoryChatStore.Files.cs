using Parley.Chat.Files;

namespace Parley.Testing.Chat;

/// <summary>The in-memory chat store's file records, in the order and with the times the SQLite store keeps.</summary>
public sealed partial class InMemoryChatStore
{
    private static IEnumerable<FileRecord> Oldest(IEnumerable<FileRecord> files) =>
        files.OrderBy(f => f.CreatedAt).ThenBy(f => f.FileId, Comparer<byte[]>.Create(CompareBytes));

    private sealed partial class Transaction
    {
        public FileRecord? GetFile(byte[] fileId) => state.Files.GetValueOrDefault(Hex(fileId));

        public FileRecord? GetFileOfMessage(byte[] messageId) => state.Files.Values.FirstOrDefault(f => f.MessageId.AsSpan().SequenceEqual(messageId));

        public IReadOnlyList<FileRecord> GetFiles(int limit) =>
            state.Files.Values.OrderByDescending(f => f.CreatedAt).ThenBy(f => f.FileId, Comparer<byte[]>.Create(CompareBytes)).Take(limit).ToList();

        public IReadOnlyList<FileRecord> GetUnfinishedFiles(int limit) => Oldest(state.Files.Values.Where(f => f.IsUnfinished)).Take(limit).ToList();

        public void PutFile(FileRecord file) =>
            state.Files[Hex(file.FileId)] = file with { CreatedAt = Ms(file.CreatedAt), UpdatedAt = Ms(file.UpdatedAt) };
    }
}
