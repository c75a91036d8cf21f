using Parley.Node.Api;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>The terminal chat's room commands.</summary>
internal sealed partial class TerminalChat
{
    private readonly Dictionary<string, GroupDto> _rooms = [];
    private string? _currentRoom;

    /// <summary>A room command; false when <paramref name="command"/> is not one.</summary>
    private async Task<bool> HandleRoomCommandAsync(string command, string rest, CancellationToken cancellationToken)
    {
        var (room, argument) = Split(rest);
        switch (command.ToLowerInvariant())
        {
            case "create":
                var created = await api.CreateRoomAsync(Require(rest, "a room name"), history: true, cancellationToken);
                _currentRoom = created.Id;
                Remember(created);
                Write($"[green]created {Markup.Escape(created.Name)}[/]; invite people with /invite {Markup.Escape(created.Name)} <handle>\n  [grey]link to ask to join: {Markup.Escape(created.InviteLink ?? "")}[/]");
                return true;
            case "rooms":
                var rooms = await api.RoomsAsync(cancellationToken);
                rooms.ForEach(Remember);
                Write(rooms.Count == 0 ? "no rooms yet: /create <room>" : string.Join('\n', rooms.Select(r => $"[bold]{Markup.Escape(r.Name)}[/] [grey]{r.Status} · {r.Members.Count} members{(r.IsAdmin ? " · admin" : "")} · {r.Id[..10]}[/]")));
                return true;
            case "invite":
                ShowRoom(await api.InviteAsync(Require(room, "a room"), Require(argument, "a handle"), cancellationToken), $"invited {argument}");
                return true;
            case "join":
                var joined = await api.JoinRoomAsync(Require(rest, "a room or an invite link"), cancellationToken);
                _currentRoom = joined.Id;
                ShowRoom(joined, joined.Status == "requested" ? "asked the admin to let you in" : "joined");
                return true;
            case "approve" or "deny":
                ShowRoom(await api.DecideAsync(Require(room, "a room"), Require(argument, "a handle"), command.ToLowerInvariant(), cancellationToken), $"{(command.Equals("approve", StringComparison.OrdinalIgnoreCase) ? "approved" : "denied")} {argument}");
                return true;
            case "kick" or "promote" or "demote":
                ShowRoom(await api.MemberAsync(Require(room, "a room"), Require(argument, "a handle"), command.ToLowerInvariant(), cancellationToken), $"{command.ToLowerInvariant()}{(command.EndsWith('e') ? "d" : "ed")} {argument}");
                return true;
            case "leave":
                var left = await api.LeaveRoomAsync(Require(rest, "a room"), cancellationToken);
                if (_currentRoom == left.Id)
                {
                    _currentRoom = null;
                }
                ShowRoom(left, "you left");
                return true;
            case "members":
                var info = await api.RoomAsync(Require(rest, "a room"), cancellationToken);
                Remember(info);
                Write(string.Join('\n', [
                    $"[bold]{Markup.Escape(info.Name)}[/] [grey]{info.Status} · key epoch {info.Epoch} · history for new members {(info.History ? "on" : "off")}[/]",
                    .. info.Members.Select(m => $"  {Markup.Escape(m.Handle)}{(m.Admin ? " [yellow]admin[/]" : "")}"),
                    .. info.Requests.Select(m => $"  {Markup.Escape(m.Handle)} [yellow]asks to join[/]"),
                    .. info.Invited.Select(m => $"  {Markup.Escape(m.Handle)} [grey]invited[/]"),
                    info.InviteLink is { } link ? $"  [grey]link: {Markup.Escape(link)}[/]" : "",
                    .. info.Log.Select(l => $"  [grey]· {Markup.Escape(l)}[/]"),
                ]));
                return true;
            case "room":
                var target = await api.RoomAsync(Require(rest, "a room"), cancellationToken);
                Remember(target);
                _currentRoom = target.Id;
                var history = await api.RoomHistoryAsync(target.Id, 20, cancellationToken);
                var shown = history.Messages;
                foreach (var m in shown)
                {
                    Seen(m.Id, m.EditedAt, m.Deleted, m.Reactions);
                }
                Write(string.Join('\n', [
                    $"[grey]now talking in {Markup.Escape(target.Name)} ({target.Members.Count} members); /msg to write to a person[/]",
                    .. shown.Select((m, i) => Reference(i, shown.Count) + (m.Outgoing
                        ? $"{Time(m.SentAt)}[blue]me[/]: {Body(m.Text, m.Quote, m.EditedAt, m.Deleted, m.Reactions)}  {RoomStateText(m)}"
                        : $"{Time(m.SentAt)}[green]{Markup.Escape(m.From)}[/]: {Body(m.Text, m.Quote, m.EditedAt, m.Deleted, m.Reactions)}")),
                    .. history.Gaps.Select(g => $"[grey](missing {g.LastIteration - g.FirstIteration + 1} message(s) from {Markup.Escape(g.From)})[/]"),
                ]));
                await api.MarkRoomReadAsync(target.Id, cancellationToken);
                return true;
            default:
                return false;
        }
    }

    private async Task ShowRoomRequestsAsync(string room, CancellationToken cancellationToken)
    {
        var info = await api.RoomAsync(room, cancellationToken);
        Write(info.Requests.Count == 0
            ? $"nobody asks to join {Markup.Escape(info.Name)}"
            : string.Join('\n', info.Requests.Select(r => $"[bold]{Markup.Escape(r.Handle)}[/] asks to join {Markup.Escape(info.Name)}   [grey]/approve {Markup.Escape(info.Name)} {Markup.Escape(r.Handle)} or /deny[/]")));
    }

    private async Task SendToRoomAsync(string room, string text, CancellationToken cancellationToken)
    {
        var sent = await api.SendToRoomAsync(room, Require(text, "some text"), cancellationToken);
        WriteSent(sent.Id, $"{Time(sent.SentAt)}[blue]me → {Markup.Escape(RoomName(sent.Room))}[/]: {Markup.Escape(sent.Text)}", RoomStateText(sent));
    }

    private void ShowRoom(GroupDto room, string what)
    {
        Remember(room);
        Write($"[grey]{Markup.Escape(room.Name)}: {Markup.Escape(what)} · {room.Members.Count} members[/]");
    }

    /// <summary>A change pushed by the node: an invitation, a request, a removal.</summary>
    private void ShowRoomChange(GroupDto room)
    {
        _rooms.TryGetValue(room.Id, out var before);
        Remember(room);
        if (room.Status == "invited" && before?.Status != "invited")
        {
            Write($"[yellow]you are invited to {Markup.Escape(room.Name)}[/]   [grey]/join {Markup.Escape(room.Name)}[/]");
        }
        else if (room.Status == "removed" && before?.Status != "removed")
        {
            Write($"[red]you were removed from {Markup.Escape(room.Name)}[/]");
        }
        else if (room.Requests.Count > (before?.Requests.Count ?? 0) && room.IsAdmin)
        {
            Write($"[yellow]{Markup.Escape(room.Requests[^1].Handle)} asks to join {Markup.Escape(room.Name)}[/]   [grey]/approve {Markup.Escape(room.Name)} {Markup.Escape(room.Requests[^1].Handle)}[/]");
        }
        else if (room.Status == "member" && before?.Status is "requested" or "invited")
        {
            Write($"[green]you are in {Markup.Escape(room.Name)}[/]   [grey]/room {Markup.Escape(room.Name)} to talk there[/]");
        }
    }

    private void Remember(GroupDto room) => _rooms[room.Id] = room;

    private string RoomName(string id) => _rooms.TryGetValue(id, out var room) ? room.Name : id[..10];
}
