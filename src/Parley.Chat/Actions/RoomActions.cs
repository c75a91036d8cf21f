using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Rooms;

namespace Parley.Chat.Actions;

/// <summary>
/// Edits, deletions and reactions in rooms (docs/groups.md): each is a room message of its own, encrypted once under
/// the sender's chain (which authenticates it) and copied to every member, so it takes its place in the room's order
/// and its gaps like any message; members apply it to its target (<see cref="MessageLedger"/>) when both are there.
/// </summary>
internal sealed class RoomActions(ChatContext context, RoomEngine engine, RoomCache rooms)
{
    /// <exception cref="ChatException">Not our message, not in the room, deleted, older than <see cref="MessageLedger.ChangeWindow"/>, or the text is empty or too long.</exception>
    public Task<GroupMessageRecord> EditAsync(string room, byte[] messageId, string text, CancellationToken cancellationToken)
    {
        context.CheckOutgoingText(text);
        return ActAsync(room, messageId, MessageKind.Edit, (body, target) => body.Edit = new MessageEdit { Target = target, Text = text }, cancellationToken);
    }

    public Task<GroupMessageRecord> DeleteAsync(string room, byte[] messageId, CancellationToken cancellationToken) =>
        ActAsync(room, messageId, MessageKind.Deletion, (body, target) => body.Deletion = new MessageDeletion { Target = target }, cancellationToken);

    /// <summary>Reacts to a room message; it replaces our earlier reaction to it, and an empty one withdraws it.</summary>
    public Task<GroupMessageRecord> ReactAsync(string room, byte[] messageId, string emoji, CancellationToken cancellationToken)
    {
        emoji = MessageLedger.CheckReaction(emoji);
        return ActAsync(room, messageId, MessageKind.Reaction, (body, target) => body.Reaction = new MessageReaction { Target = target, Emoji = emoji }, cancellationToken);
    }

    private async Task<GroupMessageRecord> ActAsync(string room, byte[] messageId, MessageKind kind, Action<GroupMessageBody, ByteString> fill, CancellationToken cancellationToken)
    {
        var (updated, info) = await engine.PostAsync(
            room,
            (tx, r, body) =>
            {
                var target = tx.GetGroupMessage(messageId);
                if (target is not { Kind: MessageKind.Text } || !target.GroupId.AsSpan().SequenceEqual(r.Id.Span))
                {
                    throw new ChatException($"there is no such message in {r.Log.State.Name}");
                }
                MessageLedger.CheckTarget(target.Deleted, target.Sender.Equals(context.Account.PublicKey), target.SentAt, kind, context.Now);
                fill(body, ByteString.CopyFrom(messageId));
            },
            (tx, r, _) => (MessageLedger.Decorate(tx, [MessageLedger.Settle(tx, r, tx.GetGroupMessage(messageId)!)])[0], rooms.Info(r)),
            cancellationToken);
        context.Events.OnGroupMessageUpdated(updated, info);
        return updated;
    }
}
