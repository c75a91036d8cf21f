using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using Parley.Chat.Messaging;

namespace Parley.Chat.Files;

/// <summary>
/// What the parts of file transfer share: the file store, the user's size limit, the live activity of transfers (bytes
/// sent, fetches under way) that the store does not keep, and the view of a file the user sees, with its events
/// (progress events at most every <see cref="ProgressEventInterval"/> per file).
/// </summary>
internal sealed class FileCatalog(ChatContext context, IFileStore store)
{
    public static readonly TimeSpan ProgressEventInterval = TimeSpan.FromMilliseconds(250);

    internal const string LimitSetting = "files/max-bytes";

    private readonly ConcurrentDictionary<string, Activity> _activity = new();

    public IFileStore Store { get; } = store;

    public FileTransferOptions Options => context.Options.Files;

    /// <summary>"[file] name (size)": the text of a message that carries a file, for views that show text only.</summary>
    public static string MessageText(FileManifest manifest) => $"[file] {manifest.Name} ({SizeText(manifest.Size)})";

    public static string SizeText(long bytes) => bytes switch
    {
        < 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        < 1024L * 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB"),
    };

    /// <summary>The largest file this user sends or fetches: the default, or what they set.</summary>
    public long Limit(IChatReader reader) =>
        reader.GetSetting(LimitSetting) is { Length: 8 } value ? BinaryPrimitives.ReadInt64BigEndian(value) : Options.DefaultMaxFileBytes;

    public Task<long> GetLimitAsync(CancellationToken cancellationToken) => context.Store.ReadAsync(Limit, cancellationToken);

    public Task SetLimitAsync(long bytes, CancellationToken cancellationToken)
    {
        if (bytes < FileManifest.MinChunkSize)
        {
            throw new ChatException($"a file limit of {bytes} bytes is too small; give at least {FileManifest.MinChunkSize}");
        }
        var value = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(value, bytes);
        return context.Store.TransactAsync(tx =>
        {
            tx.PutSetting(LimitSetting, value);
            return true;
        }, cancellationToken);
    }

    public static string OverLimit(FileManifest manifest, long limit) =>
        $"{manifest.Name} is {SizeText(manifest.Size)}, over your limit of {SizeText(limit)} per file; raise it (parley files limit <size>) and fetch it (parley files fetch <id>)";

    /// <summary>A file by id (hex) or the first characters of one (at least 6), among the latest.</summary>
    /// <exception cref="ChatException">No such file, or the prefix fits several.</exception>
    public async Task<FileRecord> FindAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(id);
        var text = id.Trim().ToLowerInvariant();
        if (text.Length == FileManifest.FileIdLength * 2 && text.All(Uri.IsHexDigit))
        {
            return await context.Store.ReadAsync(r => r.GetFile(Convert.FromHexString(text)), cancellationToken)
                ?? throw new ChatException($"no file {text}");
        }
        if (text.Length < 6)
        {
            throw new ChatException("give a file id, or at least its first 6 characters");
        }
        var matches = await context.Store.ReadAsync(r => r.GetFiles(ChatClient.MaxPageSize).Where(f => Convert.ToHexStringLower(f.FileId).StartsWith(text, StringComparison.Ordinal)).ToList(), cancellationToken);
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new ChatException($"no file {text}"),
            _ => throw new ChatException($"several files start with {text}; give more of the id"),
        };
    }

    /// <summary>What the user sees of a file; <paramref name="reader"/> tells how far the message that offered ours got.</summary>
    public ChatFile View(IChatReader reader, FileRecord record)
    {
        var manifest = FileManifest.Parse(record.Manifest);
        var activity = _activity.GetValueOrDefault(Key(record.FileId));
        var held = new ChunkSet(manifest.ChunkCount, record.Have);
        var bytesHeld = record.Outgoing || record.State == FileState.Complete ? manifest.Size : HeldBytes(manifest, held);
        return new ChatFile(
            record.FileId, record.MessageId, record.ConversationId, record.InRoom, record.Peer, record.Outgoing,
            manifest.Name, manifest.Size, manifest.MediaType,
            manifest.ThumbnailType is null ? null : manifest.Thumbnail.ToArray(), manifest.ThumbnailType,
            record.State, bytesHeld, activity?.BytesSent ?? 0, activity is { Busy: > 0 },
            record.SavedAs, record.Problem ?? OfferProblem(reader, record, activity), record.CreatedAt, record.UpdatedAt);
    }

    public Task<ChatFile> ViewAsync(FileRecord record, CancellationToken cancellationToken) =>
        context.Store.ReadAsync(r => View(r, record), cancellationToken);

    /// <summary>Raises the file's event now (a change of state).</summary>
    public Task RaiseAsync(byte[] fileId, CancellationToken cancellationToken) => RaiseAsync(r => r.GetFile(fileId), cancellationToken);

    /// <summary>Raises the file's event without waiting (from a receive's after-commit events); a failure is logged.</summary>
    public void RaiseLater(byte[] fileId) => _ = RaiseQuietlyAsync(r => r.GetFile(fileId));

    /// <summary>Raises the event of the file a message carries, if it carries one, without waiting; a failure is logged.</summary>
    public void RaiseOfMessageLater(byte[] messageId)
    {
        // Called at every delivery step of every message: nothing is read while nobody listens.
        if (context.Events.FileChanged is not null)
        {
            _ = RaiseQuietlyAsync(r => r.GetFileOfMessage(messageId));
        }
    }

    /// <summary>Raises the file's event unless one was raised within <see cref="ProgressEventInterval"/>.</summary>
    public Task ProgressAsync(byte[] fileId, CancellationToken cancellationToken)
    {
        var activity = _activity.GetOrAdd(Key(fileId), _ => new Activity());
        var now = context.Time.GetTimestamp();
        var last = Interlocked.Read(ref activity.LastEvent);
        if (last != 0 && context.Time.GetElapsedTime(last, now) < ProgressEventInterval)
        {
            return Task.CompletedTask;
        }
        Interlocked.Exchange(ref activity.LastEvent, now);
        return RaiseAsync(fileId, cancellationToken);
    }

    /// <summary>Counts bytes of a file sent to someone.</summary>
    public void Sent(byte[] fileId, long bytes) => Interlocked.Add(ref _activity.GetOrAdd(Key(fileId), _ => new Activity()).BytesSent, bytes);

    /// <summary>Marks a file busy (fetched or served) until the result is disposed.</summary>
    public IDisposable Busy(byte[] fileId)
    {
        var activity = _activity.GetOrAdd(Key(fileId), _ => new Activity());
        Interlocked.Increment(ref activity.Busy);
        return new Release(activity);
    }

    private async Task RaiseAsync(Func<IChatReader, FileRecord?> find, CancellationToken cancellationToken)
    {
        if (context.Events.FileChanged is null)
        {
            return;
        }
        var view = await context.Store.ReadAsync(r => find(r) is { } record ? View(r, record) : null, cancellationToken);
        if (view is not null)
        {
            context.Events.OnFileChanged(view);
        }
    }

    private async Task RaiseQuietlyAsync(Func<IChatReader, FileRecord?> find)
    {
        try
        {
            await RaiseAsync(find, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            FileLog.FileEventFailed(context.Logger, e.Message);
        }
    }

    private static long HeldBytes(FileManifest manifest, ChunkSet held)
    {
        var bytes = (long)held.Held * manifest.ChunkSize;
        // The last chunk is shorter.
        return held.Has(manifest.ChunkCount - 1) ? bytes - manifest.ChunkSize + manifest.ChunkLength(manifest.ChunkCount - 1) : bytes;
    }

    /// <summary>What an offer of ours waits for, honestly: the recipient to come online, or to fetch it.</summary>
    private static string? OfferProblem(IChatReader reader, FileRecord record, Activity? activity)
    {
        if (!record.Outgoing || record.State != FileState.Offered || record.InRoom || activity is { Busy: > 0 })
        {
            return null;
        }
        var name = reader.GetContact(record.Peer)?.Name ?? "the recipient";
        return reader.GetMessage(record.MessageId)?.State switch
        {
            DeliveryState.Queued or DeliveryState.Stored => $"waiting for {name} to come online",
            _ when activity is { BytesSent: > 0 } => null,
            _ => $"waiting for {name} to fetch it",
        };
    }

    private static string Key(byte[] fileId) => Convert.ToHexStringLower(fileId);

    private sealed class Activity
    {
        public long BytesSent;
        public int Busy;
        public long LastEvent;
    }

    private sealed class Release(Activity activity) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                Interlocked.Decrement(ref activity.Busy);
            }
        }
    }
}
