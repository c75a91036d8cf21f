using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Parley.Chat.Messaging;

namespace Parley.Node.Api;

/// <summary>
/// The rooms' REST endpoints (docs/api.md). A room is named in a path by its name (unique among the user's rooms) or
/// its id (base32, or its first characters); a person by handle (<c>bob%23k3f9q2xa</c>) or a name unique in the room.
/// </summary>
internal static class GroupEndpoints
{
    private const int DefaultPage = 500;

    public static void Map(IEndpointRouteBuilder app, ParleyNode node)
    {
        var groups = app.MapGroup("/api/groups");
        groups.MapGet("", (CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok((await chat.GetGroupsAsync(ct)).Select(GroupDto.Of).ToList())))
            .WithSummary("The rooms this user is in, invited to, or asked to join");
        groups.MapPost("", (CreateGroupRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.CreateGroupAsync(Require(request.Name, "name"), request.History, ct)))))
            .WithSummary("Create a room (this user is its first admin)");
        groups.MapPost("/join", (JoinGroupRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.JoinGroupAsync(Require(request.Room, "room"), ct)))))
            .WithSummary("Accept an invitation (room name or id), or ask to join with an invite link");
        groups.MapGet("/{room}", (string room, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.GetGroupAsync(room, ct)))))
            .WithSummary("A room: members, admins, requests, invitations, the membership log, the invite link (admins)");
        groups.MapPost("/{room}/invite", (string room, WhoRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.InviteToGroupAsync(room, Require(request.Who, "who"), ct)))))
            .WithSummary("Invite someone (admins)");
        groups.MapPost("/{room}/requests/{who}/approve", (string room, string who, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.ApproveAsync(room, who, ct)))))
            .WithSummary("Let in someone who asked to join (admins)");
        groups.MapPost("/{room}/requests/{who}/deny", (string room, string who, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.DenyAsync(room, who, ct)))))
            .WithSummary("Turn down someone who asked to join (admins)");
        groups.MapPost("/{room}/members/{who}/kick", (string room, string who, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.KickAsync(room, who, ct)))))
            .WithSummary("Remove a member; everyone else gets new keys (admins)");
        groups.MapPost("/{room}/members/{who}/promote", (string room, string who, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.PromoteAsync(room, who, ct)))))
            .WithSummary("Make a member an admin (admins)");
        groups.MapPost("/{room}/members/{who}/demote", (string room, string who, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.DemoteAsync(room, who, ct)))))
            .WithSummary("Take a member's admin rights (admins)");
        groups.MapPost("/{room}/leave", (string room, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.LeaveGroupAsync(room, ct)))))
            .WithSummary("Leave a room");
        groups.MapPost("/{room}/rename", (string room, RenameRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.RenameGroupAsync(room, Require(request.Name, "name"), ct)))))
            .WithSummary("Rename a room (admins)");
        groups.MapPost("/{room}/history", (string room, HistorySettingRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(GroupDto.Of(await chat.SetGroupHistoryAsync(room, request.Enabled, ct)))))
            .WithSummary("Turn on or off history for new members (admins)");
        groups.MapGet("/{room}/messages", (string room, int? limit, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            var info = await chat.GetGroupAsync(room, ct);
            var history = await chat.GetGroupHistoryAsync(room, limit ?? DefaultPage, ct);
            return Results.Ok(new GroupHistoryDto(
                history.Messages.Select(m => GroupMessageDto.Of(m, info)).ToList(),
                history.Gaps.Select(g => new GapDto(GroupMemberInfo.Of(info.Members.FirstOrDefault(m => m.Account.Equals(g.Sender))?.Handle.ToString() ?? "unknown", g.Sender, false).Handle.ToString(), g.FirstIteration, g.LastIteration)).ToList()));
        })).WithSummary("The room's messages in the order every member shows them, and gaps where messages are missing");
        groups.MapPost("/{room}/messages", (string room, GroupSendRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            var message = await chat.SendToGroupAsync(room, Require(request.Text, "text"), MessageActionEndpoints.ReplyTo(request.ReplyTo), ct);
            return Results.Ok(GroupMessageDto.Of(message, await chat.GetGroupAsync(room, ct)));
        })).WithSummary("Send a message to the room (with \"replyTo\", a reply quoting one of its messages)");
        groups.MapPost("/{room}/read", (string room, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            await chat.MarkGroupReadAsync(room, ct);
            return Results.Ok(new ReadDto(0));
        })).WithSummary("Mark the room's messages as read");
    }

    private static string Require(string? value, string field) =>
        string.IsNullOrWhiteSpace(value) ? throw new ChatException($"give \"{field}\"") : value;
}
