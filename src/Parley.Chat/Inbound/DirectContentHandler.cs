using Parley.Chat.Actions;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Inbound;

/// <summary>
/// Stores what a decrypted 1:1 content says, inside the receive transaction: a text or contact request, an accept,
/// a receipt. One method per kind of content; new kinds (edits, deletes, reactions, replies, file manifests) are new
/// methods here and new cases of <see cref="Content"/>.
/// </summary>
internal sealed class DirectContentHandler(ChatContext context)
{
    private const int MaxParents = 16;
    private const int MaxReceiptIds = 1024;
    private const int MaxNameLength = 64;

    /// <summary>A text, or a contact request carrying one. Events to raise after the commit go in <paramref name="events"/>.</summary>
    /// <param name="shownText">The text stored for a message whose body is not a text (a file's manifest).</param>
    public ReceiveOutcome ApplyText(IChatTransaction tx, Content content, IdentityDhCertificate sender, ContactRecord? contact, DateTimeOffset now, List<Action> events, string? shownText = null)
    {
        var senderId = sender.Account.ToPeerId();
        var request = content.ContactRequest;
        var text = shownText ?? request?.Text ?? content.Text.Body;
        CheckMessage(content, text, senderId);
        var known = contact;
        if (contact is null)
        {
            contact = new ContactRecord(senderId, sender.Account, sender.DhKey, ClaimedName(request?.SenderName), ContactState.Pending, null, null, now);
        }
        else if (contact.State == ContactState.Requested)
        {
            // They wrote back to our request: that is their acceptance.
            contact = contact with { State = ContactState.Accepted };
        }
        else if (contact.State == ContactState.GroupPeer)
        {
            // Sharing a room is not being a contact: a room peer's first 1:1 message is a request.
            contact = contact with { State = ContactState.Pending };
        }
        if (request is { MailboxToken.Length: ChatContext.MailboxTokenLength } && !request.MailboxToken.Span.SequenceEqual(contact.TheirMailboxToken))
        {
            contact = contact with { TheirMailboxToken = request.MailboxToken.ToByteArray() };
        }
        if (!ReferenceEquals(contact, known))
        {
            tx.PutContact(contact);
        }
        var replyTo = content.Text?.ReplyTo is { Length: > 0 } quoted ? quoted.ToByteArray() : null;
        if (replyTo is { Length: not ChatContext.MessageIdLength })
        {
            throw new EnvelopeRefusedException("a reply names a message id that is not 16 bytes");
        }
        var message = new MessageRecord(
            content.MessageId.ToByteArray(), content.ConversationId.ToByteArray(), senderId, MessageDirection.Incoming, content.Lamport,
            content.Parents.Select(p => p.ToByteArray()).ToList(), text, DeliveryState.Received, 0,
            SentAt(content), now, request is not null, Unread: true, Target: replyTo);
        if (tx.InsertMessage(message))
        {
            tx.AdvanceConversation(message.ConversationId, senderId, message.Lamport, message.Id);
            var stored = contact;
            // An edit or a deletion that overtook it applies now.
            var shown = MessageLedger.SettleAndDecorate(tx, message);
            events.Add(() => context.Events.OnMessageReceived(shown, stored));
            if (request is not null)
            {
                events.Add(() => context.Events.OnContactChanged(stored));
            }
        }
        return new ReceiveOutcome(ReceiveStatus.Accepted, Acknowledge: (senderId, message.Id));
    }

    /// <summary>They accepted our request, or gave us a new mailbox token.</summary>
    public ReceiveOutcome ApplyAccept(IChatTransaction tx, ContactAccept accept, ContactRecord? contact, List<Action> events)
    {
        if (contact is not null && accept.MailboxToken.Length == ChatContext.MailboxTokenLength)
        {
            var accepted = contact with
            {
                State = contact.State == ContactState.Requested ? ContactState.Accepted : contact.State,
                TheirMailboxToken = accept.MailboxToken.ToByteArray(),
            };
            tx.PutContact(accepted);
            events.Add(() => context.Events.OnContactChanged(accepted));
        }
        return new ReceiveOutcome(ReceiveStatus.Accepted);
    }

    /// <summary>Our messages reached the sender's device, or were read: they move forward, never back, and leave the outbox.</summary>
    /// <param name="senderDevice">The device of a linked contact it came from: only that device's copies leave the outbox (its other devices still get theirs).</param>
    public ReceiveOutcome ApplyReceipt(IChatTransaction tx, Protos.Receipt receipt, PeerId senderId, ContactRecord? contact, List<Action> events, PeerId? senderDevice = null)
    {
        var conversation = ConversationIds.Direct(context.Account.Id, senderId);
        var state = receipt.Kind == Protos.Receipt.Types.Kind.Read ? DeliveryState.Read : DeliveryState.Delivered;
        foreach (var id in receipt.MessageIds.Take(MaxReceiptIds))
        {
            if (tx.GetMessage(id.ToByteArray()) is not { Direction: MessageDirection.Outgoing } mine || !conversation.AsSpan().SequenceEqual(mine.ConversationId))
            {
                continue;
            }
            // Per-device detail (docs/devices.md); the message's own state is the furthest any device got.
            tx.PutDeviceDelivery(mine.Id, new DeviceDelivery(senderDevice ?? senderId, state, context.Now));
            if (mine.State < state)
            {
                tx.UpdateMessageState(mine.Id, state, mine.StoredCount);
                if (senderDevice is null)
                {
                    tx.DeleteOutboxForMessage(mine.Id);
                }
                else
                {
                    foreach (var item in tx.GetOutboxFor(senderId).Where(i => i.MessageId is { } m && m.AsSpan().SequenceEqual(mine.Id) && (i.Device is null || i.Device == senderDevice)))
                    {
                        tx.DeleteOutbox(item.EnvelopeId);
                    }
                }
                var updated = mine with { State = state };
                if (contact is not null)
                {
                    events.Add(() => context.Events.OnMessageStateChanged(updated, contact));
                }
            }
        }
        return new ReceiveOutcome(ReceiveStatus.Accepted);
    }

    /// <summary>The sender's clock, a hint only, within what a date can hold.</summary>
    public static DateTimeOffset SentAt(Content content) => DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(content.SentUnixMs, 0, 253_402_300_799_999));

    /// <summary>Checks what every stored content carries: its id, conversation, parents and clock, and the size of its text.</summary>
    /// <exception cref="EnvelopeRefusedException">One of them is malformed.</exception>
    public void CheckMessage(Content content, string text, PeerId sender)
    {
        if (content.MessageId.Length != ChatContext.MessageIdLength)
        {
            throw new EnvelopeRefusedException("message id is not 16 bytes");
        }
        if (!content.ConversationId.Span.SequenceEqual(ConversationIds.Direct(context.Account.Id, sender)))
        {
            throw new EnvelopeRefusedException("the message names a conversation other than ours with its sender");
        }
        if (content.Parents.Count > MaxParents || content.Parents.Any(p => p.Length != ChatContext.MessageIdLength))
        {
            throw new EnvelopeRefusedException("malformed parent ids");
        }
        if (ChatContext.Utf8Length(text) > context.Options.MaxTextBytes)
        {
            throw new EnvelopeRefusedException("text longer than the limit");
        }
        if (content.Lamport == 0 || content.Lamport > long.MaxValue)
        {
            throw new EnvelopeRefusedException("Lamport clock out of range");
        }
    }

    /// <summary>The name a requester gives; only a valid one is kept (the tag, from their key, is what identifies them).</summary>
    internal static string ClaimedName(string? name)
    {
        if (name is null || name.Length > MaxNameLength)
        {
            return "unknown";
        }
        try
        {
            return Handle.NormalizeName(name);
        }
        catch (FormatException)
        {
            return "unknown";
        }
    }
}
