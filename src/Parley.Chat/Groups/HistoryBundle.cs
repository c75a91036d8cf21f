using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// Past messages a member offers a new member when the room's history setting is on (docs/groups.md section 4):
/// plaintext with the original ids, senders, epochs, iterations and Lamport clocks, to travel inside the pairwise
/// Double Ratchet session. The receiver checks that each id matches its content and merges without duplicates
/// (<see cref="GroupTimeline.Merge"/>). A bundle is as trustworthy as the member who offers it.
/// </summary>
public sealed class HistoryBundle
{
    public const uint Version = 1;

    /// <summary>Bound on one encoded bundle; well under the pairwise session's 1 MiB per message.</summary>
    public const int MaxEncodedLength = 512 * 1024;

    private HistoryBundle(Id256 groupId, IReadOnlyList<GroupMessage> messages)
    {
        GroupId = groupId;
        Messages = messages;
    }

    public Id256 GroupId { get; }

    public IReadOnlyList<GroupMessage> Messages { get; }

    /// <summary>The bundles to send to a new member: none when the room's history setting is off; otherwise
    /// <paramref name="messages"/> but the erased ones (display order is kept) in as many bundles of at most <see cref="MaxEncodedLength"/> as needed.</summary>
    public static IReadOnlyList<byte[]> Offer(GroupState state, IEnumerable<GroupMessage> messages)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(messages);
        if (!state.HistoryEnabled)
        {
            return [];
        }
        var bundles = new List<byte[]>();
        var current = NewBundle(state.GroupId);
        var size = current.CalculateSize();
        // An erased message can no longer show that its id is its content's: it is left out.
        foreach (var message in messages.Where(m => !m.IsErased))
        {
            if (message.GroupId != state.GroupId)
            {
                throw new ArgumentException("a message of another room", nameof(messages));
            }
            var item = new HistoryMessageProto
            {
                Epoch = ByteString.CopyFrom(message.Epoch.Span),
                Sender = ByteString.CopyFrom(message.Sender.ToProtobuf()),
                ChainId = message.ChainId,
                Iteration = message.Iteration,
                Body = message.ToBody(),
                Id = ByteString.CopyFrom(message.Id.Span),
            };
            // Each item costs its size plus a tag and a length prefix of at most 4 bytes.
            var itemSize = item.CalculateSize() + 5;
            if (current.Messages.Count > 0 && size + itemSize > MaxEncodedLength)
            {
                bundles.Add(current.ToByteArray());
                current = NewBundle(state.GroupId);
                size = current.CalculateSize();
            }
            current.Messages.Add(item);
            size += itemSize;
        }
        if (current.Messages.Count > 0)
        {
            bundles.Add(current.ToByteArray());
        }
        return bundles;
    }

    /// <exception cref="FormatException">Not a version 1 bundle for <paramref name="groupId"/>, a field out of bounds,
    /// or a message whose id does not match its content.</exception>
    public static HistoryBundle Parse(ReadOnlySpan<byte> bytes, Id256 groupId, ICryptoProvider crypto)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        if (bytes.Length > MaxEncodedLength)
        {
            throw new FormatException($"a history bundle of {bytes.Length} bytes exceeds the maximum {MaxEncodedLength}");
        }
        HistoryBundleProto proto;
        try
        {
            proto = HistoryBundleProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException("the history bundle is not a valid protobuf", e);
        }
        if (proto.Version != Version)
        {
            throw new FormatException($"unknown history bundle version {proto.Version}");
        }
        if (Id256.FromBytes(proto.GroupId.Span) != groupId)
        {
            throw new FormatException("the history bundle is for another room");
        }
        var messages = new List<GroupMessage>(proto.Messages.Count);
        foreach (var item in proto.Messages)
        {
            var message = GroupMessage.Create(
                crypto,
                groupId,
                Id256.FromBytes(item.Epoch.Span),
                PublicKey.FromProtobuf(item.Sender.Span),
                item.ChainId,
                item.Iteration,
                item.Body ?? throw new FormatException("a history message without a body"));
            if (message.Id != Id256.FromBytes(item.Id.Span))
            {
                throw new FormatException($"history message {message.Id.ToShortString()} does not match the id it claims");
            }
            messages.Add(message);
        }
        return new HistoryBundle(groupId, messages);
    }

    private static HistoryBundleProto NewBundle(Id256 groupId) => new() { Version = Version, GroupId = ByteString.CopyFrom(groupId.Span) };
}
