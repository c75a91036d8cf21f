using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Parley.Chat.Messaging;

namespace Parley.Node.Api;

/// <summary>
/// What people do with messages besides sending them (docs/api.md): edit and delete for everyone, react; a message's
/// delivery to each of the recipient's devices; typing, presence, and what of both the user shares. A message is named by its id (hex), in its conversation or room.
/// </summary>
internal static class MessageActionEndpoints
{
    public static void Map(IEndpointRouteBuilder app, ParleyNode node)
    {
        var direct = app.MapGroup("/api/messages/{who}");
        direct.MapPost("/{id}/edit", (string who, string id, EditRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            await DirectAsync(chat, who, await chat.EditAsync(who, MessageId(id), Require(request.Text), ct), ct)))
            .WithSummary("Give one of your messages a new text (for 24 hours after sending it); both sides show it edited");
        direct.MapPost("/{id}/delete", (string who, string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            await DirectAsync(chat, who, await chat.DeleteForEveryoneAsync(who, MessageId(id), ct), ct)))
            .WithSummary("Delete one of your messages for everyone (for 24 hours after sending it): its text is erased on both sides");
        direct.MapPost("/{id}/react", (string who, string id, ReactRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            await DirectAsync(chat, who, await chat.ReactAsync(who, MessageId(id), request.Emoji ?? "", ct), ct)))
            .WithSummary("React to a message with one emoji (it replaces your earlier reaction); an empty emoji withdraws it");
        direct.MapGet("/{id}/delivery", (string who, string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            var detail = await chat.GetDeliveryDetailAsync(who, MessageId(id), ct);
            return Results.Ok(DeliveryDetailDto.Of(detail, await chat.GetContactAsync(who, ct), chat.Handle.ToString()));
        })).WithSummary("Which of the recipient's devices have one of your messages delivered, and which read it (docs/devices.md)");
        direct.MapPost("/typing", (string who, TypingRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(new TypingSentDto(await chat.SendTypingAsync(who, request.Typing, ct)))))
            .WithSummary("Tell an accepted contact you started or stopped typing (only directly, never stored; not when typing indicators are off)");

        var rooms = app.MapGroup("/api/groups/{room}/messages/{id}");
        rooms.MapPost("/edit", (string room, string id, EditRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            await RoomAsync(chat, room, await chat.EditInGroupAsync(room, MessageId(id), Require(request.Text), ct), ct)))
            .WithSummary("Give one of your room messages a new text (for 24 hours after sending it)");
        rooms.MapPost("/delete", (string room, string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            await RoomAsync(chat, room, await chat.DeleteInGroupForEveryoneAsync(room, MessageId(id), ct), ct)))
            .WithSummary("Delete one of your room messages for every member (for 24 hours after sending it)");
        rooms.MapPost("/react", (string room, string id, ReactRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            await RoomAsync(chat, room, await chat.ReactInGroupAsync(room, MessageId(id), request.Emoji ?? "", ct), ct)))
            .WithSummary("React to a room message with one emoji; an empty emoji withdraws your reaction");

        var api = app.MapGroup("/api");
        api.MapGet("/presence", (CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            var contacts = (await chat.GetContactsAsync(ct)).ToDictionary(c => c.Account);
            var presence = await chat.GetPresenceAsync(ct);
            return Results.Ok(presence.Where(p => contacts.ContainsKey(p.Key)).Select(p => new PresenceDto(contacts[p.Key].Handle.ToString(), p.Value.Online, p.Value.LastSeen)).ToList());
        })).WithSummary("Which accepted contacts are online, and when the others were last seen (empty while you do not share yours)");
        api.MapGet("/privacy", (CancellationToken ct) => ApiEndpoints.WithChat(node, async chat => Results.Ok(PrivacyDto.Of(await chat.GetPrivacyAsync(ct)))))
            .WithSummary("Whether you share your online status and typing indicators with accepted contacts");
        api.MapPost("/privacy", (PrivacyDto request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(PrivacyDto.Of(await chat.SetPrivacyAsync(new ChatPrivacy(request.SharePresence, request.ShareTyping), ct)))))
            .WithSummary("Share (or stop sharing) your online status and typing indicators; who shares nothing sees nothing of the others' either");
    }

    /// <summary>A message id as the API gives it (32 hex digits in a conversation, 64 in a room).</summary>
    /// <exception cref="FormatException">Not hexadecimal.</exception>
    internal static byte[] MessageId(string id) =>
        id.Length is 32 or 64 && id.All(Uri.IsHexDigit) ? Convert.FromHexString(id) : throw new FormatException("a message id is 32 or 64 hexadecimal digits");

    /// <summary>The optional id of the message replied to.</summary>
    internal static byte[]? ReplyTo(string? id) => string.IsNullOrEmpty(id) ? null : MessageId(id);

    private static string Require(string? text) => string.IsNullOrWhiteSpace(text) ? throw new ChatException("give \"text\"") : text;

    private static async Task<IResult> DirectAsync(ChatClient chat, string who, MessageRecord message, CancellationToken cancellationToken) =>
        Results.Ok(MessageDto.Of(message, await chat.GetContactAsync(who, cancellationToken), chat.Handle.ToString()));

    private static async Task<IResult> RoomAsync(ChatClient chat, string room, GroupMessageRecord message, CancellationToken cancellationToken) =>
        Results.Ok(GroupMessageDto.Of(message, await chat.GetGroupAsync(room, cancellationToken)));
}
