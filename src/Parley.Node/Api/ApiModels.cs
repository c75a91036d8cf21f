using Parley.Chat.Messaging;
using Parley.Net.Host;

namespace Parley.Node.Api;

/// <summary>
/// What the local API sends and takes (JSON, camelCase). The web UI, the terminal chat and the CLI read these. In the
/// status, <c>reachability</c> is public, private or unknown (AutoNAT's verdict); <c>dhtMode</c> server or client;
/// <c>relays</c> the relays holding a reservation for us; <c>relaying</c> whether we relay for others.
/// </summary>
public sealed record StatusDto(
    string? Handle,
    string? Account,
    string Device,
    int Peers,
    IReadOnlyList<string> Addresses,
    int MailboxNodesAnswered,
    int MailboxNodesAsked,
    int Outbox,
    string Reachability,
    string DhtMode,
    IReadOnlyList<string> Relays,
    bool Relaying,
    int DirectConnections,
    int RelayedConnections,
    ResourcesDto? Resources = null);

/// <summary>What the node's host holds and what its limits refused since it started (docs/architecture.md, Limits).</summary>
public sealed record ResourcesDto(
    int InboundConnections,
    int OutboundConnections,
    int PendingHandshakes,
    int InboundStreams,
    int OutboundStreams,
    long BufferedBytes,
    IReadOnlyDictionary<string, long> Refusals)
{
    public static ResourcesDto From(Parley.Net.Resources.ResourceUsage usage) => new(
        usage.InboundConnections,
        usage.OutboundConnections,
        usage.PendingHandshakes,
        usage.InboundStreams,
        usage.OutboundStreams,
        usage.BufferedBytes,
        usage.Refusals.ToDictionary(r => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(r.Key.ToString()), r => r.Value));
}

/// <summary>One connection of the node: <c>relayed</c> when it runs through a relay, otherwise direct.</summary>
public sealed record ConnectionDto(string Peer, string Address, string Direction, bool Relayed, DateTimeOffset OpenedAt)
{
    public static ConnectionDto From(ConnectionInfo c) =>
        new(c.Peer.ToString(), c.RemoteAddress.ToString(), c.IsInbound ? "inbound" : "outbound", c.IsRelayed, c.OpenedAt);
}

/// <summary>A peer to connect to: a multiaddr ending in <c>/p2p/&lt;peer id&gt;</c>, direct or through a relay.</summary>
public sealed record ConnectRequest(string Address);

public sealed record ContactDto(string Handle, string Account, string State)
{
    public static ContactDto From(ContactRecord contact) => new(contact.Handle.ToString(), contact.Account.ToString(), Lower(contact.State));

    internal static string Lower<T>(T value)
        where T : struct, Enum => value.ToString().ToLowerInvariant();
}

public sealed record MessageDto(
    string Id,
    string Contact,
    string From,
    string Direction,
    string State,
    int StoredAt,
    string Text,
    ulong Lamport,
    DateTimeOffset SentAt,
    DateTimeOffset LocalAt,
    bool Request,
    bool Unread,
    QuoteDto? Quote = null,
    IReadOnlyList<ReactionDto>? Reactions = null,
    DateTimeOffset? EditedAt = null,
    bool Deleted = false)
{
    public static MessageDto Of(MessageRecord message, ContactRecord contact, string self)
    {
        string Name(Core.Identity.PeerId who) => who.Equals(contact.Account) ? contact.Handle.ToString() : self;
        return new(
            Convert.ToHexStringLower(message.Id),
            contact.Handle.ToString(),
            message.Direction == MessageDirection.Outgoing ? self : contact.Handle.ToString(),
            ContactDto.Lower(message.Direction),
            ContactDto.Lower(message.State),
            message.StoredCount,
            message.Text,
            message.Lamport,
            message.SentAt,
            message.LocalAt,
            message.IsContactRequest,
            message.Unread,
            message.Quote is { } quote ? QuoteDto.Of(quote, quote.From is { } from ? Name(from) : null) : null,
            message.Reactions.Select(r => new ReactionDto(Name(r.From), r.Emoji)).ToList(),
            message.EditedAt,
            message.Deleted);
    }
}

/// <summary>The message a reply quotes, as it stands now: <c>from</c> is null when this device does not have it.</summary>
public sealed record QuoteDto(string Id, string? From, string Text, bool Deleted)
{
    public static QuoteDto Of(QuotedMessage quote, string? from) => new(Convert.ToHexStringLower(quote.Id), from, quote.Text, quote.Deleted);
}

/// <summary>Someone's reaction to a message (one per person: their latest).</summary>
public sealed record ReactionDto(string From, string Emoji);

/// <summary><c>text</c>: the message's new text.</summary>
public sealed record EditRequest(string Text);

/// <summary><c>emoji</c>: one emoji; empty withdraws your reaction.</summary>
public sealed record ReactRequest(string? Emoji);

public sealed record TypingRequest(bool Typing);

/// <summary>Whether the typing note was sent: not when typing indicators are off, they are not an accepted contact, or they are away.</summary>
public sealed record TypingSentDto(bool Sent);

/// <summary>One of our messages and how far each of the recipient's devices has it (docs/devices.md).</summary>
public sealed record DeliveryDetailDto(MessageDto Message, IReadOnlyList<DeviceDeliveryDto> Devices)
{
    public static DeliveryDetailDto Of(DeliveryDetail detail, ContactRecord contact, string self) =>
        new(MessageDto.Of(detail.Message, contact, self), detail.Devices.Select(DeviceDeliveryDto.Of).ToList());
}

/// <param name="Name">The device's name in the recipient's device list; null for a contact without linked devices.</param>
/// <param name="State">"delivered" or "read"; null while the device is not known to have it.</param>
public sealed record DeviceDeliveryDto(string Device, string? Name, string? State, DateTimeOffset? At)
{
    public static DeviceDeliveryDto Of(DeviceDeliveryStatus status) =>
        new(status.Device.ToString(), status.Name, status.State is { } state ? ContactDto.Lower(state) : null, status.At);
}

/// <summary>An accepted contact typing to you, or stopping (shown only while you share typing indicators too).</summary>
public sealed record TypingDto(string Contact, bool Typing);

/// <summary>What an accepted contact shares of their presence: online now, or when last seen (null: never, or withdrawn).</summary>
public sealed record PresenceDto(string Contact, bool Online, DateTimeOffset? LastSeen);

/// <summary>What you share with accepted contacts; who shares nothing sees nothing of theirs either.</summary>
public sealed record PrivacyDto(bool SharePresence, bool ShareTyping)
{
    public static PrivacyDto Of(ChatPrivacy privacy) => new(privacy.SharePresence, privacy.ShareTyping);
}

public sealed record RequestDto(ContactDto Contact, string SafetyNumber, IReadOnlyList<MessageDto> Messages);

public sealed record MatchDto(string Handle, string Account);

/// <summary><c>replyTo</c>: the id of the message of the conversation this one replies to (and quotes).</summary>
public sealed record SendRequest(string To, string Text, string? ReplyTo = null);

public sealed record ReadDto(int Marked);

public sealed record SafetyNumberDto(string Contact, string SafetyNumber);

public sealed record ErrorDto(string Error);

/// <summary>
/// One WebSocket event: <c>type</c> is message, state, update (a message was edited or deleted, or its reactions
/// changed), contact, status, group (a room changed), groupMessage (a room message arrived, or one of ours reached
/// more members), groupUpdate (a room message was edited, deleted or reacted to), typing, presence, or session (a
/// session with a contact was repaired), or file (a file appeared, moved on or changed state: a few times a second at
/// most while it is transferred); the matching field is set.
/// </summary>
public sealed record EventDto(
    string Type,
    MessageDto? Message = null,
    ContactDto? Contact = null,
    StatusDto? Status = null,
    GroupDto? Group = null,
    GroupMessageDto? GroupMessage = null,
    SessionResetDto? Session = null,
    TypingDto? Typing = null,
    PresenceDto? Presence = null,
    FileDto? File = null);

/// <summary>
/// A session with a contact could not be decrypted and is being repaired: <c>kind</c> is requested (we could not read
/// them and asked for a new session) or restarted (we started one at their request and resent <c>resent</c> queued
/// messages); <c>notice</c> says it in words for the user.
/// </summary>
public sealed record SessionResetDto(string Contact, string Kind, int Resent, string Notice)
{
    public static SessionResetDto Of(SessionResetEventArgs reset) =>
        new(reset.Contact.Handle.ToString(), ContactDto.Lower(reset.Kind), reset.Resent, reset.Notice);
}

public sealed record GroupMemberDto(string Handle, string Account, bool Admin)
{
    public static GroupMemberDto Of(GroupMemberInfo member) => new(member.Handle.ToString(), member.Account.ToPeerId().ToString(), member.IsAdmin);
}

/// <summary>A room: <c>status</c> is invited, requested, member, left or removed; <c>inviteLink</c> only for admins.</summary>
public sealed record GroupDto(
    string Id,
    string Name,
    string Status,
    bool IsAdmin,
    bool History,
    ulong Epoch,
    IReadOnlyList<GroupMemberDto> Members,
    IReadOnlyList<GroupMemberDto> Requests,
    IReadOnlyList<GroupMemberDto> Invited,
    IReadOnlyList<string> Log,
    string? InviteLink)
{
    public static GroupDto Of(GroupInfo group) => new(
        group.IdText,
        group.Name,
        ContactDto.Lower(group.Status),
        group.IsAdmin,
        group.HistoryEnabled,
        group.Epoch,
        group.Members.Select(GroupMemberDto.Of).ToList(),
        group.Requests.Select(GroupMemberDto.Of).ToList(),
        group.Invited.Select(GroupMemberDto.Of).ToList(),
        group.Audit,
        group.InviteLink);
}

/// <summary>A room message; for our own, how many of the other members' copies are stored and delivered.</summary>
public sealed record GroupMessageDto(
    string Id,
    string Room,
    string From,
    bool Outgoing,
    string Text,
    ulong Lamport,
    DateTimeOffset SentAt,
    DateTimeOffset LocalAt,
    int Recipients,
    int Stored,
    int Delivered,
    bool Unread,
    bool FromHistory,
    QuoteDto? Quote = null,
    IReadOnlyList<ReactionDto>? Reactions = null,
    DateTimeOffset? EditedAt = null,
    bool Deleted = false)
{
    public static GroupMessageDto Of(GroupMessageRecord message, GroupInfo group)
    {
        var sender = (group.Members.FirstOrDefault(m => m.Account.Equals(message.Sender))?.Handle
            ?? GroupMemberInfo.Of("unknown", message.Sender, false).Handle).ToString();
        // Who quoted or reacted: a member, the sender, or someone who left the room since.
        string Name(Core.Identity.PeerId account) =>
            group.Members.FirstOrDefault(m => m.Account.ToPeerId().Equals(account))?.Handle.ToString()
            ?? (account.Equals(message.Sender.ToPeerId()) ? sender : "unknown");
        return new(
            Convert.ToHexStringLower(message.Id),
            group.IdText,
            sender,
            message.Outgoing,
            message.Text,
            message.Lamport,
            message.SentAt,
            message.LocalAt,
            message.Recipients,
            message.Stored,
            message.Delivered,
            message.Unread,
            message.FromHistory,
            message.Quote is { } quote ? QuoteDto.Of(quote, quote.From is { } from ? Name(from) : null) : null,
            message.Reactions.Select(r => new ReactionDto(Name(r.From), r.Emoji)).ToList(),
            message.EditedAt,
            message.Deleted);
    }
}

/// <summary>Messages of a member that this node knows exist (by their chain) but has not got: shown as a gap.</summary>
public sealed record GapDto(string From, uint FirstIteration, uint LastIteration);

public sealed record GroupHistoryDto(IReadOnlyList<GroupMessageDto> Messages, IReadOnlyList<GapDto> Gaps);

public sealed record CreateGroupRequest(string Name, bool History = true);

public sealed record JoinGroupRequest(string Room);

public sealed record WhoRequest(string Who);

public sealed record RenameRequest(string Name);

public sealed record HistorySettingRequest(bool Enabled);

/// <summary><c>replyTo</c>: the id of the room message this one replies to (and quotes).</summary>
public sealed record GroupSendRequest(string Text, string? ReplyTo = null);

/// <summary>Your contact link, your half of every safety number in it, and its QR code (rows of modules, '1' dark, quiet zone included).</summary>
public sealed record ContactLinkDto(string Link, string Handle, string Fingerprint, IReadOnlyList<string> Qr);

/// <summary><c>text</c>: the request's first message (a greeting when absent).</summary>
public sealed record AddContactRequest(string? Link, string? Text = null);

/// <summary>A contact added by link: the safety number matched; <c>request</c> is the message sent, if one was (not when already talking).</summary>
public sealed record AddedContactDto(ContactDto Contact, string SafetyNumber, bool SafetyNumberMatched, MessageDto? Request);

/// <summary>The refusal when a link's safety number does not match the key found for its handle.</summary>
public sealed record LinkMismatchDto(string Error, bool SafetyNumberMismatch = true);

/// <summary>The largest file this user sends or fetches, in bytes (<c>GET</c> and <c>PUT /api/files/limit</c>).</summary>
public sealed record FileLimitDto(long Bytes);

/// <summary>
/// A file sent or received (docs/files.md). <c>thumbnailType</c> (image/jpeg or image/webp) says that an image's small
/// preview is at <c>/api/files/{id}/thumbnail</c>; null without one.
/// </summary>
public sealed record FileDto(
    string Id,
    string Message,
    string Peer,
    bool InRoom,
    bool Outgoing,
    string Name,
    long Size,
    string MediaType,
    string State,
    long BytesHeld,
    long BytesSent,
    bool Active,
    string? SavedAs,
    string? Problem,
    string? ThumbnailType,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public static FileDto Of(Parley.Chat.Files.ChatFile file) => new(
        file.IdText,
        Convert.ToHexStringLower(file.MessageId),
        file.Peer.ToString(),
        file.InRoom,
        file.Outgoing,
        file.Name,
        file.Size,
        file.MediaType,
        ContactDto.Lower(file.State),
        file.BytesHeld,
        file.BytesSent,
        file.Active,
        file.SavedAs,
        file.Problem,
        file.ThumbnailType,
        file.CreatedAt,
        file.UpdatedAt);
}

/// <summary><c>url</c>: where the file downloads once, without the token, within a minute (a path on this node).</summary>
public sealed record DownloadDto(string Url);
