using System.Buffers;
using Parley.Chat.Files.Protos;
using Parley.Chat.Messaging;
using Parley.Net;

namespace Parley.Chat.Files;

/// <summary>
/// Serves <c>/parley/file/1.0.0</c> (docs/files.md): for a file this device holds (ours, or one received in part or
/// whole), the chunks a requester asks for, read from the content and encrypted one at a time, so a serve holds one
/// chunk in memory whatever the file's size and waits when the requester reads slowly (the stream's window). The file
/// id is the capability: only those who got the manifest know it, and the chunks are useless without its key.
/// </summary>
internal sealed class FileServer(ChatContext context, FileCatalog catalog)
{
    private readonly RateLimit _rate = new(context.Options.Files.MaxUploadBytesPerSecond, context.Time);

    public async Task ServeAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        var options = catalog.Options;
        FileRequest request;
        using (var reading = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            reading.CancelAfter(options.StreamTimeout);
            try
            {
                request = await FileWire.ReadMessageAsync(stream, FileRequest.Parser, FileWire.MaxRequestBytes, reading.Token);
            }
            catch (Exception e) when (e is InvalidDataException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                FileLog.FileRequestUnread(context.Logger, stream.RemotePeer, e.Message);
                stream.Reset();
                return;
            }
        }
        var record = request.FileId.Length == FileManifest.FileIdLength
            ? await context.Store.ReadAsync(r => r.GetFile(request.FileId.ToByteArray()), cancellationToken)
            : null;
        var manifest = record is null ? null : FileManifest.Parse(record.Manifest);
        var have = record is null || manifest is null ? null
            : record.Outgoing || record.State == FileState.Complete ? ChunkSet.All(manifest.ChunkCount) : new ChunkSet(manifest.ChunkCount, record.Have);
        using var content = record is null || have is not { Held: > 0 } ? null
            : catalog.Store.OpenForReading(record.FileId, record.State == FileState.Complete ? record.SavedAs : null);
        if (record is null || manifest is null || have is null || content is null)
        {
            await AnswerAsync(stream, new FileResponse { Status = FileResponse.Types.Status.Unknown, Reason = "no such file here" }, cancellationToken);
            return;
        }
        if (Check(request, manifest) is { } refusal)
        {
            await AnswerAsync(stream, new FileResponse { Status = FileResponse.Types.Status.Refused, Reason = refusal }, cancellationToken);
            return;
        }
        using var busy = catalog.Busy(record.FileId);
        using var cipher = ChunkCipher.For(context.Crypto, manifest);
        var served = 0;
        try
        {
            await WithTimeoutAsync(ct => FileWire.WriteMessageAsync(stream, new FileResponse { Have = Google.Protobuf.ByteString.CopyFrom(have.ToBytes()) }, ct), cancellationToken);
            foreach (var page in request.HashPages)
            {
                await SendPageAsync(stream, record, manifest, (int)page, cancellationToken);
            }
            foreach (var range in request.Chunks)
            {
                for (var index = (int)range.First; index < (int)(range.First + range.Count); index++)
                {
                    if (!have.Has(index))
                    {
                        continue;
                    }
                    if (!await SendChunkAsync(stream, record, manifest, cipher, content, index, cancellationToken))
                    {
                        await stream.CloseWriteAsync(cancellationToken);
                        return;
                    }
                    served++;
                }
            }
            await stream.CloseWriteAsync(cancellationToken);
            FileLog.FileServed(context.Logger, served, Convert.ToHexStringLower(record.FileId)[..8], stream.RemotePeer);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            FileLog.FileServeEnded(context.Logger, stream.RemotePeer, e.Message);
            stream.Reset();
        }
        await catalog.RaiseAsync(record.FileId, cancellationToken);
    }

    private static string? Check(FileRequest request, FileManifest manifest)
    {
        if (request.Chunks.Count > FileWire.MaxRanges || request.HashPages.Count > FileWire.MaxPagesPerRequest)
        {
            return $"at most {FileWire.MaxRanges} ranges and {FileWire.MaxPagesPerRequest} hash pages per request";
        }
        if (request.Chunks.Any(r => r.Count == 0 || (ulong)r.First + r.Count > (ulong)manifest.ChunkCount))
        {
            return $"a range outside the file's {manifest.ChunkCount} chunks";
        }
        if (request.HashPages.Any(p => manifest.HasInlineHashes || p >= manifest.PageCount))
        {
            return "a hash page the file does not have";
        }
        return null;
    }

    private async Task SendPageAsync(PeerStream stream, FileRecord record, FileManifest manifest, int page, CancellationToken cancellationToken)
    {
        using var frame = FileWire.Rent(manifest.PageLength(page) * FileManifest.HashLength);
        if (catalog.Store.TryReadHashes(record.FileId, page * FileManifest.HashesPerPage, frame.Payload.Span))
        {
            frame.SetHeader(FrameKind.HashPage, page);
            await WithTimeoutAsync(ct => frame.WriteToAsync(stream, ct).AsTask(), cancellationToken);
        }
    }

    /// <summary>Sends one chunk; false when the content no longer holds it (a saved file shortened or removed meanwhile).</summary>
    private async Task<bool> SendChunkAsync(PeerStream stream, FileRecord record, FileManifest manifest, ChunkCipher cipher, IFileContent content, int index, CancellationToken cancellationToken)
    {
        var length = manifest.ChunkLength(index);
        using var frame = FileWire.Rent(length + ChunkCipher.Overhead);
        var plaintext = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            if (await content.ReadAsync(manifest.Offset(index), plaintext.AsMemory(0, length), cancellationToken) != length)
            {
                return false;
            }
            cipher.Encrypt(index, plaintext.AsSpan(0, length), frame.Payload.Span);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plaintext);
        }
        frame.SetHeader(FrameKind.Chunk, index);
        await _rate.WaitAsync(frame.Payload.Length, cancellationToken);
        await WithTimeoutAsync(ct => frame.WriteToAsync(stream, ct).AsTask(), cancellationToken);
        if (record.Outgoing)
        {
            catalog.Sent(record.FileId, length);
            await catalog.ProgressAsync(record.FileId, cancellationToken);
        }
        return true;
    }

    private async Task AnswerAsync(PeerStream stream, FileResponse response, CancellationToken cancellationToken)
    {
        try
        {
            await WithTimeoutAsync(ct => FileWire.WriteMessageAsync(stream, response, ct), cancellationToken);
            await stream.CloseWriteAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            stream.Reset();
        }
    }

    /// <summary>A write the requester does not take within the stream timeout (it stopped reading) ends the serve.</summary>
    private async Task WithTimeoutAsync(Func<CancellationToken, Task> write, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(catalog.Options.StreamTimeout);
        await write(timeout.Token);
    }

    /// <summary>A token bucket of one second's worth of bytes, shared by every serve; no limit when the rate is 0.</summary>
    private sealed class RateLimit(long bytesPerSecond, TimeProvider time)
    {
        private readonly Lock _gate = new();
        private double _tokens;
        private long _last = time.GetTimestamp();

        public Task WaitAsync(int bytes, CancellationToken cancellationToken)
        {
            if (bytesPerSecond <= 0)
            {
                return Task.CompletedTask;
            }
            double owed;
            lock (_gate)
            {
                var now = time.GetTimestamp();
                _tokens = Math.Min(bytesPerSecond, _tokens + (time.GetElapsedTime(_last, now).TotalSeconds * bytesPerSecond));
                _last = now;
                _tokens -= bytes;
                owed = -_tokens;
            }
            return owed > 0 ? Task.Delay(TimeSpan.FromSeconds(owed / bytesPerSecond), time, cancellationToken) : Task.CompletedTask;
        }
    }
}
