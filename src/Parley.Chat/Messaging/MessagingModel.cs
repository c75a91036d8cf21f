using Parley.Chat.Identity;
using Parley.Core.Identity;

namespace Parley.Chat.Messaging;

/// <summary>Where a contact stands with us.</summary>
public enum ContactState
{
    /// <summary>We wrote to them first; they have not accepted yet.</summary>
    Requested,

    /// <summary>They wrote to us first; we have not answered their request yet. Their messages wait with the request.</summary>
    Pending,

    Accepted,

    /// <summary>Their messages are dropped unread and unacknowledged.</summary>
    Blocked,

    /// <summary>Known through a room we share, not a personal contact: room traffic flows, a 1:1 message is a request.</summary>
    GroupPeer,
}

/// <summary>What the user sees of an outgoing message; never claims more than was confirmed.</summary>
public enum DeliveryState
{
    /// <summary>Encrypted and in the outbox; no node has it yet.</summary>
    Queued,

    /// <summary>Held by <see cref="MessageRecord.StoredCount"/> of the recipient's mailbox nodes.</summary>
    Stored,

    /// <summary>The recipient's device decrypted and stored it (end-to-end acknowledgement).</summary>
    Delivered,

    /// <summary>The recipient has seen it.</summary>
    Read,

    /// <summary>An incoming message.</summary>
    Received,
}

public enum MessageDirection
{
    Outgoing,
    Incoming,
}

public sealed record ContactRecord(
    PeerId Account,
    PublicKey AccountKey,
    byte[] IdentityDhKey,
    string Name,
    ContactState State,
    byte[]? TheirMailboxToken,
    byte[]? OurMailboxToken,
    DateTimeOffset CreatedAt)
{
    public Handle Handle => new(Name, Handle.TagOf(AccountKey));
}

/// <summary>The X3DH header a session's messages carry until the other side has answered on it.</summary>
public sealed record PendingPrekey(byte[] EphemeralKey, uint SignedPrekeyId, uint? OneTimePrekeyId);

/// <summary>One Double Ratchet session with a contact; a pair can have a few (both wrote first at once).</summary>
/// <summary>A pairwise session. <see cref="Device"/>: the contact's device it is with, when the contact has linked devices
/// (docs/devices.md); null for a session with the device that holds the account's records (every session of a
/// single-device account, and every session stored before linked devices).</summary>
public sealed record SessionRecord(PeerId Contact, byte[] SessionId, byte[] State, PendingPrekey? Prekey, DateTimeOffset LastReceivedAt, DateTimeOffset CreatedAt, PeerId? Device = null);

/// <summary>
/// What a stored message is: a text (a reply when it names the message it quotes), or an action on another message of
/// the conversation or room, which is stored as a row of its own (so one that arrives before its message waits for it)
/// and is shown only through the message it acts on.
/// </summary>
public enum MessageKind
{
    Text,
    Edit,
    Deletion,
    Reaction,
}

/// <summary>A message of a 1:1 conversation, or an action on one (<see cref="Kind"/>).</summary>
/// <param name="Text">For an edit its new text, for a reaction its emoji (empty: withdrawn); empty once erased.</param>
/// <param name="Target">The message a reply quotes, or the message an action acts on.</param>
/// <param name="EditedAt">When the text shown was last edited (the edit's sender clock), if it was.</param>
/// <param name="Deleted">Erased: deleted for everyone by its author (or an action on such a message).</param>
public sealed record MessageRecord(
    byte[] Id,
    byte[] ConversationId,
    PeerId Sender,
    MessageDirection Direction,
    ulong Lamport,
    IReadOnlyList<byte[]> Parents,
    string Text,
    DeliveryState State,
    int StoredCount,
    DateTimeOffset SentAt,
    DateTimeOffset LocalAt,
    bool IsContactRequest,
    bool Unread,
    MessageKind Kind = MessageKind.Text,
    byte[]? Target = null,
    DateTimeOffset? EditedAt = null,
    bool Deleted = false)
{
    /// <summary>Reactions to this message, one per person; filled when the chat core shows it, not stored with it.</summary>
    public IReadOnlyList<Reaction> Reactions { get; init; } = [];

    /// <summary>The message this one replies to, as it stands now; filled when the chat core shows it.</summary>
    public QuotedMessage? Quote { get; init; }
}

/// <summary>How far one device of the recipient has a message of ours (docs/devices.md): <see cref="DeliveryState.Delivered"/> or <see cref="DeliveryState.Read"/>, since <paramref name="At"/>.</summary>
/// <param name="Device">The recipient's device; their account's id when they have no linked devices (or it came on their account route).</param>
public sealed record DeviceDelivery(PeerId Device, DeliveryState State, DateTimeOffset At);

/// <summary>One of our 1:1 messages and how far each of the recipient's devices has it (docs/devices.md, per-device detail).</summary>
public sealed record DeliveryDetail(MessageRecord Message, IReadOnlyList<DeviceDeliveryStatus> Devices);

/// <summary>How far one device of the recipient has a message, as far as this device knows.</summary>
/// <param name="Device">The device; the contact's account id for a contact without linked devices (or what came on their account route).</param>
/// <param name="Name">Its name in the contact's device list; null when they have none or it is no longer listed.</param>
/// <param name="State"><see cref="DeliveryState.Delivered"/> or <see cref="DeliveryState.Read"/>; null: not known to have it yet.</param>
public sealed record DeviceDeliveryStatus(PeerId Device, string? Name, DeliveryState? State, DateTimeOffset? At);

/// <summary>Someone's reaction to a message (the latest they sent).</summary>
public sealed record Reaction(PeerId From, string Emoji, DateTimeOffset At);

/// <summary>The message a reply quotes: <paramref name="From"/> is null when this device does not have it.</summary>
public sealed record QuotedMessage(byte[] Id, PeerId? From, string Text, bool Deleted);

/// <summary>Stages of an outbox entry.</summary>
public enum OutboxStage
{
    /// <summary>Not yet held by anyone: tried again with backoff.</summary>
    Sending,

    /// <summary>In the recipient's mailbox; waiting for the acknowledgement, tried directly now and then.</summary>
    Stored,
}

/// <summary>
/// An encrypted envelope waiting to reach its recipient. <see cref="MessageId"/> is null for receipts and other control
/// messages. <see cref="Content"/> is the plaintext <c>Content</c> of a pairwise envelope (sealed at rest), kept so that
/// session repair can encrypt it again on a new session; null for room copies and session resets. <see cref="Device"/>:
/// the one device of the recipient's account it goes to (a linked device, docs/devices.md); null for the account's
/// route (its presence and mailbox), as for every single-device account.
/// </summary>
public sealed record OutboxItem(
    byte[] EnvelopeId,
    PeerId Recipient,
    byte[]? MessageId,
    byte[] Envelope,
    OutboxStage Stage,
    int Attempts,
    DateTimeOffset NextAttemptAt,
    DateTimeOffset CreatedAt,
    byte[]? Content = null,
    PeerId? Device = null);

/// <summary>The user's own secrets and name; one per data folder.</summary>
public sealed record AccountRecord(byte[] AccountSeed, byte[] IdentityDhPrivateKey, string Name, ulong? NameProofOfWork, DateTimeOffset CreatedAt);

/// <summary>A signed prekey or a one-time prekey of ours.</summary>
public sealed record PrekeyRecord(uint Id, bool OneTime, byte[] PrivateKey, byte[] PublicKey, DateTimeOffset CreatedAt);

/// <summary>Where this user stands in a room.</summary>
public enum GroupStatus
{
    /// <summary>Invited (a welcome arrived); becomes a member by joining.</summary>
    Invited,

    /// <summary>Asked to join through the room's link; waits for an admin.</summary>
    Requested,

    Member,

    Left,

    Removed,
}

/// <summary>A room as stored: its link key, who sent us its link, our status, and our sender keys (sealed at rest).</summary>
public sealed record GroupRecord(byte[] Id, byte[] LinkKey, string AdminHandle, GroupStatus Status, byte[]? Session, DateTimeOffset CreatedAt);

/// <summary>
/// A group message as stored: the decrypted body (to rebuild the room's timeline), the ciphertext the room saw (to give
/// members who miss it), and for our own messages how many of the other members' copies are stored and delivered.
/// </summary>
/// <remarks><see cref="Kind"/>, <see cref="Target"/>, <see cref="EditedAt"/> and <see cref="Deleted"/> as in
/// <see cref="MessageRecord"/>; an erased one keeps its body without text or action, and no ciphertext.</remarks>
public sealed record GroupMessageRecord(
    byte[] Id,
    byte[] GroupId,
    PublicKey Sender,
    byte[] Epoch,
    uint ChainId,
    uint Iteration,
    ulong Lamport,
    byte[] Body,
    byte[]? Ciphertext,
    string Text,
    DateTimeOffset SentAt,
    DateTimeOffset LocalAt,
    bool Outgoing,
    int Recipients,
    int Stored,
    int Delivered,
    bool Unread,
    bool FromHistory,
    MessageKind Kind = MessageKind.Text,
    byte[]? Target = null,
    DateTimeOffset? EditedAt = null,
    bool Deleted = false)
{
    /// <summary>Reactions to this message, one per member; filled when the chat core shows it, not stored with it.</summary>
    public IReadOnlyList<Reaction> Reactions { get; init; } = [];

    /// <summary>The room message this one replies to, as it stands now; filled when the chat core shows it.</summary>
    public QuotedMessage? Quote { get; init; }
}
