using Parley.Core.Identity;

namespace Parley.Chat.Files;

/// <summary>Where a file stands on this device.</summary>
public enum FileState
{
    /// <summary>Ours: our copy is kept and served to the recipients.</summary>
    Offered,

    /// <summary>Ours, sent to a contact: they saved all of it.</summary>
    Delivered,

    /// <summary>Theirs: chunks are missing; fetched whenever a source is reachable (<see cref="FileRecord.Problem"/> says what it waits for).</summary>
    Waiting,

    /// <summary>Theirs: larger than the user's limit; not fetched until the user raises the limit and asks for it.</summary>
    TooLarge,

    /// <summary>Theirs: the disk lacks the space; fetched when there is space and the user asks again.</summary>
    NoSpace,

    /// <summary>Theirs: saved whole, as <see cref="FileRecord.SavedAs"/>.</summary>
    Complete,
}

/// <summary>
/// A file as the chat store keeps it. The manifest holds the file's key, name and thumbnail: the store seals it at rest
/// as it does other secrets. <see cref="Have"/> says which chunks are on disk (written and flushed before it was stored).
/// </summary>
/// <param name="MessageId">The message that carried the manifest: 16 bytes for a 1:1 message, 32 for a room message.</param>
/// <param name="ConversationId">The 1:1 conversation's id, or the room's id.</param>
/// <param name="Peer">The contact a 1:1 file came from or went to; for a room file, the account that sent it.</param>
/// <param name="SavedAs">The file's name in the saved-files folder, once complete.</param>
/// <param name="Problem">What keeps the file from moving on, in words ("waiting for bob to come online").</param>
public sealed record FileRecord(
    byte[] FileId,
    byte[] MessageId,
    byte[] ConversationId,
    bool InRoom,
    PeerId Peer,
    bool Outgoing,
    byte[] Manifest,
    FileState State,
    byte[] Have,
    int ChunksHeld,
    string? SavedAs,
    string? Problem,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>Incoming and not saved yet.</summary>
    public bool IsUnfinished => !Outgoing && State is FileState.Waiting or FileState.TooLarge or FileState.NoSpace;
}

/// <summary>
/// A file as the user sees it: what the manifest says, where it stands, and the progress of a transfer under way
/// (held chunks for incoming files; bytes sent in this run for ours).
/// </summary>
public sealed record ChatFile(
    byte[] FileId,
    byte[] MessageId,
    byte[] ConversationId,
    bool InRoom,
    PeerId Peer,
    bool Outgoing,
    string Name,
    long Size,
    string MediaType,
    byte[]? Thumbnail,
    string? ThumbnailType,
    FileState State,
    long BytesHeld,
    long BytesSent,
    bool Active,
    string? SavedAs,
    string? Problem,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    /// <summary>The id as the API and the CLI write it.</summary>
    public string IdText => Convert.ToHexStringLower(FileId);

    public bool IsImage => MediaType.StartsWith("image/", StringComparison.Ordinal);
}

/// <summary>A file appeared, changed state, or moved on (progress events are at most a few per second).</summary>
public sealed class FileEventArgs(ChatFile file) : EventArgs
{
    public ChatFile File { get; } = file;
}
