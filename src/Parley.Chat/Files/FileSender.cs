using System.Buffers;
using Google.Protobuf;
using Parley.Chat.Conversations;
using Parley.Chat.Delivery;
using Parley.Chat.Files.Protos;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Rooms;
using Parley.Core.Identity;

namespace Parley.Chat.Files;

/// <summary>
/// Sends a file (docs/files.md): copies it into the store (so what is sent cannot change under the recipients),
/// encrypts it chunk by chunk under a fresh key to hash each chunk, and sends the manifest as a message, 1:1 or to a
/// room, storing the file's record in the message's transaction. A small 1:1 file's chunks go into the outbox right
/// behind the manifest (to the mailboxes when the recipient is away); any other file waits to be pulled.
/// </summary>
internal sealed class FileSender(ChatContext context, FileCatalog catalog, DirectConversations conversations, RoomEngine rooms, Outbox outbox)
{
    /// <summary>Sends to a contact (<paramref name="room"/> null) or to a room (<paramref name="recipient"/> null).</summary>
    /// <exception cref="ChatException">No name, a bad thumbnail, an empty file or one over the limit, a full disk, or the message cannot be sent.</exception>
    public async Task<ChatFile> SendAsync(string? recipient, string? room, string name, string? mediaType, Stream source, byte[]? thumbnail, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new ChatException("give the file a name");
        }
        if (thumbnail is { Length: > 0 } && (thumbnail.Length > FileManifest.MaxThumbnailBytes || FileManifest.ThumbnailTypeOf(thumbnail) is null))
        {
            throw new ChatException($"a thumbnail must be a JPEG or WebP image of at most {FileManifest.MaxThumbnailBytes / 1024} KiB");
        }
        var store = catalog.Store;
        var limit = await catalog.GetLimitAsync(cancellationToken);
        if (store.AvailableBytes < catalog.Options.DiskReserveBytes)
        {
            throw new ChatException($"the disk is nearly full ({FileCatalog.SizeText(store.AvailableBytes)} free); a copy of the file cannot be kept for sending");
        }
        var fileId = context.RandomBytes(FileManifest.FileIdLength);
        long size;
        try
        {
            size = await store.ImportAsync(fileId, source, limit, cancellationToken);
        }
        catch (IOException e)
        {
            throw new ChatException($"could not keep a copy of {SafeFileName.Clean(name)} for sending: {e.Message}", e);
        }
        if (size < 0)
        {
            throw new ChatException($"{SafeFileName.Clean(name)} is larger than your limit of {FileCatalog.SizeText(limit)} per file; raise it with: parley files limit <size>");
        }
        try
        {
            if (size == 0)
            {
                throw new ChatException($"{SafeFileName.Clean(name)} is empty; there is nothing to send");
            }
            var pushed = room is null && size <= catalog.Options.MaxPushedBytes;
            var key = context.RandomBytes(FileManifest.KeyLength);
            var chunkSize = pushed ? FileTransferOptions.PushedChunkSize : FileTransferOptions.ChunkSize;
            var (hashes, ciphertexts) = await EncryptAsync(fileId, key, size, chunkSize, keepCiphertexts: pushed, cancellationToken);
            store.WriteHashes(fileId, 0, hashes.SelectMany(h => h).ToArray());
            var manifest = FileManifest.Create(fileId, name, size, mediaType ?? MediaTypes.FromName(name), chunkSize, hashes, key, thumbnail is { Length: > 0 } ? thumbnail : null, pushed);
            var text = FileCatalog.MessageText(manifest);
            FileRecord? stored = null;
            FileRecord Record(byte[] messageId, byte[] conversationId, bool inRoom, PeerId peer) => stored = new FileRecord(
                fileId, messageId, conversationId, inRoom, peer, Outgoing: true, manifest.ToBytes(), FileState.Offered,
                ChunkSet.All(manifest.ChunkCount).ToBytes(), manifest.ChunkCount, null, null, context.Now, context.Now);
            if (room is not null)
            {
                await rooms.SendAsync(room, text, manifest.ToBytes(), (tx, message) => tx.PutFile(Record(message.Id, message.GroupId, true, context.Account.Id)), cancellationToken);
            }
            else
            {
                ArgumentException.ThrowIfNullOrWhiteSpace(recipient);
                await conversations.SendAsync(recipient, text, new Attachment(
                    content => content.File = manifest.Proto,
                    (tx, contact, message) =>
                    {
                        tx.PutFile(Record(message.Id, message.ConversationId, false, contact.Account));
                        for (var i = 0; i < ciphertexts.Count; i++)
                        {
                            outbox.Put(tx, contact.Account, ChunkEnvelope(fileId, i, ciphertexts[i]), null, position: i + 1);
                        }
                    }), cancellationToken);
            }
            FileLog.FileOffered(context.Logger, Convert.ToHexStringLower(fileId)[..8], size, pushed);
            var view = await catalog.ViewAsync(stored!, cancellationToken);
            context.Events.OnFileChanged(view);
            return view;
        }
        catch
        {
            store.Delete(fileId);
            throw;
        }
    }

    /// <summary>Encrypts the copy chunk by chunk for the hashes (and, for a pushed file, keeps the ciphertexts: at most 1 MiB).</summary>
    private async Task<(List<byte[]> Hashes, List<byte[]> Ciphertexts)> EncryptAsync(byte[] fileId, byte[] key, long size, int chunkSize, bool keepCiphertexts, CancellationToken cancellationToken)
    {
        var hashes = new List<byte[]>();
        var ciphertexts = new List<byte[]>();
        using var content = catalog.Store.OpenForReading(fileId, null) ?? throw new ChatException("the copy of the file vanished");
        using var cipher = new ChunkCipher(context.Crypto, key, fileId);
        var plaintext = ArrayPool<byte>.Shared.Rent(chunkSize);
        var ciphertext = ArrayPool<byte>.Shared.Rent(chunkSize + ChunkCipher.Overhead);
        try
        {
            for (var index = 0; (long)index * chunkSize < size; index++)
            {
                var length = (int)Math.Min(chunkSize, size - ((long)index * chunkSize));
                if (await content.ReadAsync((long)index * chunkSize, plaintext.AsMemory(0, length), cancellationToken) != length)
                {
                    throw new ChatException("the copy of the file is shorter than it was");
                }
                var sealedChunk = ciphertext.AsSpan(0, length + ChunkCipher.Overhead);
                cipher.Encrypt(index, plaintext.AsSpan(0, length), sealedChunk);
                var hash = new byte[FileManifest.HashLength];
                context.Crypto.Sha256(sealedChunk, hash);
                hashes.Add(hash);
                if (keepCiphertexts)
                {
                    ciphertexts.Add(sealedChunk.ToArray());
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(plaintext);
            ArrayPool<byte>.Shared.Return(ciphertext);
        }
        return (hashes, ciphertexts);
    }

    private Envelope ChunkEnvelope(byte[] fileId, int index, byte[] ciphertext) => new()
    {
        EnvelopeId = ByteString.CopyFrom(context.RandomBytes(ChatContext.EnvelopeIdLength)),
        FileChunk = new FileChunk { FileId = ByteString.CopyFrom(fileId), Index = (uint)index, Data = ByteString.CopyFrom(ciphertext) },
    };
}

/// <summary>The media type a file's name suggests, for the common kinds; anything else is application/octet-stream.</summary>
internal static class MediaTypes
{
    private static readonly Dictionary<string, string> ByExtension = new(StringComparer.OrdinalIgnoreCase)
    {
        [".jpg"] = "image/jpeg",
        [".jpeg"] = "image/jpeg",
        [".png"] = "image/png",
        [".gif"] = "image/gif",
        [".webp"] = "image/webp",
        [".svg"] = "image/svg+xml",
        [".pdf"] = "application/pdf",
        [".txt"] = "text/plain",
        [".md"] = "text/markdown",
        [".zip"] = "application/zip",
        [".mp3"] = "audio/mpeg",
        [".ogg"] = "audio/ogg",
        [".mp4"] = "video/mp4",
        [".webm"] = "video/webm",
    };

    public static string FromName(string name) => ByExtension.GetValueOrDefault(Path.GetExtension(SafeFileName.Clean(name)), FileManifest.DefaultMediaType);
}
