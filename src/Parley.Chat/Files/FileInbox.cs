using Parley.Chat.Files.Protos;
using Parley.Chat.Groups;
using Parley.Chat.Identity;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Files;

/// <summary>
/// Files arriving (docs/files.md): a manifest in a 1:1 message or a room message is stored with its message in the
/// receive transaction, as a file to fetch (or, over the user's limit, one that waits for them); a chunk pushed in an
/// envelope of its own is taken when it is one the manifest names; the recipient's word that it saved our file makes
/// the file delivered.
/// </summary>
internal sealed class FileInbox(ChatContext context, FileCatalog catalog, IncomingFiles incoming, DirectContentHandler direct)
{
    /// <summary>Called after the commit for every new file: the fetcher is woken.</summary>
    public Action? FileArrived { get; set; }

    /// <summary>A 1:1 message carrying a manifest: stored as a message (its text names the file) and as a file to fetch.</summary>
    /// <exception cref="EnvelopeRefusedException">The manifest is malformed.</exception>
    public ReceiveOutcome ApplyManifest(IChatTransaction tx, Content content, IdentityDhCertificate sender, ContactRecord? contact, DateTimeOffset now, List<Action> events)
    {
        FileManifest manifest;
        try
        {
            manifest = FileManifest.Parse(content.File);
        }
        catch (FormatException e)
        {
            throw new EnvelopeRefusedException($"file manifest refused: {e.Message}");
        }
        var outcome = direct.ApplyText(tx, content, sender, contact, now, events, FileCatalog.MessageText(manifest));
        Store(tx, manifest, content.MessageId.ToByteArray(), content.ConversationId.ToByteArray(), inRoom: false, sender.Account.ToPeerId(), now, events);
        return outcome;
    }

    /// <summary>A room message carrying a manifest; a malformed one leaves the message without a file.</summary>
    public void ApplyRoomManifest(IChatTransaction tx, GroupMessage message, DateTimeOffset now, List<Action> events)
    {
        if (message.File.IsEmpty || message.Sender.Equals(context.Account.PublicKey))
        {
            return;
        }
        try
        {
            Store(tx, FileManifest.Parse(message.File.Span), message.Id.Span.ToArray(), message.GroupId.Span.ToArray(), inRoom: true, message.Sender.ToPeerId(), now, events);
        }
        catch (FormatException e)
        {
            FileLog.RoomFileManifestRefused(context.Logger, e.Message);
        }
    }

    /// <summary>The recipient saved a file of ours.</summary>
    public ReceiveOutcome ApplyReceived(IChatTransaction tx, FileReceived received, PeerId senderId, List<Action> events)
    {
        if (tx.GetFile(received.FileId.ToByteArray()) is { Outgoing: true, InRoom: false, State: FileState.Offered } file && file.Peer == senderId)
        {
            tx.PutFile(file with { State = FileState.Delivered, UpdatedAt = context.Now });
            events.Add(() => catalog.RaiseLater(file.FileId));
        }
        return new ReceiveOutcome(ReceiveStatus.Accepted);
    }

    /// <summary>A chunk pushed in an envelope of its own: taken when its hash is the manifest's.</summary>
    public async Task<ReceiveOutcome> ReceiveChunkAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        var chunk = envelope.FileChunk;
        if (chunk.FileId.Length != FileManifest.FileIdLength || envelope.EnvelopeId.Length != ChatContext.EnvelopeIdLength)
        {
            return new ReceiveOutcome(ReceiveStatus.Refused, "malformed file chunk envelope");
        }
        var fileId = chunk.FileId.ToByteArray();
        var record = await context.Store.ReadAsync(r => r.GetFile(fileId), cancellationToken);
        if (record is null)
        {
            // Its manifest has not come yet: the sender tries again later (a mailbox fetch hands chunks over last).
            return new ReceiveOutcome(ReceiveStatus.Refused, "no manifest for this file yet");
        }
        if (!record.IsUnfinished)
        {
            return new ReceiveOutcome(ReceiveStatus.Duplicate);
        }
        // A fetch under way has the file: it fetches this chunk too.
        using var receiving = await incoming.BeginAsync(fileId, TimeSpan.Zero, cancellationToken);
        if (receiving is null)
        {
            return new ReceiveOutcome(ReceiveStatus.Duplicate);
        }
        var outcome = await incoming.AddAsync(receiving, (int)Math.Min(chunk.Index, int.MaxValue), chunk.Data.Memory, cancellationToken);
        switch (outcome)
        {
            case ChunkOutcome.Corrupt or ChunkOutcome.Unverifiable:
                return new ReceiveOutcome(ReceiveStatus.Refused, $"chunk {chunk.Index} is not the one the manifest names");
            case ChunkOutcome.Duplicate:
                return new ReceiveOutcome(ReceiveStatus.Duplicate);
        }
        await incoming.RecordAsync(receiving, receiving.Record.Problem, cancellationToken);
        await catalog.RaiseAsync(fileId, cancellationToken);
        return new ReceiveOutcome(ReceiveStatus.Accepted);
    }

    private void Store(IChatTransaction tx, FileManifest manifest, byte[] messageId, byte[] conversationId, bool inRoom, PeerId sender, DateTimeOffset now, List<Action> events)
    {
        var fileId = manifest.FileId.ToArray();
        if (tx.GetFile(fileId) is not null)
        {
            return;
        }
        var limit = catalog.Limit(tx);
        var tooLarge = manifest.Size > limit;
        var record = new FileRecord(
            fileId, messageId, conversationId, inRoom, sender, Outgoing: false, manifest.ToBytes(),
            tooLarge ? FileState.TooLarge : FileState.Waiting, new ChunkSet(manifest.ChunkCount).ToBytes(), 0, null,
            tooLarge ? FileCatalog.OverLimit(manifest, limit) : null, now, now);
        tx.PutFile(record);
        events.Add(() =>
        {
            catalog.RaiseLater(fileId);
            FileArrived?.Invoke();
        });
    }
}
