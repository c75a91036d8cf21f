using Google.Protobuf;
using Parley.Chat.Actions;
using Parley.Chat.Contacts;
using Parley.Chat.Delivery;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Conversations;

/// <summary>
/// 1:1 conversations (docs/messaging.md): sending a message (the first to someone new is a contact request), its
/// causal order (Lamport clock and parents), reading a conversation and marking it read (read receipts to accepted
/// contacts). A message is encrypted and queued in one transaction; delivery is the outbox's.
/// </summary>
internal sealed class DirectConversations(ChatContext context, ContactBook contacts, PairwiseSessions sessions, Outbox outbox, DeviceSessions deviceSessions, Devices.DeviceSyncNotes syncNotes)
{
    /// <summary>How many messages one history or unread query returns at most.</summary>
    public const int MaxPageSize = 10_000;

    /// <exception cref="ChatException">The text is empty or too long, the recipient cannot be found or has no keys published, or is blocked.</exception>
    public Task<MessageRecord> SendAsync(string recipient, string text, CancellationToken cancellationToken) =>
        SendAsync(recipient, text, null, cancellationToken);

    /// <summary>
    /// Sends a message whose body <paramref name="attachment"/> sets instead of a text (a file's manifest), storing what
    /// goes with it in the same transaction. Such a message cannot be the contact request.
    /// </summary>
    /// <param name="replyTo">The message of the conversation this one replies to (and quotes), if any.</param>
    /// <exception cref="ChatException">As above; the message replied to is not in the conversation.</exception>
    public async Task<MessageRecord> SendAsync(string recipient, string text, Attachment? attachment, CancellationToken cancellationToken, byte[]? replyTo = null)
    {
        context.CheckOutgoingText(text);
        // One read for the usual case: a known contact with a session.
        var (known, hasSession) = await context.Store.ReadAsync(r =>
        {
            var found = ContactBook.Find(r, recipient);
            return (found, found is not null && r.HasSession(found.Account));
        }, cancellationToken);
        var contact = known;
        SessionSetup? setup = null;
        if (contact is null)
        {
            // Someone new: finding them and preparing the session overlap (ContactBook.DiscoverAsync).
            (contact, setup) = await contacts.DiscoverAsync(recipient, prepareSession: true, cancellationToken);
        }
        contact = contact.State switch
        {
            ContactState.Blocked => throw new ChatException($"you blocked {contact.Handle}; they cannot be written to"),
            // Answering a request accepts it, as in other messengers.
            ContactState.Pending => await contacts.AcceptAsync(contact, cancellationToken),
            ContactState.GroupPeer => await contacts.AskAsync(contact, cancellationToken),
            _ => contact,
        };
        // A contact's devices, and ours, each need a session (nothing to do without linked devices).
        await deviceSessions.PrepareAsync(contact, cancellationToken);
        setup ??= hasSession ? null : await sessions.PrepareAsync(contact, cancellationToken);
        var sent = await context.Store.TransactAsync(tx => Compose(tx, contact, text, replyTo, setup, attachment), cancellationToken);
        outbox.Wake();
        return sent;
    }

    /// <summary>The messages of the conversation with a contact, oldest first, in causal order.</summary>
    public async Task<IReadOnlyList<MessageRecord>> GetHistoryAsync(string who, int limit, CancellationToken cancellationToken)
    {
        var contact = await contacts.GetAsync(who, cancellationToken);
        return await context.Store.ReadAsync(
            r => MessageLedger.Decorate(r, r.GetMessages(ConversationIds.Direct(context.Account.Id, contact.Account), Math.Clamp(limit, 1, MaxPageSize))),
            cancellationToken);
    }

    /// <summary>Incoming messages not shown yet, by conversation in causal order, without marking them.</summary>
    public Task<IReadOnlyList<MessageRecord>> GetUnreadAsync(CancellationToken cancellationToken) =>
        context.Store.ReadAsync(r => MessageLedger.Decorate(r, r.GetUnread(MaxPageSize)), cancellationToken);

    /// <summary>
    /// A new content on the conversation's clock (the next Lamport clock, the latest messages as parents, our clock
    /// as a hint), for a message or an action on one; the caller sets its body.
    /// </summary>
    public static (Content Content, IReadOnlyList<byte[]> Parents) NextContent(IChatTransaction tx, ChatContext context, byte[] conversation)
    {
        var (lamport, heads) = tx.GetConversationClock(conversation);
        var content = new Content
        {
            MessageId = ByteString.CopyFrom(context.RandomBytes(ChatContext.MessageIdLength)),
            ConversationId = ByteString.CopyFrom(conversation),
            Lamport = lamport + 1,
            SentUnixMs = context.Now.ToUnixTimeMilliseconds(),
        };
        content.Parents.AddRange(heads.Select(ByteString.CopyFrom));
        return (content, heads);
    }

    /// <summary>Marks messages as seen by the user; accepted contacts get read receipts, our other devices a note (docs/devices.md).</summary>
    public async Task MarkReadAsync(IReadOnlyList<MessageRecord> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Any(m => m.Direction == MessageDirection.Incoming))
        {
            // The note to our other devices needs a session with each (none yet if this device never wrote to them).
            await deviceSessions.PrepareOwnAsync(cancellationToken);
        }
        var queued = await context.Store.TransactAsync(tx =>
        {
            var bySender = new Dictionary<PeerId, List<byte[]>>();
            foreach (var message in messages.Where(m => m.Direction == MessageDirection.Incoming))
            {
                tx.MarkRead(message.Id);
                (bySender.TryGetValue(message.Sender, out var ids) ? ids : bySender[message.Sender] = []).Add(message.Id);
            }
            var queued = 0;
            foreach (var (sender, ids) in bySender)
            {
                if (tx.GetContact(sender) is not { } contact)
                {
                    continue;
                }
                if (contact.State == ContactState.Accepted && sessions.QueueControl(tx, contact, Receipts.Make(Protos.Receipt.Types.Kind.Read, ids)))
                {
                    queued++;
                }
                queued += syncNotes.Read(tx, contact, ids) ? 1 : 0;
            }
            return queued;
        }, cancellationToken);
        if (queued > 0)
        {
            outbox.Wake();
        }
    }

    internal static string RequestSentSetting(PeerId contact) => $"request-sent/{contact}";

    /// <summary>Stores our message on the conversation's clock and queues it encrypted; the first to a contact we ask is the request.</summary>
    private MessageRecord Compose(IChatTransaction tx, ContactRecord contact, string text, byte[]? replyTo, SessionSetup? setup, Attachment? attachment)
    {
        var conversation = ConversationIds.Direct(context.Account.Id, contact.Account);
        if (replyTo is not null && !(tx.GetMessage(replyTo) is { Kind: MessageKind.Text } quoted && quoted.ConversationId.AsSpan().SequenceEqual(conversation)))
        {
            throw new ChatException("the message replied to is not in this conversation");
        }
        var (content, heads) = NextContent(tx, context, conversation);
        var now = DateTimeOffset.FromUnixTimeMilliseconds(content.SentUnixMs);
        // Only a contact we are asking may still need its request: only then is its current state read again.
        var current = contact.State == ContactState.Requested ? tx.GetContact(contact.Account) ?? contact : contact;
        var isRequest = current.State == ContactState.Requested && tx.GetSetting(RequestSentSetting(current.Account)) is null;
        if (isRequest && attachment is not null)
        {
            throw new ChatException($"{current.Handle} has not accepted you yet: write a message first; a file cannot be the contact request");
        }
        if (attachment is not null)
        {
            attachment.SetBody(content);
        }
        else if (isRequest)
        {
            content.ContactRequest = new ContactRequest { SenderName = context.Name, Text = text, MailboxToken = ByteString.CopyFrom(current.OurMailboxToken) };
            tx.PutSetting(RequestSentSetting(current.Account), [1]);
        }
        else
        {
            content.Text = new Text { Body = text, ReplyTo = replyTo is null ? ByteString.Empty : ByteString.CopyFrom(replyTo) };
        }
        var message = new MessageRecord(
            content.MessageId.ToByteArray(), conversation, context.Account.Id, MessageDirection.Outgoing, content.Lamport, heads, text,
            DeliveryState.Queued, 0, now, now, isRequest, Unread: false, Target: isRequest || attachment is not null ? null : replyTo);
        tx.InsertMessage(message);
        tx.AdvanceConversation(conversation, current.Account, content.Lamport, message.Id);
        sessions.Queue(tx, current, content, message.Id, setup);
        attachment?.AlsoStore(tx, current, message);
        return MessageLedger.DecorateComposed(tx, message);
    }
}

/// <summary>What a message carries instead of a text (a file's manifest), and what is stored with it in its transaction.</summary>
internal sealed record Attachment(Action<Content> SetBody, Action<IChatTransaction, ContactRecord, MessageRecord> AlsoStore);
