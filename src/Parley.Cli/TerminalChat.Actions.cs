using Parley.Node.Api;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>
/// The terminal chat's replies, edits, deletions and reactions. A message is named as ^N, counting back through the
/// open chat's messages as /history shows them (^1 the latest); without one, reply and react take the latest message
/// from someone else, edit and delete your own latest.
/// </summary>
internal sealed partial class TerminalChat
{
    /// <summary>How many of the open chat's latest messages ^N can reach.</summary>
    private const int ReachableMessages = 50;

    /// <summary>What was last shown of each message's changes, so an update prints only what is new.</summary>
    private readonly Dictionary<string, (DateTimeOffset? EditedAt, bool Deleted, string Reactions)> _changesShown = [];

    /// <summary>A message of the open chat as the action commands see it.</summary>
    private sealed record ChatMessage(string Id, bool Outgoing, string Text, bool Deleted);

    /// <summary>reply, edit, delete or react; false when <paramref name="command"/> is not one.</summary>
    private async Task<bool> HandleActionCommandAsync(string command, string rest, CancellationToken cancellationToken)
    {
        var action = command.ToLowerInvariant();
        if (action is not ("reply" or "edit" or "delete" or "react"))
        {
            return false;
        }
        var (reference, argument) = rest.StartsWith('^') ? Split(rest) : ("", rest);
        var ours = action is "edit" or "delete";
        var (room, who) = (_currentRoom, _current);
        if (room is null && who is null)
        {
            throw new ArgumentException("open a chat first: /msg <handle> <text>, or /room <room>");
        }
        var target = await FindTargetAsync(room, who, reference, ours, cancellationToken);
        switch (action)
        {
            case "reply":
                var text = Require(argument, "the text of your reply");
                if (room is not null)
                {
                    var sent = await api.ReplyInRoomAsync(room, text, target.Id, cancellationToken);
                    WriteSent(sent.Id, $"{Time(sent.SentAt)}[blue]me → {Markup.Escape(RoomName(sent.Room))}[/]: {Body(sent.Text, sent.Quote, null, false, null)}", RoomStateText(sent));
                }
                else
                {
                    var sent = await api.ReplyAsync(who!, text, target.Id, cancellationToken);
                    WriteSent(sent.Id, $"{Time(sent.SentAt)}[blue]me → {Markup.Escape(sent.Contact)}[/]: {Body(sent.Text, sent.Quote, null, false, null)}", StateText(sent));
                }
                return true;
            case "edit":
                object body = new EditRequest(Require(argument, "the new text"));
                await ActAsync(room, who!, target, "edit", body, cancellationToken);
                return true;
            case "delete":
                await ActAsync(room, who!, target, "delete", null, cancellationToken);
                return true;
            default:
                // "-" withdraws your reaction.
                var emoji = Require(argument, "an emoji (or - to withdraw yours)");
                await ActAsync(room, who!, target, "react", new ReactRequest(emoji == "-" ? "" : emoji), cancellationToken);
                return true;
        }
    }

    private async Task ActAsync(string? room, string who, ChatMessage target, string action, object? body, CancellationToken cancellationToken)
    {
        if (room is not null)
        {
            ShowUpdate(await api.ActInRoomAsync(room, target.Id, action, body, cancellationToken));
        }
        else
        {
            ShowUpdate(await api.ActAsync(who, target.Id, action, body, cancellationToken));
        }
    }

    /// <exception cref="ArgumentException">No such message.</exception>
    private async Task<ChatMessage> FindTargetAsync(string? room, string? who, string reference, bool ours, CancellationToken cancellationToken)
    {
        var messages = room is not null
            ? (await api.RoomHistoryAsync(room, ReachableMessages, cancellationToken)).Messages.Select(m => new ChatMessage(m.Id, m.Outgoing, m.Text, m.Deleted)).ToList()
            : (await api.HistoryAsync(who!, ReachableMessages, cancellationToken)).Select(m => new ChatMessage(m.Id, m.Direction == "outgoing", m.Text, m.Deleted)).ToList();
        if (reference.Length > 0)
        {
            if (!int.TryParse(reference[1..], out var back) || back < 1 || back > messages.Count)
            {
                throw new ArgumentException($"{reference} names no message here: ^1 is the latest, up to ^{messages.Count} (/history shows them)");
            }
            return messages[^back];
        }
        return messages.LastOrDefault(m => m.Outgoing == ours && !m.Deleted)
            ?? throw new ArgumentException(ours ? "you have no message here to change" : "there is no message from them here yet");
    }

    /// <summary>A message was edited, deleted or reacted to (by anyone, us too): one line for what is new.</summary>
    private void ShowUpdate(MessageDto message) =>
        ShowChange(message.Id, message.Direction == "outgoing" ? "you" : message.From, message.Text, message.EditedAt, message.Deleted, message.Reactions, "");

    private void ShowUpdate(GroupMessageDto message) =>
        ShowChange(message.Id, message.Outgoing ? "you" : message.From, message.Text, message.EditedAt, message.Deleted, message.Reactions, $"[magenta][[{Markup.Escape(RoomName(message.Room))}]][/] ");

    private void ShowChange(string id, string author, string text, DateTimeOffset? editedAt, bool deleted, IReadOnlyList<ReactionDto>? reactions, string where)
    {
        var now = (editedAt, deleted, ReactionText(reactions));
        lock (_output)
        {
            var before = _changesShown.GetValueOrDefault(id);
            _changesShown[id] = now;
            if (deleted)
            {
                if (!before.Deleted)
                {
                    WriteUnlocked($"[grey]  ↳ {where}{Markup.Escape(author)} deleted a message for everyone[/]");
                }
                return;
            }
            if (editedAt != before.EditedAt)
            {
                WriteUnlocked($"[grey]  ↳ {where}{Markup.Escape(author)} edited:[/] {Markup.Escape(text)} [grey](edited)[/]");
            }
            if (now.Item3 != before.Reactions)
            {
                var whose = author == "you" ? "your" : $"{Markup.Escape(author)}'s";
                WriteUnlocked($"[grey]  ↳ {where}reactions to {whose} \"{Markup.Escape(Shorten(text))}\": {(now.Item3.Length == 0 ? "none" : Markup.Escape(now.Item3))}[/]");
            }
        }
    }

    /// <summary>Remembers what a message shown in full already shows, so that only later changes are announced.</summary>
    private void Seen(string id, DateTimeOffset? editedAt, bool deleted, IReadOnlyList<ReactionDto>? reactions)
    {
        lock (_output)
        {
            _changesShown[id] = (editedAt, deleted, ReactionText(reactions));
        }
    }

    /// <summary>A message's text as shown: the message it replies to, "(edited)", "deleted", and its reactions.</summary>
    private static string Body(string text, QuoteDto? quote, DateTimeOffset? editedAt, bool deleted, IReadOnlyList<ReactionDto>? reactions)
    {
        if (deleted)
        {
            return "[grey italic]this message was deleted[/]";
        }
        var replyTo = quote switch
        {
            null => "",
            { From: null } => "[grey](↪ a message not here)[/] ",
            { Deleted: true } => "[grey](↪ a deleted message)[/] ",
            _ => $"[grey](↪ {Markup.Escape(quote.From!.Split('#')[0])}: \"{Markup.Escape(Shorten(quote.Text))}\")[/] ",
        };
        var reacted = ReactionText(reactions) is { Length: > 0 } some ? $" [grey][[{Markup.Escape(some)}]][/]" : "";
        return $"{replyTo}{Markup.Escape(text)}{(editedAt is null ? "" : " [grey](edited)[/]")}{reacted}";
    }

    private static string ReactionText(IReadOnlyList<ReactionDto>? reactions) =>
        string.Join(", ", (reactions ?? []).Select(r => $"{r.Emoji} {r.From.Split('#')[0]}"));

    /// <summary>"^3 " before a line of /history or /room: how to name that message in /reply, /edit, /delete, /react.</summary>
    private static string Reference(int index, int count) => $"[grey]^{count - index}[/] ";
}
