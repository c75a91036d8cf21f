using System.Collections.Concurrent;
using Google.Protobuf;
using Parley.Chat.Delivery;
using Parley.Chat.Directory;
using Parley.Chat.Files.Protos;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Rooms;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Files;

/// <summary>
/// Pulls the chunks of received files that this device lacks (docs/files.md), from the sender's devices or, in a
/// room, from the sender's or any member's that holds them: one stream per source asks for every missing chunk, and
/// the chunks stream back one by one (the stream's window is the flow control), each checked and written in place;
/// what is held is recorded every second, so a fetch cut off by a crash, a kill or a lost connection on either side
/// resumes where it stopped. A file waits, saying for what, while no source is reachable directly.
/// </summary>
internal sealed class FileFetcher(ChatContext context, FileCatalog catalog, IncomingFiles incoming, IFileChannels? channels, DirectRoute route, RoomCache rooms) : IDisposable
{
    private const int MaxCorruptPerStream = 8;
    private const int Batch = 256;

    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly ConcurrentDictionary<string, Task> _running = new();

    /// <summary>A manifest arrived or a file changed: the loop looks at the files now.</summary>
    public void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
        {
            // Already woken, or stopping.
        }
    }

    /// <summary>Fetches until cancelled: whenever woken, and every <see cref="FileTransferOptions.RetryInterval"/>.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await StartDueAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                FileLog.FilePassFailed(context.Logger, e);
            }
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            await Task.WhenAny(Task.Delay(catalog.Options.RetryInterval, context.Time, wake.Token), _wake.WaitAsync(wake.Token));
            await wake.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Starts fetching every file that is due and waits until every fetch under way is done (tests drive this).</summary>
    public async Task FetchAllAsync(CancellationToken cancellationToken)
    {
        await StartDueAsync(cancellationToken);
        while (_running.Values.ToList() is { Count: > 0 } running)
        {
            await Task.WhenAll(running);
            await StartDueAsync(cancellationToken);
            if (_running.IsEmpty)
            {
                break;
            }
        }
    }

    /// <summary>Waits for the fetches under way (on stop).</summary>
    public async Task StopAsync()
    {
        foreach (var task in _running.Values.ToList())
        {
            try
            {
                await task;
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        }
    }

    public void Dispose() => _wake.Dispose();

    private async Task StartDueAsync(CancellationToken cancellationToken)
    {
        if (_running.Count >= catalog.Options.ParallelDownloads)
        {
            return;
        }
        var now = context.Now;
        var due = await context.Store.ReadAsync(r => r.GetUnfinishedFiles(Batch), cancellationToken);
        foreach (var record in due.Where(f => f.State == FileState.Waiting))
        {
            if (_running.Count >= catalog.Options.ParallelDownloads)
            {
                break;
            }
            var manifest = FileManifest.Parse(record.Manifest);
            // Pushed chunks are on their way through the outbox or the mailbox: they get a while before being pulled.
            if (manifest.Pushed && now - record.CreatedAt < catalog.Options.PushGrace)
            {
                continue;
            }
            var key = Convert.ToHexStringLower(record.FileId);
            if (_running.ContainsKey(key))
            {
                continue;
            }
            var started = new TaskCompletionSource();
            var task = Task.Run(async () =>
            {
                await started.Task;
                try
                {
                    await FetchAsync(record.FileId, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    FileLog.FileFetchFailed(context.Logger, key[..8], e);
                }
                finally
                {
                    _running.TryRemove(key, out _);
                    Wake();
                }
            }, CancellationToken.None);
            _running[key] = task;
            started.SetResult();
        }
    }

    private async Task FetchAsync(byte[] fileId, CancellationToken cancellationToken)
    {
        using var receiving = await incoming.BeginAsync(fileId, Timeout.InfiniteTimeSpan, cancellationToken);
        if (receiving is null || receiving.Record.State != FileState.Waiting)
        {
            return;
        }
        var record = receiving.Record;
        var manifest = receiving.Manifest;
        var (state, problem) = await context.Store.ReadAsync(r => Admit(r, record, manifest), cancellationToken);
        if (state != FileState.Waiting)
        {
            await incoming.SetStateAsync(receiving, state, problem!, cancellationToken);
            await catalog.RaiseAsync(fileId, cancellationToken);
            return;
        }
        if (problem is not null)
        {
            await RecordWaitingAsync(receiving, problem, cancellationToken);
            return;
        }
        using var busy = catalog.Busy(fileId);
        var offline = new List<string>();
        var relayedOnly = new List<string>();
        foreach (var (account, name) in await SourcesAsync(record, cancellationToken))
        {
            var presence = await route.LookUpPresenceAsync(account, cancellationToken);
            if (presence is not { IsOnline: true })
            {
                // Looked up afresh next time: a file waits on this source's coming back.
                route.Forget(account);
                offline.Add(name);
                continue;
            }
            foreach (var device in presence.Addresses.Where(d => d.Addresses.Count > 0))
            {
                var direct = device.Addresses.Where(IFileChannels.IsDirect).ToList();
                if (direct.Count == 0)
                {
                    relayedOnly.Add(name);
                    continue;
                }
                // Asked again while it gives: a corrupted chunk or a cut-off stream leaves chunks to ask for.
                while (!receiving.Have.IsComplete && await FetchFromAsync(receiving, account, device.Device, direct, cancellationToken) > 0)
                {
                }
                if (receiving.Have.IsComplete)
                {
                    break;
                }
            }
            if (receiving.Have.IsComplete)
            {
                break;
            }
        }
        var waitingFor = receiving.Have.IsComplete ? null
            : relayedOnly.Count > 0 ? $"waiting for a direct connection to {relayedOnly[0]}"
            : record.InRoom ? "waiting for a member who has it to come online"
            : $"waiting for {offline.FirstOrDefault() ?? "the sender"} to come online";
        await incoming.RecordAsync(receiving, waitingFor, cancellationToken);
        await catalog.RaiseAsync(fileId, cancellationToken);
    }

    /// <summary>Whether the file may be fetched now: the sender accepted, the size within the limit, the disk with room.</summary>
    private (FileState State, string? Problem) Admit(IChatReader reader, FileRecord record, FileManifest manifest)
    {
        if (channels is null)
        {
            return (FileState.Waiting, "this node cannot fetch files directly");
        }
        if (!record.InRoom && reader.GetContact(record.Peer) is not { State: ContactState.Accepted })
        {
            return (FileState.Waiting, $"accept {reader.GetContact(record.Peer)?.Name ?? "the sender"} to fetch it");
        }
        var limit = catalog.Limit(reader);
        if (manifest.Size > limit)
        {
            return (FileState.TooLarge, FileCatalog.OverLimit(manifest, limit));
        }
        var needed = manifest.Size - ((long)record.ChunksHeld * manifest.ChunkSize) + catalog.Options.DiskReserveBytes;
        var available = catalog.Store.AvailableBytes;
        if (available < needed)
        {
            return (FileState.NoSpace, $"{manifest.Name} needs {FileCatalog.SizeText(needed)} of free space (with {FileCatalog.SizeText(catalog.Options.DiskReserveBytes)} kept free); {FileCatalog.SizeText(available)} is free");
        }
        return (FileState.Waiting, null);
    }

    private async Task RecordWaitingAsync(IncomingFiles.Receiving receiving, string problem, CancellationToken cancellationToken)
    {
        if (receiving.Record.Problem != problem)
        {
            await incoming.RecordAsync(receiving, problem, cancellationToken);
            await catalog.RaiseAsync(receiving.Record.FileId, cancellationToken);
        }
    }

    /// <summary>Who may hold the file: its sender, then (in a room) other members, in random order, up to the limit.</summary>
    private async Task<List<(PeerId Account, string Name)>> SourcesAsync(FileRecord record, CancellationToken cancellationToken)
    {
        var senderName = await context.Store.ReadAsync(r => r.GetContact(record.Peer)?.Name, cancellationToken) ?? "the sender";
        var sources = new List<(PeerId, string)> { (record.Peer, senderName) };
        if (record.InRoom)
        {
            try
            {
                var members = await rooms.ReadAsync(Id256.FromBytes(record.ConversationId), (_, room) => room.HasLog
                    ? room.Log.State.Members.Select(m => (m.Account.ToPeerId(), m.DisplayName)).ToList()
                    : [], cancellationToken);
                sources.AddRange(members
                    .Where(m => m.Item1 != record.Peer && m.Item1 != context.Account.Id)
                    .OrderBy(_ => Random.Shared.Next())
                    .Take(catalog.Options.MaxRoomSources));
            }
            catch (ChatException)
            {
                // Not in the room any more: the sender alone.
            }
        }
        return sources;
    }

    /// <summary>One stream to one source device: asks for every missing hash page and chunk, takes what comes; returns how many chunks it added.</summary>
    private async Task<int> FetchFromAsync(IncomingFiles.Receiving receiving, PeerId account, PeerId device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        var timeout = catalog.Options.StreamTimeout;
        PeerStream stream;
        try
        {
            stream = await channels!.OpenAsync(device, addresses, cancellationToken);
        }
        catch (Exception e) when (e is IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            FileLog.FileSourceUnreachable(context.Logger, device, e.Message);
            route.Forget(account);
            return 0;
        }
        var added = 0;
        var corrupt = 0;
        var fileId = receiving.Record.FileId;
        await using (stream)
        {
            try
            {
                var request = new FileRequest { FileId = ByteString.CopyFrom(fileId) };
                request.HashPages.AddRange(receiving.MissingPages.Take(FileWire.MaxPagesPerRequest).Select(p => (uint)p));
                request.Chunks.AddRange(receiving.Have.Missing(FileWire.MaxRanges).Select(r => new ChunkRange { First = (uint)r.First, Count = (uint)r.Count }));
                FileLog.FetchingFrom(context.Logger, Convert.ToHexStringLower(fileId)[..8], device, receiving.Have.Held, receiving.Have.Count, (int)request.Chunks.Sum(r => r.Count));
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                idle.CancelAfter(timeout);
                await FileWire.WriteMessageAsync(stream, request, idle.Token);
                await stream.CloseWriteAsync(idle.Token);
                var response = await FileWire.ReadMessageAsync(stream, FileResponse.Parser, FileWire.MaxResponseBytes, idle.Token);
                if (response.Status != FileResponse.Types.Status.Ok)
                {
                    FileLog.FileSourceDeclined(context.Logger, device, response.Status.ToString(), response.Reason);
                    return 0;
                }
                while (true)
                {
                    idle.CancelAfter(timeout);
                    using var frame = await FileWire.ReadFrameAsync(stream, idle.Token);
                    if (frame is null)
                    {
                        break;
                    }
                    if (frame.Kind == FrameKind.HashPage)
                    {
                        receiving.AddPage(frame.Index, frame.Payload.Span);
                        continue;
                    }
                    switch (await incoming.AddAsync(receiving, frame.Index, frame.Payload, cancellationToken))
                    {
                        case ChunkOutcome.Added:
                            added++;
                            break;
                        case ChunkOutcome.Corrupt:
                            corrupt++;
                            FileLog.CorruptChunk(context.Logger, frame.Index, device);
                            if (corrupt >= MaxCorruptPerStream)
                            {
                                stream.Reset();
                                return added;
                            }
                            break;
                    }
                    if (incoming.RecordDue(receiving))
                    {
                        await incoming.RecordAsync(receiving, null, cancellationToken);
                    }
                    await catalog.ProgressAsync(fileId, cancellationToken);
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ObjectDisposedException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                FileLog.FileFetchCut(context.Logger, device, added, e.Message);
                stream.Reset();
            }
        }
        return added;
    }
}
