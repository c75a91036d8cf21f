using System.Globalization;
using System.Text;
using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Rooms;
using Parley.Core.Identity;

namespace Parley.Chat.Actions;

/// <summary>
/// What the stored actions on a message mean for it (docs/messaging.md, "Replies, reactions, edits and deletes"), in
/// 1:1 conversations and in rooms alike. An action is stored as a row of its own whenever it arrives, so one that
/// overtakes its message is applied when the message comes: <see cref="Settle(IChatTransaction, MessageRecord)"/>
/// runs after either is stored. Only the message's author edits or deletes it; the latest edit (display order) is the
/// text shown; a deletion erases the text, the edits and the reactions, wherever it is honoured. Reactions are folded
/// when messages are shown: each person's latest, an empty one withdrawn.
/// </summary>
internal static class MessageLedger
{
    /// <summary>How long after sending a message its author may edit it or delete it for everyone, as in Signal.</summary>
    public static readonly TimeSpan ChangeWindow = TimeSpan.FromHours(24);

    /// <summary>How many actions one page of messages reads for its reactions at most.</summary>
    private const int MaxActionsPerPage = 50_000;

    /// <summary>
    /// A reaction as it travels: empty (withdrawn), or one emoji: a single grapheme (a flag, a skin tone or a family
    /// is one), not a letter, and not a lone ASCII character (a keycap such as 1️⃣ is more than its digit).
    /// </summary>
    public static bool IsReaction(string emoji) =>
        emoji.Length == 0
        || (Encoding.UTF8.GetByteCount(emoji) <= GroupMessage.MaxEmojiBytes
            && new StringInfo(emoji).LengthInTextElements == 1
            && !char.IsLetter(emoji[0]) && !char.IsWhiteSpace(emoji[0]) && !char.IsControl(emoji[0])
            && !(emoji.Length == 1 && char.IsAscii(emoji[0])));

    /// <summary>The reaction the user gave, trimmed.</summary>
    /// <exception cref="ChatException">It is not one short emoji.</exception>
    public static string CheckReaction(string emoji)
    {
        ArgumentNullException.ThrowIfNull(emoji);
        emoji = emoji.Trim();
        return IsReaction(emoji) ? emoji : throw new ChatException($"a reaction is one emoji (at most {GroupMessage.MaxEmojiBytes} bytes)");
    }

    /// <summary>Whether the user may act on a message: not on a deleted one; an edit or a deletion only on their own, within <see cref="ChangeWindow"/>.</summary>
    /// <exception cref="ChatException">They may not.</exception>
    public static void CheckTarget(bool deleted, bool ours, DateTimeOffset sentAt, MessageKind kind, DateTimeOffset now)
    {
        if (deleted)
        {
            throw new ChatException("that message was deleted");
        }
        if (kind is MessageKind.Edit or MessageKind.Deletion)
        {
            var what = kind == MessageKind.Edit ? "edit" : "delete";
            if (!ours)
            {
                throw new ChatException($"you can only {what} your own messages");
            }
            if (now - sentAt > ChangeWindow)
            {
                throw new ChatException($"a message can be {(kind == MessageKind.Edit ? "edited" : "deleted for everyone")} for {ChangeWindow.TotalHours:0} hours after it was sent");
            }
        }
    }

    /// <summary>Brings a stored text in line with the actions stored for it: erased if its author deleted it, else showing its author's latest edit.</summary>
    public static MessageRecord Settle(IChatTransaction tx, MessageRecord message) =>
        message.Kind != MessageKind.Text ? message : Settle(tx, message, ActionsOn(tx, message));

    /// <summary>
    /// <see cref="Settle(IChatTransaction, MessageRecord)"/> then <see cref="Decorate(IChatReader, IReadOnlyList{MessageRecord})"/>
    /// for one text, with the one read of the actions on it that both need (a message received costs a query fewer).
    /// </summary>
    public static MessageRecord SettleAndDecorate(IChatTransaction tx, MessageRecord message)
    {
        if (message.Kind != MessageKind.Text)
        {
            return Decorate(tx, [message])[0];
        }
        var actions = ActionsOn(tx, message);
        var settled = Settle(tx, message, actions);
        var reactions = new Dictionary<string, List<Reaction>>();
        if (!settled.Deleted)
        {
            Fold(actions.Select(a => (a.Kind, a.Target, a.Sender, a.Text, a.SentAt, a.Deleted)), reactions);
        }
        return WithReactionsAndQuote(tx, settled, reactions);
    }

    private static List<MessageRecord> ActionsOn(IChatReader reader, MessageRecord message) =>
        reader.GetActions(message.Id).Where(a => a.ConversationId.AsSpan().SequenceEqual(message.ConversationId)).ToList();

    private static MessageRecord Settle(IChatTransaction tx, MessageRecord message, List<MessageRecord> actions)
    {
        var byAuthor = actions.Where(a => a.Sender == message.Sender).ToList();
        if (message.Deleted || byAuthor.Any(a => a.Kind == MessageKind.Deletion))
        {
            if (!message.Deleted)
            {
                tx.EraseMessage(message.Id);
                // Ours and not delivered yet: it need not be.
                tx.DeleteOutboxForMessage(message.Id);
            }
            // Also what arrives for it later: a deleted message keeps no edit and no reaction.
            foreach (var action in actions.Where(a => !a.Deleted))
            {
                tx.EraseMessage(action.Id);
            }
            return message with { Text = "", Deleted = true };
        }
        if (byAuthor.LastOrDefault(a => a.Kind == MessageKind.Edit) is { } edit && (edit.Text != message.Text || edit.SentAt != message.EditedAt))
        {
            tx.EditMessage(message.Id, edit.Text, edit.SentAt);
            return message with { Text = edit.Text, EditedAt = edit.SentAt };
        }
        return message;
    }

    /// <summary>As <see cref="Settle(IChatTransaction, MessageRecord)"/> for a room message; a deletion also erases it from the room's timeline in memory.</summary>
    public static GroupMessageRecord Settle(IChatTransaction tx, Room room, GroupMessageRecord message)
    {
        if (message.Kind != MessageKind.Text)
        {
            return message;
        }
        var actions = tx.GetGroupActions(message.Id).Where(a => a.GroupId.AsSpan().SequenceEqual(message.GroupId)).ToList();
        var byAuthor = actions.Where(a => a.Sender.Equals(message.Sender)).ToList();
        if (message.Deleted || byAuthor.Any(a => a.Kind == MessageKind.Deletion))
        {
            if (!message.Deleted)
            {
                Erase(tx, room, message);
                tx.DeleteOutboxForMessage(message.Id);
            }
            foreach (var action in actions.Where(a => !a.Deleted))
            {
                Erase(tx, room, action);
            }
            return message with { Text = "", Deleted = true, Ciphertext = null };
        }
        if (byAuthor.LastOrDefault(a => a.Kind == MessageKind.Edit) is { } edit && (edit.Text != message.Text || edit.SentAt != message.EditedAt))
        {
            tx.EditGroupMessage(message.Id, edit.Text, edit.SentAt);
            return message with { Text = edit.Text, EditedAt = edit.SentAt };
        }
        return message;
    }

    /// <summary>
    /// After a room message (a text or an action) was stored: applies the actions waiting for it, or the action to its
    /// target; returns the event that shows it (a new text, or its target changed), if any.
    /// </summary>
    public static Action? Stored(IChatTransaction tx, Room room, GroupMessageRecord stored, GroupInfo info, ChatEventHub events)
    {
        if (stored.Kind == MessageKind.Text)
        {
            var shown = Decorate(tx, [Settle(tx, room, stored)])[0];
            return () => events.OnGroupMessageReceived(shown, info);
        }
        if (tx.GetGroupMessage(stored.Target!) is { Kind: MessageKind.Text } target && target.GroupId.AsSpan().SequenceEqual(stored.GroupId))
        {
            var shown = Decorate(tx, [Settle(tx, room, target)])[0];
            return () => events.OnGroupMessageUpdated(shown, info);
        }
        return null;
    }

    /// <summary>Adds to each text its reactions and the message it quotes, as they stand.</summary>
    public static IReadOnlyList<MessageRecord> Decorate(IChatReader reader, IReadOnlyList<MessageRecord> messages)
    {
        var reactions = new Dictionary<string, List<Reaction>>();
        foreach (var conversation in messages.GroupBy(m => Convert.ToHexString(m.ConversationId)))
        {
            var actions = reader.GetActionsSince(conversation.First().ConversationId, conversation.Min(m => m.Lamport), MaxActionsPerPage);
            Fold(actions.Select(a => (a.Kind, a.Target, a.Sender, a.Text, a.SentAt, a.Deleted)), reactions);
        }
        return messages.Select(m => WithReactionsAndQuote(reader, m, reactions)).ToList();
    }

    private static MessageRecord WithReactionsAndQuote(IChatReader reader, MessageRecord message, Dictionary<string, List<Reaction>> reactions) => message with
    {
        Reactions = reactions.TryGetValue(Convert.ToHexString(message.Id), out var list) ? list : [],
        Quote = message.Target is { } quoted ? Quote(reader.GetMessage(quoted), quoted, message.ConversationId) : null,
    };

    /// <summary>A message we just composed: nobody can have reacted to it yet, so only its quote is filled.</summary>
    public static MessageRecord DecorateComposed(IChatReader reader, MessageRecord message) =>
        message.Target is { } quoted ? message with { Quote = Quote(reader.GetMessage(quoted), quoted, message.ConversationId) } : message;

    /// <summary>Adds to each room text its reactions and the room message it quotes, as they stand.</summary>
    public static IReadOnlyList<GroupMessageRecord> Decorate(IChatReader reader, IReadOnlyList<GroupMessageRecord> messages)
    {
        var reactions = new Dictionary<string, List<Reaction>>();
        foreach (var room in messages.GroupBy(m => Convert.ToHexString(m.GroupId)))
        {
            var actions = reader.GetGroupActionsSince(room.First().GroupId, room.Min(m => m.Lamport), MaxActionsPerPage);
            Fold(actions.Select(a => (a.Kind, a.Target, a.Sender.ToPeerId(), a.Text, a.SentAt, a.Deleted)), reactions);
        }
        return messages.Select(m => m with
        {
            Reactions = reactions.TryGetValue(Convert.ToHexString(m.Id), out var list) ? list : [],
            Quote = m.Target is { } quoted ? Quote(reader.GetGroupMessage(quoted), quoted, m.GroupId) : null,
        }).ToList();
    }

    /// <summary>Erases a room message: its text, ciphertext and (kept for its place in the order) a body without content.</summary>
    private static void Erase(IChatTransaction tx, Room room, GroupMessageRecord message)
    {
        var body = Groups.Protos.GroupMessageBody.Parser.ParseFrom(message.Body);
        var erased = GroupMessage.Body(body.Lamport, body.Parents.Select(p => Id256.FromBytes(p.Span)), body.TimestampMs, "");
        tx.EraseGroupMessage(message.Id, erased.ToByteArray());
        room.Timeline.Erase(Id256.FromBytes(message.Id));
    }

    /// <summary>Each person's latest reaction per message (actions come in display order), in that order; an empty one is withdrawn.</summary>
    private static void Fold(IEnumerable<(MessageKind Kind, byte[]? Target, PeerId From, string Emoji, DateTimeOffset At, bool Erased)> actions, Dictionary<string, List<Reaction>> into)
    {
        var latest = new Dictionary<(string Target, PeerId From), (int Order, string Emoji, DateTimeOffset At, bool Erased)>();
        var order = 0;
        foreach (var action in actions.Where(a => a.Kind == MessageKind.Reaction && a.Target is not null))
        {
            latest[(Convert.ToHexString(action.Target!), action.From)] = (order++, action.Emoji, action.At, action.Erased);
        }
        foreach (var ((target, from), (_, emoji, at, _)) in latest.Where(r => r.Value.Emoji.Length > 0 && !r.Value.Erased).OrderBy(r => r.Value.Order))
        {
            (into.TryGetValue(target, out var list) ? list : into[target] = []).Add(new Reaction(from, emoji, at));
        }
    }

    private static QuotedMessage Quote(MessageRecord? quoted, byte[] id, byte[] conversation) =>
        quoted is { Kind: MessageKind.Text } && quoted.ConversationId.AsSpan().SequenceEqual(conversation)
            ? new QuotedMessage(id, quoted.Sender, quoted.Text, quoted.Deleted)
            : new QuotedMessage(id, null, "", false);

    private static QuotedMessage Quote(GroupMessageRecord? quoted, byte[] id, byte[] room) =>
        quoted is { Kind: MessageKind.Text } && quoted.GroupId.AsSpan().SequenceEqual(room)
            ? new QuotedMessage(id, quoted.Sender.ToPeerId(), quoted.Text, quoted.Deleted)
            : new QuotedMessage(id, null, "", false);
}
