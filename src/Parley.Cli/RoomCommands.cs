using System.CommandLine;
using Parley.Node.Api;

namespace Parley.Cli;

/// <summary>
/// `parley room …`: one-shot commands for rooms, through the node's local API like the chat commands (the running
/// node's, or a short-lived one). A room is named by its name (unique among your rooms), its id or its first characters.
/// </summary>
internal static class RoomCommands
{
    public static Command Create(GlobalOptions options)
    {
        var room = new Command("room", "Rooms: create, invite, join, approve, remove, talk");
        var name = new Argument<string>("room") { Description = "The room: its name (unique among your rooms) or its id" };
        var who = new Argument<string>("handle") { Description = "The person: name#tag, or a name unique among the room's members or requests" };
        var text = new Argument<string>("text") { Description = "The message" };

        var newName = new Argument<string>("name") { Description = "The new room's name" };
        var noHistory = new Option<bool>("--no-history") { Description = "Do not offer past messages to members who join later" };
        room.Subcommands.Add(ChatCommands.Build(options, "create", "Create a room; you are its first admin", [newName, noHistory], network: true, async (api, p, json, _, ct) =>
            Show(json, await api.CreateRoomAsync(p.GetValue(newName)!, !p.GetValue(noHistory), ct))));

        room.Subcommands.Add(ChatCommands.Build(options, "list", "List your rooms, invitations and requests to join", [], network: false, async (api, _, json, _, ct) =>
        {
            var rooms = await api.RoomsAsync(ct);
            ChatCommands.Print(json, rooms, r => $"{r.Name}  {r.Id[..10]}  {r.Status}  {r.Members.Count} member{(r.Members.Count == 1 ? "" : "s")}{(r.IsAdmin ? "  admin" : "")}");
            return 0;
        }));

        room.Subcommands.Add(ChatCommands.Build(options, "members", "Show a room's members, requests, invitations, invite link and membership log", [name], network: false, async (api, p, json, _, ct) =>
            Show(json, await api.RoomAsync(p.GetValue(name)!, ct), details: true)));

        room.Subcommands.Add(ChatCommands.Build(options, "invite", "Invite someone (admins)", [name, who], network: true, async (api, p, json, _, ct) =>
            Show(json, await api.InviteAsync(p.GetValue(name)!, p.GetValue(who)!, ct))));

        var roomOrLink = new Argument<string>("room-or-link") { Description = "A room you are invited to, or an invite link parley://join/…" };
        room.Subcommands.Add(ChatCommands.Build(options, "join", "Accept an invitation, or ask to join with a link", [roomOrLink], network: true, async (api, p, json, _, ct) =>
            Show(json, await api.JoinRoomAsync(p.GetValue(roomOrLink)!, ct))));

        room.Subcommands.Add(ChatCommands.Build(options, "requests", "Who asks to join a room", [name], network: false, async (api, p, json, _, ct) =>
        {
            var info = await api.RoomAsync(p.GetValue(name)!, ct);
            ChatCommands.Print(json, info.Requests, r => $"{r.Handle}   (approve with: parley room approve {info.Name} {r.Handle})");
            return 0;
        }));

        foreach (var (verb, description) in new[] { ("approve", "Let in someone who asked to join (admins)"), ("deny", "Turn down someone who asked to join (admins)") })
        {
            room.Subcommands.Add(ChatCommands.Build(options, verb, description, [name, who], network: true, async (api, p, json, _, ct) =>
                Show(json, await api.DecideAsync(p.GetValue(name)!, p.GetValue(who)!, verb, ct))));
        }
        foreach (var (verb, description) in new[] { ("kick", "Remove a member; everyone else gets new keys (admins)"), ("promote", "Make a member an admin (admins)"), ("demote", "Take a member's admin rights (admins)") })
        {
            room.Subcommands.Add(ChatCommands.Build(options, verb, description, [name, who], network: true, async (api, p, json, _, ct) =>
                Show(json, await api.MemberAsync(p.GetValue(name)!, p.GetValue(who)!, verb, ct))));
        }

        room.Subcommands.Add(ChatCommands.Build(options, "leave", "Leave a room", [name], network: true, async (api, p, json, _, ct) =>
            Show(json, await api.LeaveRoomAsync(p.GetValue(name)!, ct))));

        room.Subcommands.Add(ChatCommands.Build(options, "send", "Send a message to a room", [name, text], network: true, async (api, p, json, _, ct) =>
        {
            var sent = await api.SendToRoomAsync(p.GetValue(name)!, p.GetValue(text)!, ct);
            ChatCommands.Print(json, [sent], m => $"{m.Id} sent to {m.Recipients} member{(m.Recipients == 1 ? "" : "s")}", single: true);
            return 0;
        }));

        var limit = new Option<int>("--limit") { Description = "How many of the latest messages", DefaultValueFactory = _ => 100 };
        room.Subcommands.Add(ChatCommands.Build(options, "history", "Print a room's messages in the order every member shows them", [name, limit], network: false, async (api, p, json, _, ct) =>
        {
            var history = await api.RoomHistoryAsync(p.GetValue(name)!, p.GetValue(limit), ct);
            if (json)
            {
                GlobalOptions.PrintJson(history);
            }
            else
            {
                foreach (var message in history.Messages)
                {
                    Console.WriteLine(message.Outgoing ? $"me: {message.Text}   [{RoomState(message)}]" : $"{message.From}: {message.Text}");
                }
                foreach (var gap in history.Gaps)
                {
                    Console.WriteLine($"(missing {gap.LastIteration - gap.FirstIteration + 1} message(s) from {gap.From}; asked the other members)");
                }
            }
            await api.MarkRoomReadAsync(p.GetValue(name)!, ct);
            return 0;
        }));
        return room;
    }

    internal static string RoomState(GroupMessageDto message) =>
        message.Recipients == 0 ? "nobody else in the room"
        : message.Delivered >= message.Recipients ? $"delivered to all {message.Recipients}"
        : $"delivered to {message.Delivered} of {message.Recipients}{(message.Stored > 0 ? $", {message.Stored} in mailboxes" : "")}";

    private static int Show(bool json, GroupDto room, bool details = false)
    {
        if (json)
        {
            GlobalOptions.PrintJson(room);
            return 0;
        }
        Console.WriteLine($"{room.Name}  {room.Id}  {room.Status}{(room.IsAdmin ? "  admin" : "")}");
        foreach (var member in room.Members)
        {
            Console.WriteLine($"  {member.Handle}{(member.Admin ? "  admin" : "")}");
        }
        foreach (var request in room.Requests)
        {
            Console.WriteLine($"  {request.Handle}  asks to join");
        }
        foreach (var invited in room.Invited)
        {
            Console.WriteLine($"  {invited.Handle}  invited");
        }
        if (room.InviteLink is { } link)
        {
            Console.WriteLine($"invite link: {link}");
        }
        if (details)
        {
            foreach (var line in room.Log)
            {
                Console.WriteLine($"  · {line}");
            }
        }
        return 0;
    }
}
