using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Parley.Node.Api;

namespace Parley.Cli;

// The lines `parley node --json` and `parley device` print as things happen, one record per kind of line.
internal sealed record AddressLine(string Event, string Address);
internal sealed record BootstrapFailedLine(string Event, string Address, string Reason);
internal sealed record JoinedLine(string Event, int RoutingTable);
internal sealed record ContactLine(string Event, string Handle, string State);
internal sealed record ChatLine(string Event, string Handle, int MailboxEnvelopes);
internal sealed record MessageLine(string Event, string Id, string Contact, string Direction, string State, int StoredAt, string Text);
internal sealed record FileLine(string Event, string Id, string Direction, string State, long Size, long BytesHeld, long BytesSent, string? Problem);
internal sealed record PeerLine(string Event, string Peer, string? Address);
internal sealed record LinkCodeLine(string Event, string Code, DateTimeOffset ExpiresAt);
internal sealed record ConfirmLine(string Event, string? VerificationCode, string? DeviceName, string? Device);
internal sealed record DeviceLinkedLine(string Event, string? Device);
internal sealed record VerifyLine(string Event, string VerificationCode);
internal sealed record AccountLinkedLine(string Event, string Handle, string Account, int Contacts, int Rooms, int Messages);

// What the one-shot commands print with --json.
internal sealed record WhoAmI(string? Handle, string? Account, string Device);
internal sealed record NodeReport(StatusDto Status, List<ConnectionDto> Connections, List<string> RoutingTable);
internal sealed record SentReport(string Id, string To, string State, int StoredAt);
internal sealed record LinkReport(string Link, string Handle, string Fingerprint);
internal sealed record CreatedAccount(string Handle, string Account, int NameStoredAt);

/// <summary>
/// Every type the CLI writes as JSON or exchanges with the node's API, serialized by generated code rather than
/// reflection so the NativeAOT executable behaves as the JIT one. Web defaults: camelCase names, as the API.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(AddressLine))]
[JsonSerializable(typeof(BootstrapFailedLine))]
[JsonSerializable(typeof(JoinedLine))]
[JsonSerializable(typeof(ContactLine))]
[JsonSerializable(typeof(ChatLine))]
[JsonSerializable(typeof(MessageLine))]
[JsonSerializable(typeof(FileLine))]
[JsonSerializable(typeof(PeerLine))]
[JsonSerializable(typeof(LinkCodeLine))]
[JsonSerializable(typeof(ConfirmLine))]
[JsonSerializable(typeof(DeviceLinkedLine))]
[JsonSerializable(typeof(VerifyLine))]
[JsonSerializable(typeof(AccountLinkedLine))]
[JsonSerializable(typeof(WhoAmI))]
[JsonSerializable(typeof(NodeReport))]
[JsonSerializable(typeof(SentReport))]
[JsonSerializable(typeof(LinkReport))]
[JsonSerializable(typeof(CreatedAccount))]
[JsonSerializable(typeof(DemoCommand.Summary))]
[JsonSerializable(typeof(JsonElement))]
[JsonSerializable(typeof(ErrorDto))]
[JsonSerializable(typeof(EventDto))]
[JsonSerializable(typeof(StatusDto))]
[JsonSerializable(typeof(AddedContactDto))]
[JsonSerializable(typeof(ContactLinkDto))]
[JsonSerializable(typeof(DeviceJoinDto))]
[JsonSerializable(typeof(LinkOfferDto))]
[JsonSerializable(typeof(FileLimitDto))]
[JsonSerializable(typeof(GroupHistoryDto))]
[JsonSerializable(typeof(List<RequestDto>))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(ConnectionDto))]
[JsonSerializable(typeof(List<ConnectionDto>))]
[JsonSerializable(typeof(IReadOnlyList<ConnectionDto>))]
[JsonSerializable(typeof(MatchDto))]
[JsonSerializable(typeof(List<MatchDto>))]
[JsonSerializable(typeof(IReadOnlyList<MatchDto>))]
[JsonSerializable(typeof(FileDto))]
[JsonSerializable(typeof(List<FileDto>))]
[JsonSerializable(typeof(IReadOnlyList<FileDto>))]
[JsonSerializable(typeof(MessageDto))]
[JsonSerializable(typeof(DeliveryDetailDto))]
[JsonSerializable(typeof(List<MessageDto>))]
[JsonSerializable(typeof(IReadOnlyList<MessageDto>))]
[JsonSerializable(typeof(ContactDto))]
[JsonSerializable(typeof(List<ContactDto>))]
[JsonSerializable(typeof(IReadOnlyList<ContactDto>))]
[JsonSerializable(typeof(SafetyNumberDto))]
[JsonSerializable(typeof(IReadOnlyList<SafetyNumberDto>))]
[JsonSerializable(typeof(GroupDto))]
[JsonSerializable(typeof(List<GroupDto>))]
[JsonSerializable(typeof(IReadOnlyList<GroupDto>))]
[JsonSerializable(typeof(IReadOnlyList<GroupMemberDto>))]
[JsonSerializable(typeof(GroupMessageDto))]
[JsonSerializable(typeof(IReadOnlyList<GroupMessageDto>))]
[JsonSerializable(typeof(List<DeviceDto>))]
[JsonSerializable(typeof(IReadOnlyList<DeviceDto>))]
[JsonSerializable(typeof(SendRequest))]
[JsonSerializable(typeof(ConnectRequest))]
[JsonSerializable(typeof(AddContactRequest))]
[JsonSerializable(typeof(AddDeviceRequest))]
[JsonSerializable(typeof(ConfirmLinkRequest))]
[JsonSerializable(typeof(CreateGroupRequest))]
[JsonSerializable(typeof(JoinGroupRequest))]
[JsonSerializable(typeof(GroupSendRequest))]
[JsonSerializable(typeof(WhoRequest))]
[JsonSerializable(typeof(RenameRequest))]
[JsonSerializable(typeof(HistorySettingRequest))]
[JsonSerializable(typeof(EditRequest))]
[JsonSerializable(typeof(ReactRequest))]
[JsonSerializable(typeof(TypingRequest))]
[JsonSerializable(typeof(PrivacyDto))]
internal sealed partial class CliJson : JsonSerializerContext
{
    /// <summary>The generated description of <typeparamref name="T"/>; a type not listed above is a NotSupportedException.</summary>
    public static JsonTypeInfo<T> Of<T>() => (JsonTypeInfo<T>)Default.GetTypeInfo(typeof(T))!;

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Of<T>());
}
