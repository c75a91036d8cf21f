using System.Text;
using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// A group message as members show it. The id is SHA-256 of every other field (docs/groups.md section 3), so each
/// member computes the same id from the decrypted content and a history bundle cannot pass one message off as another.
/// Display order: ascending (Lamport clock, sender key bytes, id), the same on every member.
/// </summary>
public sealed class GroupMessage
{
    /// <summary>Bound on a message's text, in UTF-8 bytes.</summary>
    public const int MaxTextBytes = 64 * 1024;

    /// <summary>Bound on the parents one message names.</summary>
    public const int MaxParents = 16;

    private static readonly byte[] IdDomain = "parley-group-message-id:"u8.ToArray();

    /// <summary>Bound on a message's file manifest (docs/files.md).</summary>
    public const int MaxFileBytes = Files.FileManifest.MaxEncodedBytes;

    private GroupMessage(Id256 id, Id256 groupId, Id256 epoch, PublicKey sender, uint chainId, uint iteration, ulong lamport, IReadOnlyList<Id256> parents, long timestampMs, string text, ReadOnlyMemory<byte> file)
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
        // A file is part of what the id covers; a message without one keeps the id it always had.
        var payload = body.File.IsEmpty ? writer.ToArray() : writer.Bytes(body.File.Span).ToArray();
        Span<byte> id = stackalloc byte[Id256.Size];
        crypto.Sha256(payload, id);
        return new GroupMessage(Id256.FromBytes(id), groupId, epoch, sender, chainId, iteration, body.Lamport, parents, body.TimestampMs, body.Text, body.File.Memory);
    }

    internal static GroupMessageBody Body(ulong lamport, IEnumerable<Id256> parents, long timestampMs, string text, ReadOnlyMemory<byte> file = default)
    {
        var body = new GroupMessageBody { Lamport = lamport, TimestampMs = timestampMs, Text = text, File = ByteString.CopyFrom(file.Span) };
        body.Parents.AddRange(parents.Distinct().Order().Select(p => ByteString.CopyFrom(p.Span)));
        return body;
    }

    internal GroupMessageBody ToBody() => Body(Lamport, Parents, TimestampMs, Text, File);
}
