using Parley.Chat.Messaging;

namespace Parley.Node.Api;

/// <summary>What the local API sends and takes (JSON, camelCase). The web UI, the terminal chat and the CLI read these.</summary>
public sealed record StatusDto(
    string? Handle,
    string? Account,
    string Device,
    int Peers,
    IReadOnlyList<string> Addresses,
    int MailboxNodesAnswered,
    int MailboxNodesAsked,
    int Outbox);

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
    bool Unread)
{
    public static MessageDto Of(MessageRecord message, ContactRecord contact, string self) => new(
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
        message.Unread);
}

public sealed record RequestDto(ContactDto Contact, string SafetyNumber, IReadOnlyList<MessageDto> Messages);

public sealed record MatchDto(string Handle, string Account);

public sealed record SendRequest(string To, string Text);

public sealed record ReadDto(int Marked);

public sealed record SafetyNumberDto(string Contact, string SafetyNumber);

public sealed record ErrorDto(string Error);

/// <summary>One WebSocket event: <c>type</c> is message, state, contact or status; the matching field is set.</summary>
public sealed record EventDto(string Type, MessageDto? Message = null, ContactDto? Contact = null, StatusDto? Status = null);
