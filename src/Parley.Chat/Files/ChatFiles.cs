using Parley.Chat.Conversations;
using Parley.Chat.Delivery;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Rooms;
using Parley.Chat.Sessions;

namespace Parley.Chat.Files;

/// <summary>
/// Files and images (docs/files.md): the parts of file transfer composed once per user, and what the user does with
/// files (send, list, open, fetch again, set the size limit).
/// </summary>
internal sealed class ChatFiles : IDisposable
{
    public ChatFiles(ChatContext context, IFileStore store, IFileChannels? channels, PairwiseSessions sessions, Outbox outbox, DirectRoute route, RoomCache rooms, DirectConversations conversations, RoomEngine roomEngine, DirectContentHandler direct)
    {
        Context = context;
        Channels = channels;
        Catalog = new FileCatalog(context, store);
        var incoming = new IncomingFiles(context, Catalog, sessions, outbox);
        Inbox = new FileInbox(context, Catalog, incoming, direct);
        Fetcher = new FileFetcher(context, Catalog, incoming, channels, route, rooms);
        Server = new FileServer(context, Catalog);
        Sender = new FileSender(context, Catalog, conversations, roomEngine, outbox);
        Inbox.FileArrived = Fetcher.Wake;
        // An offer that waited for the recipient to come online now waits for them to fetch it.
        context.Events.DeliveryMovedOn = message => Catalog.RaiseOfMessageLater(message.Id);
    }

    public IFileChannels? Channels { get; }

    public FileCatalog Catalog { get; }

    public FileInbox Inbox { get; }

    public FileFetcher Fetcher { get; }

    public FileServer Server { get; }

    public FileSender Sender { get; }

    private ChatContext Context { get; }

    public async Task<IReadOnlyList<ChatFile>> ListAsync(int limit, CancellationToken cancellationToken) =>
        await Context.Store.ReadAsync(r => r.GetFiles(Math.Clamp(limit, 1, ChatClient.MaxPageSize)).Select(f => Catalog.View(r, f)).ToList(), cancellationToken);

    public async Task<ChatFile> GetAsync(string id, CancellationToken cancellationToken) =>
        await Catalog.ViewAsync(await Catalog.FindAsync(id, cancellationToken), cancellationToken);

    public Task<ChatFile?> OfMessageAsync(byte[] messageId, CancellationToken cancellationToken) =>
        Context.Store.ReadAsync(r => r.GetFileOfMessage(messageId) is { } file ? Catalog.View(r, file) : null, cancellationToken);

    /// <summary>The bytes of a file this device holds whole (ours, or one saved); nothing is ever opened or run.</summary>
    /// <exception cref="ChatException">No such file, or not here whole.</exception>
    public async Task<(ChatFile File, Stream Content)> OpenAsync(string id, CancellationToken cancellationToken)
    {
        var record = await Catalog.FindAsync(id, cancellationToken);
        var view = await Catalog.ViewAsync(record, cancellationToken);
        if (!record.Outgoing && record.State != FileState.Complete)
        {
            throw new ChatException($"{view.Name} is not here whole yet ({view.Problem ?? "being fetched"})");
        }
        var content = Catalog.Store.OpenForReading(record.FileId, record.Outgoing ? null : record.SavedAs)
            ?? throw new ChatException($"{view.Name} is no longer in the data folder");
        return (view, new FileContentStream(content));
    }

    /// <summary>The user asks for a file again: after raising the limit, freeing space, or to look for a source now.</summary>
    public async Task<ChatFile> FetchAsync(string id, CancellationToken cancellationToken)
    {
        var record = await Catalog.FindAsync(id, cancellationToken);
        if (!record.IsUnfinished)
        {
            return await Catalog.ViewAsync(record, cancellationToken);
        }
        var limit = await Catalog.GetLimitAsync(cancellationToken);
        var manifest = FileManifest.Parse(record.Manifest);
        if (manifest.Size > limit)
        {
            throw new ChatException(FileCatalog.OverLimit(manifest, limit));
        }
        var updated = await Context.Store.TransactAsync(tx =>
        {
            var current = tx.GetFile(record.FileId)!;
            var waiting = current with { State = current.IsUnfinished ? FileState.Waiting : current.State, Problem = null, UpdatedAt = Context.Now };
            tx.PutFile(waiting);
            return waiting;
        }, cancellationToken);
        Fetcher.Wake();
        return await Catalog.ViewAsync(updated, cancellationToken);
    }

    public void Dispose() => Fetcher.Dispose();

    /// <summary>A read-only, seekable stream over a file's content.</summary>
    private sealed class FileContentStream(IFileContent content) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => content.Size;

        public override long Position
        {
            get => _position;
            set => _position = Math.Clamp(value, 0, Length);
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await content.ReadAsync(_position, buffer[..(int)Math.Min(buffer.Length, Length - _position)], cancellationToken);
            _position += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("use ReadAsync");

        public override long Seek(long offset, SeekOrigin origin) => Position = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            _ => Length + offset,
        };

        public override void Flush()
        {
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                content.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
