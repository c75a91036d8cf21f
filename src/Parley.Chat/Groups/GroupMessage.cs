using System.Text;
using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Chat.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// A group message as members show it: a text (possibly a reply), or an action on another message of the room (an
/// edit, a deletion, a reaction). The id is SHA-256 of every other field (docs/groups.md section 3), so each member
/// computes the same id from the decrypted content and a history bundle cannot pass one message off as another.
/// Display order: ascending (Lamport clock, sender key bytes, id), the same on every member. An erased message (deleted
/// by its author, or an action on a deleted one) keeps its place in the order and its id, but no content.
/// </summary>
public sealed class GroupMessage
{
    /// <summary>Bound on a message's text, in UTF-8 bytes.</summary>
    public const int MaxTextBytes = 64 * 1024;

    /// <summary>Bound on the parents one message names.</summary>
    public const int MaxParents = 16;

    /// <summary>Bound on a reaction, in UTF-8 bytes: one emoji, even one made of several code points.</summary>
    public const int MaxEmojiBytes = 32;

    private static readonly byte[] IdDomain = "parley-group-message-id:"u8.ToArray();

    /// <summary>Bound on a message's file manifest (docs/files.md).</summary>
    public const int MaxFileBytes = Files.FileManifest.MaxEncodedBytes;

    private GroupMessage(Id256 id, Id256 groupId, Id256 epoch, PublicKey sender, uint chainId, uint iteration, ulong lamport, IReadOnlyList<Id256> parents, long timestampMs, string text, ReadOnlyMemory<byte> file, GroupMessageBody? extras, bool erased)
    {
        File = file;
        Id = id;
        GroupId = groupId;
        Epoch = epoch;
        Sender = sender;
        ChainId = chainId;
        Iteration = iteration;
        Lamport = lamport;
        Parents = parents;
        TimestampMs = timestampMs;
        Text = text;
        ReplyTo = extras is { ReplyTo.Length: Id256.Size } ? Id256.FromBytes(extras.ReplyTo.Span) : null;
        Edit = extras?.Edit;
        Deletion = extras?.Deletion;
        Reaction = extras?.Reaction;
        IsErased = erased;
    }

    /// <summary>Orders messages for display: Lamport clock, then sender key bytes, then id.</summary>
    public static IComparer<GroupMessage> DisplayOrder { get; } = Comparer<GroupMessage>.Create((a, b) =>
    {
        var byClock = a.Lamport.CompareTo(b.Lamport);
        if (byClock != 0)
        {
            return byClock;
        }
        var bySender = a.Sender.Raw.SequenceCompareTo(b.Sender.Raw);
        return bySender != 0 ? bySender : a.Id.CompareTo(b.Id);
    });

    public Id256 Id { get; }

    public Id256 GroupId { get; }

    public Id256 Epoch { get; }

    public PublicKey Sender { get; }

    public uint ChainId { get; }

    /// <summary>The message's place in its sender's chain: contiguous per sender, epoch and chain.</summary>
    public uint Iteration { get; }

    public ulong Lamport { get; }

    /// <summary>The messages the sender saw as latest, ascending.</summary>
    public IReadOnlyList<Id256> Parents { get; }

    /// <summary>The sender's clock (informational: ordering never uses it).</summary>
    public long TimestampMs { get; }

    public string Text { get; }

    /// <summary>The manifest of a file sent with the message (a FileManifest), or empty.</summary>
    public ReadOnlyMemory<byte> File { get; }

    /// <summary>The room message a text replies to.</summary>
    public Id256? ReplyTo { get; }

    /// <summary>At most one of <see cref="Edit"/>, <see cref="Deletion"/> and <see cref="Reaction"/>: the action this message is.</summary>
    public MessageEdit? Edit { get; }

    public MessageDeletion? Deletion { get; }

    public MessageReaction? Reaction { get; }

    /// <summary>The content was erased (a deletion was honoured): it cannot be offered to anyone, its id no longer matches it.</summary>
    public bool IsErased { get; }

    // Logs must never contain message text.
    public override string ToString() => $"GroupMessage {{ Id = {Id.ToShortString()}, Lamport = {Lamport}, Iteration = {Iteration} }}";

    /// <exception cref="FormatException">A field out of bounds.</exception>
    internal static GroupMessage Create(ICryptoProvider crypto, Id256 groupId, Id256 epoch, PublicKey sender, uint chainId, uint iteration, GroupMessageBody body)
    {
        if (body.Parents.Count > MaxParents)
        {
            throw new FormatException($"a message names at most {MaxParents} parents");
        }
        if (Encoding.UTF8.GetByteCount(body.Text) > MaxTextBytes)
        {
            throw new FormatException($"a message's text is at most {MaxTextBytes} UTF-8 bytes");
        }
        if (body.File.Length > MaxFileBytes)
        {
            throw new FormatException($"a message's file manifest is at most {MaxFileBytes} bytes");
        }
        CheckAction(body);
        var parents = body.Parents.Select(p => Id256.FromBytes(p.Span)).ToArray();
        for (var i = 1; i < parents.Length; i++)
        {
            if (parents[i - 1] >= parents[i])
            {
                throw new FormatException("a message's parents must be ascending without duplicates");
            }
        }
        var writer = new CanonicalWriter(IdDomain)
            .Bytes(groupId.Span)
            .Bytes(epoch.Span)
            .Bytes(sender.ToProtobuf())
            .UInt32(chainId)
            .UInt32(iteration)
            .UInt64(body.Lamport)
            .Ids(parents)
            .Int64(body.TimestampMs)
            .Text(body.Text);
        // A file is part of what the id covers, and so are a reply and an action; a message without them keeps the id
        // it always had.
        if (!body.File.IsEmpty)
        {
            writer.Bytes(body.File.Span);
        }
        if (HasExtras(body))
        {
            var (kind, target, text) = body switch
            {
                { Edit: { } edit } => (1, edit.Target, edit.Text),
                { Deletion: { } deletion } => (2, deletion.Target, ""),
                { Reaction: { } reaction } => (3, reaction.Target, reaction.Emoji),
                _ => (0, ByteString.Empty, ""),
            };
            writer.Bytes(body.ReplyTo.Span).Byte((byte)kind).Bytes(target.Span).Text(text);
        }
        Span<byte> id = stackalloc byte[Id256.Size];
        crypto.Sha256(writer.ToArray(), id);
        return new GroupMessage(Id256.FromBytes(id), groupId, epoch, sender, chainId, iteration, body.Lamport, parents, body.TimestampMs, body.Text, body.File.Memory, body, erased: false);
    }

    /// <summary>An erased message as stored (its body without text, file or action), under the id it had.</summary>
    internal static GroupMessage Erased(Id256 id, Id256 groupId, Id256 epoch, PublicKey sender, uint chainId, uint iteration, GroupMessageBody body) =>
        new(id, groupId, epoch, sender, chainId, iteration, body.Lamport, body.Parents.Select(p => Id256.FromBytes(p.Span)).ToArray(), body.TimestampMs, "", ReadOnlyMemory<byte>.Empty, null, erased: true);

    /// <summary>This message without its content: its place in the order and its id stay.</summary>
    internal GroupMessage Erase() => new(Id, GroupId, Epoch, Sender, ChainId, Iteration, Lamport, Parents, TimestampMs, "", ReadOnlyMemory<byte>.Empty, null, erased: true);

    internal static GroupMessageBody Body(ulong lamport, IEnumerable<Id256> parents, long timestampMs, string text, ReadOnlyMemory<byte> file = default)
    {
        var body = new GroupMessageBody { Lamport = lamport, TimestampMs = timestampMs, Text = text, File = ByteString.CopyFrom(file.Span) };
        body.Parents.AddRange(parents.Distinct().Order().Select(p => ByteString.CopyFrom(p.Span)));
        return body;
    }

    internal GroupMessageBody ToBody()
    {
        var body = Body(Lamport, Parents, TimestampMs, Text, File);
        if (ReplyTo is { } replyTo)
        {
            body.ReplyTo = ByteString.CopyFrom(replyTo.Span);
        }
        body.Edit = Edit;
        body.Deletion = Deletion;
        body.Reaction = Reaction;
        return body;
    }

    private static bool HasExtras(GroupMessageBody body) => body.ReplyTo.Length > 0 || body.Edit is not null || body.Deletion is not null || body.Reaction is not null;

    /// <exception cref="FormatException">Two actions at once, an action with a text or a reply, an id that is not 32 bytes, an empty edit, an oversized reaction.</exception>
    private static void CheckAction(GroupMessageBody body)
    {
        if (body.ReplyTo.Length is not (0 or Id256.Size))
        {
            throw new FormatException("a reply names a message id of 32 bytes");
        }
        var actions = (body.Edit is null ? 0 : 1) + (body.Deletion is null ? 0 : 1) + (body.Reaction is null ? 0 : 1);
        if (actions == 0)
        {
            return;
        }
        if (actions > 1 || body.Text.Length > 0 || body.ReplyTo.Length > 0 || !body.File.IsEmpty)
        {
            throw new FormatException("a message is a text or one action, not both");
        }
        var target = body.Edit?.Target ?? body.Deletion?.Target ?? body.Reaction!.Target;
        if (target.Length != Id256.Size)
        {
            throw new FormatException("an action names a message id of 32 bytes");
        }
        if (body.Edit is { } edit && (string.IsNullOrWhiteSpace(edit.Text) || Encoding.UTF8.GetByteCount(edit.Text) > MaxTextBytes))
        {
            throw new FormatException($"an edit's text is not empty and at most {MaxTextBytes} UTF-8 bytes");
        }
        if (body.Reaction is { } reaction && Encoding.UTF8.GetByteCount(reaction.Emoji) > MaxEmojiBytes)
        {
            throw new FormatException($"a reaction is at most {MaxEmojiBytes} UTF-8 bytes");
        }
    }
}
