using Parley.Chat.Contacts;
using Parley.Chat.Conversations;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Devices;

/// <summary>
/// What another device of our account sent a contact (its sync copy, docs/devices.md): stored here as our outgoing
/// message of that conversation, the contact added when this device did not know them, a request or an acceptance
/// recorded as the other device made it; an edit, a deletion or a reaction applied as ours. Its state then moves on
/// with the contact's receipts, which every device of ours receives, and with the sending device's notes of what the
/// contact's devices took from it directly (<see cref="DeviceSyncNotes"/>).
/// </summary>
internal sealed class SentCopies(ChatContext context, DirectContentHandler direct, Actions.DirectActions actions)
{
    /// <exception cref="EnvelopeRefusedException">A malformed copy.</exception>
    public ReceiveOutcome Apply(IChatTransaction tx, SentCopy copy, DateTimeOffset now, List<Action> events)
    {
        PublicKey peerKey;
        try
        {
            peerKey = PublicKey.FromProtobuf(copy.PeerAccount.Span);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new EnvelopeRefusedException($"a sync copy names a malformed contact key: {e.Message}");
        }
        var peer = peerKey.ToPeerId();
        if (peer == context.Account.Id || copy.PeerIdentityDhKey.Length != 32 || copy.Content is null)
        {
            throw new EnvelopeRefusedException("a malformed sync copy");
        }
        var known = tx.GetContact(peer);
        if (known is not null && !known.IdentityDhKey.AsSpan().SequenceEqual(copy.PeerIdentityDhKey.Span))
        {
            throw new EnvelopeRefusedException("a sync copy names a contact whose identity key differs from the one known");
        }
        var ourToken = copy.OurMailboxToken.Length == ChatContext.MailboxTokenLength ? copy.OurMailboxToken.ToByteArray() : null;
        var contact = known ?? new ContactRecord(
            peer, peerKey, copy.PeerIdentityDhKey.ToByteArray(), DirectContentHandler.ClaimedName(copy.PeerName), ContactState.Requested, null, ourToken, now);
        var content = copy.Content;
        contact = content.BodyCase switch
        {
            // Answering (or accepting) on another device accepts them here too.
            Content.BodyOneofCase.ContactAccept or Content.BodyOneofCase.Text when contact.State is ContactState.Pending or ContactState.GroupPeer =>
                contact with { State = ContactState.Accepted },
            _ => contact,
        };
        if (contact.OurMailboxToken is null && ourToken is not null)
        {
            contact = contact with { OurMailboxToken = ourToken };
        }
        if (!ReferenceEquals(contact, known))
        {
            tx.PutContact(contact);
            var changed = contact;
            events.Add(() => context.Events.OnContactChanged(changed));
        }
        if (content.BodyCase is Content.BodyOneofCase.Edit or Content.BodyOneofCase.Deletion or Content.BodyOneofCase.Reaction)
        {
            actions.ApplyOurs(tx, content, contact, now, events);
            return new ReceiveOutcome(ReceiveStatus.Accepted);
        }
        if (content.BodyCase is not (Content.BodyOneofCase.Text or Content.BodyOneofCase.ContactRequest))
        {
            return new ReceiveOutcome(ReceiveStatus.Accepted);
        }
        var request = content.ContactRequest;
        var text = request?.Text ?? content.Text.Body;
        direct.CheckMessage(content, text, peer);
        if (request is not null)
        {
            // This device must not send the request again.
            tx.PutSetting(DirectConversations.RequestSentSetting(peer), [1]);
        }
        var replyTo = content.Text?.ReplyTo is { Length: ChatContext.MessageIdLength } quoted ? quoted.ToByteArray() : null;
        var message = new MessageRecord(
            content.MessageId.ToByteArray(), content.ConversationId.ToByteArray(), context.Account.Id, MessageDirection.Outgoing, content.Lamport,
            content.Parents.Select(p => p.ToByteArray()).ToList(), text, DeliveryState.Queued, 0,
            DirectContentHandler.SentAt(content), now, request is not null, Unread: false, Target: replyTo);
        if (tx.InsertMessage(message))
        {
            tx.AdvanceConversation(message.ConversationId, peer, message.Lamport, message.Id);
            var shown = Actions.MessageLedger.Decorate(tx, [message])[0];
            var stored = contact;
            events.Add(() => context.Events.OnMessageReceived(shown, stored));
        }
        return new ReceiveOutcome(ReceiveStatus.Accepted);
    }
}
