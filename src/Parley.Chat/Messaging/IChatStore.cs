using Parley.Chat.Files;
using Parley.Core.Identity;

namespace Parley.Chat.Messaging;

/// <summary>
/// Durable chat state: the account, contacts, sessions, conversations, messages and outbox. The chat core does every
/// state change of one step (receive, send, accept…) inside one <see cref="TransactAsync{T}"/>, so a process killed at
/// any instant leaves each step wholly done or not at all. Implementations keep secrets (keys, ratchet states)
/// encrypted at rest.
/// </summary>
public interface IChatStore
{
    /// <summary>Runs <paramref name="work"/> in one transaction: all its writes are committed if it returns, none if it throws.</summary>
    Task<T> TransactAsync<T>(Func<IChatTransaction, T> work, CancellationToken cancellationToken);

    /// <summary>Runs <paramref name="read"/> against a consistent view.</summary>
    Task<T> ReadAsync<T>(Func<IChatReader, T> read, CancellationToken cancellationToken);
}

public interface IChatReader
{
    AccountRecord? GetAccount();

    ContactRecord? GetContact(PeerId account);

    IReadOnlyList<ContactRecord> GetContacts();

    /// <summary>Contacts whose name is <paramref name="name"/>, ASCII case ignored (names are ASCII).</summary>
    IReadOnlyList<ContactRecord> GetContactsNamed(string name);

    bool HasSession(PeerId contact);

    SessionRecord? GetSession(PeerId contact, byte[] sessionId);

    /// <summary>Sessions with <paramref name="contact"/>, the one to send on first (last received on, then newest).</summary>
    IReadOnlyList<SessionRecord> GetSessions(PeerId contact);

    PrekeyRecord? GetPrekey(uint id, bool oneTime);

    IReadOnlyList<PrekeyRecord> GetPrekeys(bool oneTime);


    MessageRecord? GetMessage(byte[] messageId);

    /// <summary>Which of the recipient's devices have our message, and which read it (<see cref="PutDeviceDelivery"/>), in the order first recorded.</summary>
    IReadOnlyList<DeviceDelivery> GetDeviceDeliveries(byte[] messageId);

    /// <summary>Texts of a conversation (not the actions on them) in display order (Lamport clock, then sender, then id); the last <paramref name="limit"/>.</summary>
    IReadOnlyList<MessageRecord> GetMessages(byte[] conversationId, int limit);

    /// <summary>The edits, deletions and reactions that name a message, in display order.</summary>
    IReadOnlyList<MessageRecord> GetActions(byte[] targetId);

    /// <summary>A conversation's edits, deletions and reactions from Lamport clock <paramref name="lamport"/> on, in display order; the first <paramref name="limit"/>.</summary>
    IReadOnlyList<MessageRecord> GetActionsSince(byte[] conversationId, ulong lamport, int limit);

    /// <summary>Incoming messages not yet shown, in display order per conversation.</summary>
    IReadOnlyList<MessageRecord> GetUnread(int limit);

    /// <summary>The highest Lamport clock seen in the conversation and the ids of the messages that carry it.</summary>
    (ulong Lamport, IReadOnlyList<byte[]> Heads) GetConversationClock(byte[] conversationId);

    IReadOnlyList<OutboxItem> GetOutbox(DateTimeOffset dueBy, int limit);

    OutboxItem? GetOutboxItem(byte[] envelopeId);

    /// <summary>Every outbox entry for <paramref name="recipient"/>, due or not, oldest first.</summary>
    IReadOnlyList<OutboxItem> GetOutboxFor(PeerId recipient);

    /// <summary>Outbox entries, of one stage or (null) all.</summary>
    int CountOutbox(OutboxStage? stage = null);

    /// <summary>Our devices' certificates.</summary>
    IReadOnlyList<byte[]> GetDeviceCertificates();

    IReadOnlyList<GroupRecord> GetGroups();

    GroupRecord? GetGroup(byte[] groupId);

    /// <summary>The room's membership entries in the order they were stored.</summary>
    IReadOnlyList<byte[]> GetGroupEntries(byte[] groupId);

    /// <summary>The room's texts (not the actions on them) in display order (Lamport clock, sender, id); the last <paramref name="limit"/>.</summary>
    IReadOnlyList<GroupMessageRecord> GetGroupMessages(byte[] groupId, int limit);

    /// <summary>Every message of the room, texts and actions, in display order: the room's timeline; the last <paramref name="limit"/>.</summary>
    IReadOnlyList<GroupMessageRecord> GetGroupTimeline(byte[] groupId, int limit);

    /// <summary>The edits, deletions and reactions that name a room message, in display order.</summary>
    IReadOnlyList<GroupMessageRecord> GetGroupActions(byte[] targetId);

    /// <summary>A room's edits, deletions and reactions from Lamport clock <paramref name="lamport"/> on, in display order; the first <paramref name="limit"/>.</summary>
    IReadOnlyList<GroupMessageRecord> GetGroupActionsSince(byte[] groupId, ulong lamport, int limit);

    GroupMessageRecord? GetGroupMessage(byte[] messageId);

    /// <summary>Messages of one sender chain with iterations in [first, last], for members who miss them.</summary>
    IReadOnlyList<GroupMessageRecord> GetGroupMessagesOfChain(byte[] groupId, PublicKey sender, byte[] epoch, uint chainId, uint first, uint last);

    /// <summary>Group ciphertexts that could not be read yet (their chain or sender's entry had not arrived).</summary>
    IReadOnlyList<(long Id, byte[] Ciphertext)> GetGroupPending(byte[] groupId);

    /// <summary>A value of the node's own bookkeeping (mailbox policy sequence, last prekey rotation…), or null.</summary>
    byte[]? GetSetting(string name);

    FileRecord? GetFile(byte[] fileId);

    /// <summary>The file a message carried, if any.</summary>
    FileRecord? GetFileOfMessage(byte[] messageId);

    /// <summary>Files, newest first; the first <paramref name="limit"/>.</summary>
    IReadOnlyList<FileRecord> GetFiles(int limit);

    /// <summary>Incoming files not saved yet (<see cref="FileRecord.IsUnfinished"/>), oldest first.</summary>
    IReadOnlyList<FileRecord> GetUnfinishedFiles(int limit);
}

public interface IChatTransaction : IChatReader
{
    void PutAccount(AccountRecord account);

    void PutContact(ContactRecord contact);

    void PutSession(SessionRecord session);

    void DeleteSession(PeerId contact, byte[] sessionId);

    void PutPrekey(PrekeyRecord prekey);

    void DeletePrekey(uint id, bool oneTime);

    /// <summary>Records an envelope id; false if it was recorded before (a duplicate). Rolled back with the transaction.</summary>
    bool MarkEnvelopeSeen(byte[] envelopeId, DateTimeOffset at);

    /// <summary>Stores the message unless one with its id exists; true if it was new.</summary>
    bool InsertMessage(MessageRecord message);

    void UpdateMessageState(byte[] messageId, DeliveryState state, int storedCount);

    /// <summary>Moves a message forward to <paramref name="state"/> (never back); the updated message, or null when it is unknown or already there.</summary>
    MessageRecord? AdvanceMessageState(byte[] messageId, DeliveryState state);

    void MarkRead(byte[] messageId);

    /// <summary>Records that one device of the recipient has our message (or read it); a device's state only moves forward, with the time it got there.</summary>
    void PutDeviceDelivery(byte[] messageId, DeviceDelivery delivery);

    /// <summary>Shows <paramref name="text"/> as the message's text from now on, edited at <paramref name="editedAt"/>.</summary>
    void EditMessage(byte[] messageId, string text, DateTimeOffset editedAt);

    /// <summary>Erases a message's text and marks it deleted; the row stays, so a late copy or action finds it deleted.</summary>
    void EraseMessage(byte[] messageId);

    /// <summary>Deletes every message of a conversation (a blocked request is not kept).</summary>
    void DeleteMessages(byte[] conversationId);

    /// <summary>Advances the conversation's clock with a stored message: its Lamport clock and, if it is among the latest, its id as a head.</summary>
    void AdvanceConversation(byte[] conversationId, PeerId? contact, ulong lamport, byte[] messageId);

    void PutDevice(byte[] deviceKey, byte[] certificate, DateTimeOffset addedAt);

    /// <summary>Forgets a device's certificate (nothing when there is none).</summary>
    void DeleteDevice(byte[] deviceKey);

    void PutOutbox(OutboxItem item);

    void DeleteOutbox(byte[] envelopeId);

    /// <summary>Deletes the outbox entries that carry <paramref name="messageId"/>.</summary>
    void DeleteOutboxForMessage(byte[] messageId);

    void PutSetting(string name, byte[] value);

    void PutGroup(GroupRecord group);

    /// <summary>Stores an entry unless the room already has it.</summary>
    void AddGroupEntry(byte[] groupId, byte[] entryId, byte[] entry);

    /// <summary>Stores the message unless one with its id exists; true if it was new.</summary>
    bool InsertGroupMessage(GroupMessageRecord message);

    /// <summary>Counts one more member copy of our message as stored or as delivered.</summary>
    void CountGroupCopy(byte[] messageId, bool delivered);

    void MarkGroupRead(byte[] groupId);

    /// <summary>Shows <paramref name="text"/> as the room message's text from now on (its body keeps what was signed).</summary>
    void EditGroupMessage(byte[] messageId, string text, DateTimeOffset editedAt);

    /// <summary>Erases a room message: its text, its ciphertext, and its body for <paramref name="erasedBody"/> (the body without text or action); marks it deleted.</summary>
    void EraseGroupMessage(byte[] messageId, byte[] erasedBody);

    /// <summary>Keeps a ciphertext to read later; the oldest beyond <paramref name="maxPerGroup"/> are dropped.</summary>
    void AddGroupPending(byte[] groupId, byte[] ciphertext, DateTimeOffset at, int maxPerGroup);

    void DeleteGroupPending(long id);

    /// <summary>Forgets seen-envelope ids older than <paramref name="before"/> (mailboxes drop envelopes after 30 days anyway).</summary>
    void ForgetSeenEnvelopes(DateTimeOffset before);

    /// <summary>Stores a file's record, replacing the one with its id.</summary>
    void PutFile(FileRecord file);
}
