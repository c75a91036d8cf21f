using Google.Protobuf;
using Parley.Chat.Contacts;
using Parley.Chat.Conversations;
using Parley.Chat.Delivery;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Actions;

/// <summary>
/// Edits, deletions and reactions in 1:1 conversations (docs/messaging.md): ours are stored, take the conversation's
/// clock and go out through the outbox like messages, inside the end-to-end session that authenticates them; theirs
/// are checked, stored and applied (<see cref="MessageLedger"/>) in the receive transaction.
/// </summary>
internal sealed class DirectActions(ChatContext context, DirectContentHandler direct, ContactBook contacts, PairwiseSessions sessions, Outbox outbox)
{
    /// <summary>Gives a message of ours a new text, shown as edited on both sides.</summary>
    /// <exception cref="ChatException">Not our message, not in the conversation, deleted, older than <see cref="MessageLedger.ChangeWindow"/>, or the text is empty or too long.</exception>
    public Task<MessageRecord> EditAsync(string who, byte[] messageId, string text, CancellationToken cancellationToken)
    {
        context.CheckOutgoingText(text);
        return ActAsync(who, messageId, MessageKind.Edit, text, (content, target) => content.Edit = new MessageEdit { Target = target, Text = text }, cancellationToken);
    }

    /// <summary>Deletes a message of ours for everyone: its text is erased here at once, and on their side when it arrives.</summary>
    public Task<MessageRecord> DeleteAsync(string who, byte[] messageId, CancellationToken cancellationToken) =>
        ActAsync(who, messageId, MessageKind.Deletion, "", (content, target) => content.Deletion = new MessageDeletion { Target = target }, cancellationToken);

    /// <summary>Reacts to a message (ours or theirs); it replaces our earlier reaction to it, and an empty one withdraws it.</summary>
    public Task<MessageRecord> ReactAsync(string who, byte[] messageId, string emoji, CancellationToken cancellationToken)
    {
        emoji = MessageLedger.CheckReaction(emoji);
        return ActAsync(who, messageId, MessageKind.Reaction, emoji, (content, target) => content.Reaction = new MessageReaction { Target = target, Emoji = emoji }, cancellationToken);
    }

    /// <summary>Stores an edit, deletion or reaction from a contact and applies it to its message, if that is here yet.</summary>
    /// <exception cref="EnvelopeRefusedException">From a stranger, or malformed.</exception>
    public ReceiveOutcome Apply(IChatTransaction tx, Content content, PeerId senderId, ContactRecord? contact, DateTimeOffset now, List<Action> events)
    {
        if (contact is null)
        {
            throw new EnvelopeRefusedException("an action on a message from someone who never wrote");
        }
        var action = Store(tx, content, contact, MessageDirection.Incoming, now, events);
        return new ReceiveOutcome(ReceiveStatus.Accepted, Acknowledge: (senderId, action.Id));
    }

    /// <summary>An edit, deletion or reaction another device of ours sent <paramref name="contact"/> (its sync copy, docs/devices.md): stored and applied as ours.</summary>
    /// <exception cref="EnvelopeRefusedException">Malformed.</exception>
    public void ApplyOurs(IChatTransaction tx, Content content, ContactRecord contact, DateTimeOffset now, List<Action> events) =>
        Store(tx, content, contact, MessageDirection.Outgoing, now, events);

    private MessageRecord Store(IChatTransaction tx, Content content, ContactRecord contact, MessageDirection direction, DateTimeOffset now, List<Action> events)
    {
        var senderId = direction == MessageDirection.Incoming ? contact.Account : context.Account.Id;
        var (kind, target, text) = content.BodyCase switch
        {
            Content.BodyOneofCase.Edit => (MessageKind.Edit, content.Edit.Target, content.Edit.Text),
            Content.BodyOneofCase.Deletion => (MessageKind.Deletion, content.Deletion.Target, ""),
            _ => (MessageKind.Reaction, content.Reaction.Target, content.Reaction.Emoji),
        };
        direct.CheckMessage(content, text, contact.Account);
        if (target.Length != ChatContext.MessageIdLength)
        {
            throw new EnvelopeRefusedException("an action names a message id that is not 16 bytes");
        }
        if ((kind == MessageKind.Edit && string.IsNullOrWhiteSpace(text)) || (kind == MessageKind.Reaction && !MessageLedger.IsReaction(text)))
        {
            throw new EnvelopeRefusedException($"a malformed {kind.ToString().ToLowerInvariant()}");
        }
        var action = new MessageRecord(
            content.MessageId.ToByteArray(), content.ConversationId.ToByteArray(), senderId, direction, content.Lamport,
            content.Parents.Select(p => p.ToByteArray()).ToList(), text, direction == MessageDirection.Incoming ? DeliveryState.Received : DeliveryState.Queued, 0,
            DirectContentHandler.SentAt(content), now,
            IsContactRequest: false, Unread: false, kind, target.ToByteArray());
        if (tx.InsertMessage(action))
        {
            tx.AdvanceConversation(action.ConversationId, contact.Account, action.Lamport, action.Id);
            // Its message may not be here yet: then the action waits, stored, and applies when the message comes.
            if (tx.GetMessage(action.Target!) is { Kind: MessageKind.Text } message && message.ConversationId.AsSpan().SequenceEqual(action.ConversationId))
            {
                var shown = MessageLedger.SettleAndDecorate(tx, message);
                events.Add(() => context.Events.OnMessageUpdated(shown, contact));
            }
        }
        return action;
    }

    private async Task<MessageRecord> ActAsync(string who, byte[] messageId, MessageKind kind, string text, Action<Content, ByteString> body, CancellationToken cancellationToken)
    {
        var contact = await contacts.GetAsync(who, cancellationToken);
        if (contact.State is not (ContactState.Accepted or ContactState.Requested))
        {
            throw new ChatException(contact.State == ContactState.Pending ? $"accept {contact.Handle}'s request first" : $"you cannot write to {contact.Handle}");
        }
        var setup = await sessions.PrepareAsync(contact, cancellationToken);
        var conversation = ConversationIds.Direct(context.Account.Id, contact.Account);
        var updated = await context.Store.TransactAsync(tx =>
        {
            var target = tx.GetMessage(messageId);
            if (target is not { Kind: MessageKind.Text } || !target.ConversationId.AsSpan().SequenceEqual(conversation))
            {
                throw new ChatException($"there is no such message in the conversation with {contact.Handle}");
            }
            MessageLedger.CheckTarget(target.Deleted, target.Direction == MessageDirection.Outgoing, target.SentAt, kind, context.Now);
            var (content, parents) = DirectConversations.NextContent(tx, context, conversation);
            body(content, ByteString.CopyFrom(messageId));
            var now = DateTimeOffset.FromUnixTimeMilliseconds(content.SentUnixMs);
            var action = new MessageRecord(
                content.MessageId.ToByteArray(), conversation, context.Account.Id, MessageDirection.Outgoing, content.Lamport, parents, text,
                DeliveryState.Queued, 0, now, now, IsContactRequest: false, Unread: false, kind, messageId);
            tx.InsertMessage(action);
            tx.AdvanceConversation(conversation, contact.Account, content.Lamport, action.Id);
            sessions.Queue(tx, contact, content, action.Id, setup);
            return MessageLedger.SettleAndDecorate(tx, target);
        }, cancellationToken);
        outbox.Wake();
        context.Events.OnMessageUpdated(updated, contact);
        return updated;
    }
}
