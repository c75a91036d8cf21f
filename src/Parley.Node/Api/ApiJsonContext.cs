using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http;
using Parley.Chat.Messaging;

namespace Parley.Node.Api;

/// <summary>
/// Every type the local API reads or writes as JSON, serialized by generated code rather than reflection, so the
/// NativeAOT build (docs/benchmarks.md) answers as the JIT build does. The API uses this context alone, also in the JIT
/// build, so a type missing here fails the tests instead of only the AOT executable.
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(StatusDto))]
[JsonSerializable(typeof(List<ConnectionDto>))]
[JsonSerializable(typeof(ConnectRequest))]
[JsonSerializable(typeof(List<string>))]
[JsonSerializable(typeof(ContactDto))]
[JsonSerializable(typeof(List<ContactDto>))]
[JsonSerializable(typeof(List<RequestDto>))]
[JsonSerializable(typeof(List<MatchDto>))]
[JsonSerializable(typeof(SendRequest))]
[JsonSerializable(typeof(MessageDto))]
[JsonSerializable(typeof(List<MessageDto>))]
[JsonSerializable(typeof(ReadDto))]
[JsonSerializable(typeof(SafetyNumberDto))]
[JsonSerializable(typeof(MailboxPass))]
[JsonSerializable(typeof(ErrorDto))]
[JsonSerializable(typeof(LinkMismatchDto))]
[JsonSerializable(typeof(EventDto))]
[JsonSerializable(typeof(EditRequest))]
[JsonSerializable(typeof(ReactRequest))]
[JsonSerializable(typeof(TypingRequest))]
[JsonSerializable(typeof(TypingSentDto))]
[JsonSerializable(typeof(DeliveryDetailDto))]
[JsonSerializable(typeof(List<PresenceDto>))]
[JsonSerializable(typeof(PrivacyDto))]
[JsonSerializable(typeof(GroupDto))]
[JsonSerializable(typeof(List<GroupDto>))]
[JsonSerializable(typeof(GroupMessageDto))]
[JsonSerializable(typeof(GroupHistoryDto))]
[JsonSerializable(typeof(CreateGroupRequest))]
[JsonSerializable(typeof(JoinGroupRequest))]
[JsonSerializable(typeof(WhoRequest))]
[JsonSerializable(typeof(RenameRequest))]
[JsonSerializable(typeof(HistorySettingRequest))]
[JsonSerializable(typeof(GroupSendRequest))]
[JsonSerializable(typeof(ContactLinkDto))]
[JsonSerializable(typeof(AddContactRequest))]
[JsonSerializable(typeof(AddedContactDto))]
[JsonSerializable(typeof(FileLimitDto))]
[JsonSerializable(typeof(FileDto))]
[JsonSerializable(typeof(List<FileDto>))]
[JsonSerializable(typeof(DownloadDto))]
[JsonSerializable(typeof(List<DeviceDto>))]
[JsonSerializable(typeof(LinkOfferDto))]
[JsonSerializable(typeof(ConfirmLinkRequest))]
[JsonSerializable(typeof(AddDeviceRequest))]
[JsonSerializable(typeof(DeviceJoinDto))]
public sealed partial class ApiJsonContext : JsonSerializerContext
{
    /// <summary>The events on the WebSocket leave out the fields that do not apply to their type.</summary>
    public static ApiJsonContext Events { get; } = new(new JsonSerializerOptions(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull });

    /// <summary>An error answer: <c>{"error": "..."}</c> with the given status.</summary>
    public static IResult Error(ErrorDto error, int statusCode) => Results.Json(error, Default.ErrorDto, statusCode: statusCode);
}
