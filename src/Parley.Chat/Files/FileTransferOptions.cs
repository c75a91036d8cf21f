namespace Parley.Chat.Files;

/// <summary>Limits and timing of files (docs/files.md). Defaults are for real use; tests shorten the intervals.</summary>
public sealed class FileTransferOptions
{
    public const string ProtocolId = "/parley/file/1.0.0";

    /// <summary>Chunks of files pulled over <see cref="ProtocolId"/>.</summary>
    public const int ChunkSize = 256 * 1024;

    /// <summary>
    /// Chunks of files pushed through the outbox: one chunk, its envelope and the sealed box around it fit the 64 KiB
    /// a mailbox takes (docs/mailbox.md), with room to spare.
    /// </summary>
    public const int PushedChunkSize = 60 * 1024;

    /// <summary>
    /// Files up to this size are pushed through the outbox (so through the mailboxes when the recipient is away);
    /// larger ones wait for the recipient to pull them directly. docs/files.md says why 1 MiB.
    /// </summary>
    public long MaxPushedBytes { get; init; } = 1024 * 1024;

    /// <summary>The largest file sent or fetched unless the user raised the limit (a setting kept in the chat store).</summary>
    public long DefaultMaxFileBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>Free disk space a file may not eat into: a file is fetched only if this much stays free after it.</summary>
    public long DiskReserveBytes { get; init; } = 256L * 1024 * 1024;

    /// <summary>How often unfinished files look for a source again (also on every new manifest and on start).</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the chunks of a pushed file are waited for before they are pulled instead.</summary>
    public TimeSpan PushGrace { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Files fetched at once.</summary>
    public int ParallelDownloads { get; init; } = 2;

    /// <summary>A fetch or a serve that moves no data for this long is dropped.</summary>
    public TimeSpan StreamTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Held chunks are flushed and recorded at least this often during a fetch: what a crash can lose.</summary>
    public TimeSpan PersistInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Room members asked for a file besides its sender, at most.</summary>
    public int MaxRoomSources { get; init; } = 8;

    /// <summary>Upload rate limit of the file server in bytes per second; 0: none.</summary>
    public long MaxUploadBytesPerSecond { get; init; }
}
