using Parley.Node.Api;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>
/// The interactive chat of `parley up`, a client of the node's local API like the web UI. Reads commands in the style
/// of IRC from stdin (a terminal or a pipe), prints incoming messages as they arrive, and shows each sent message's
/// delivery state, rewriting the line in place while it is still the last one on a terminal.
/// </summary>
internal sealed partial class TerminalChat(ApiClient api, IAnsiConsole console, bool interactive)
{
    private const string Help = """
        /msg <handle> <text>   send (the first message to someone new is a contact request)
        <text>                 send to the person or room you last wrote to or heard from
        /find <name>           look up users by name or name#tag
        /contacts              your contacts
        /requests              contact requests waiting for you
        /accept <handle>       accept a request      /block <handle>   block someone
        /history <handle>      the conversation      /safety <handle>  safety number to compare
        /status                node status           /help             this help
        /quit                  leave (the node stops)
        rooms:
        /create <room>         make a room            /rooms             your rooms and invitations
        /invite <room> <handle>                       /join <room or link>  accept an invitation, or ask with a link
        /requests <room>       who asks to join       /approve <room> <handle>   /deny <room> <handle>
        /kick <room> <handle>  remove (new keys for everyone else)   /promote <room> <handle>
        /members <room>        members, invite link, log             /leave <room>
        /room <room>           talk in a room: what you type goes there
        """;

    private readonly Lock _output = new();
    private (string Id, string Line)? _lastLineSent;
    private string? _current;
    private StatusDto? _status;

    /// <summary>Runs until /quit, end of input (after the outbox drained), or cancellation.</summary>
    public async Task RunAsync(TextReader input, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var events = PumpEventsAsync(stop.Token);
        _status = await api.StatusAsync(stop.Token);
        PrintStatus();
        Write("[grey]type /help for commands[/]");
        while (!stop.IsCancellationRequested)
        {
            var line = await input.ReadLineAsync(stop.Token);
            if (line is null)
            {
                await WaitForOutboxAsync(stop.Token);
                break;
            }
            if (!await HandleAsync(line.Trim(), stop.Token))
            {
                break;
            }
        }
        await stop.CancelAsync();
        try
        {
            await events;
        }
        catch (OperationCanceledException)
        {
            // Leaving.
        }
    }

    private async Task<bool> HandleAsync(string line, CancellationToken cancellationToken)
    {
        if (line.Length == 0)
        {
            return true;
        }
        var (command, rest) = line.StartsWith('/') ? Split(line[1..]) : ("say", line);
        try
        {
            switch (command.ToLowerInvariant())
            {
                case "quit" or "exit":
                    return false;
                case "help":
                    Write(Markup.Escape(Help));
                    break;
                case "msg":
                    var (to, text) = Split(rest);
                    await SendAsync(to, text, cancellationToken);
                    break;
                case "say" when _currentRoom is not null:
                    await SendToRoomAsync(_currentRoom, rest, cancellationToken);
                    break;
                case "say" when _current is null:
                    Write("[yellow]nobody to send to yet: use /msg <handle> <text>, or /room <room>[/]");
                    break;
                case "say":
                    await SendAsync(_current!, rest, cancellationToken);
                    break;
                case "find":
                    var matches = await api.FindAsync(Require(rest, "a name"), cancellationToken);
                    Write(matches.Count == 0 ? $"nobody called {Markup.Escape(rest)} was found" : string.Join('\n', matches.Select(m => $"[bold]{Markup.Escape(m.Handle)}[/]")));
                    break;
                case "contacts":
                    var contacts = await api.ContactsAsync(cancellationToken);
                    Write(contacts.Count == 0 ? "no contacts yet" : string.Join('\n', contacts.Select(c => $"{Markup.Escape(c.Handle)} [grey]{c.State}[/]")));
                    break;
                case "requests" when rest.Length > 0:
                    await ShowRoomRequestsAsync(rest, cancellationToken);
                    break;
                case "requests":
                    var requests = await api.RequestsAsync(cancellationToken);
                    Write(requests.Count == 0 ? "no requests" : string.Join('\n', requests.Select(r =>
                        $"[bold]{Markup.Escape(r.Contact.Handle)}[/] asks to talk: {Markup.Escape((r.Messages.Count > 0 ? r.Messages[0].Text : ""))}\n  safety number {SafetyNumberText(r.SafetyNumber)}   [grey]/accept {Markup.Escape(r.Contact.Handle)} or /block[/]")));
                    break;
                case "accept":
                    var accepted = await api.AcceptAsync(Require(rest, "a handle"), cancellationToken);
                    _current = accepted.Handle;
                    Write($"[green]accepted {Markup.Escape(accepted.Handle)}[/]");
                    break;
                case "block":
                    var blocked = await api.BlockAsync(Require(rest, "a handle"), cancellationToken);
                    Write($"[red]blocked {Markup.Escape(blocked.Handle)}[/]");
                    break;
                case "history":
                    var history = await api.HistoryAsync(Require(rest, "a handle"), 50, cancellationToken);
                    Write(history.Count == 0 ? "no messages" : string.Join('\n', history.Select(Format)));
                    await api.MarkReadAsync(rest, cancellationToken);
                    break;
                case "safety":
                    var number = await api.SafetyNumberAsync(Require(rest, "a handle"), cancellationToken);
                    Write($"safety number with {Markup.Escape(number.Contact)}:\n  {SafetyNumberText(number.SafetyNumber)}\ncompare it with theirs in person or on a call; if it matches, nobody is in between");
                    break;
                case "status":
                    _status = await api.StatusAsync(cancellationToken);
                    PrintStatus();
                    Write(string.Join('\n', _status.Addresses.Select(a => $"  [grey]{Markup.Escape(a)}[/]")));
                    break;
                case var room when await HandleRoomCommandAsync(room, rest, cancellationToken):
                    break;
                default:
                    Write($"[yellow]unknown command /{Markup.Escape(command)}; /help lists them[/]");
                    break;
            }
        }
        catch (ApiException e)
        {
            Write($"[red]{Markup.Escape(e.Message)}[/]");
        }
        catch (ArgumentException e)
        {
            Write($"[yellow]{Markup.Escape(e.Message)}[/]");
        }
        return true;
    }

    private async Task SendAsync(string to, string text, CancellationToken cancellationToken)
    {
        Require(to, "a handle");
        Require(text, "some text");
        var message = await api.SendAsync(to, text, cancellationToken);
        _current = message.Contact;
        _currentRoom = null;
        lock (_output)
        {
            var line = $"[blue]me → {Markup.Escape(message.Contact)}[/]: {Markup.Escape(message.Text)}";
            WriteUnlocked($"{line}  {StateText(message)}");
            _lastLineSent = (message.Id, line);
        }
    }

    private async Task PumpEventsAsync(CancellationToken cancellationToken)
    {
        await foreach (var item in api.EventsAsync(cancellationToken))
        {
            switch (item.Type)
            {
                case "message" when item.Message is { } message:
                    _current ??= message.Contact;
                    Write(message.Request
                        ? $"[yellow]request from {Markup.Escape(message.From)}[/]: {Markup.Escape(message.Text)}   [grey]/accept {Markup.Escape(message.From)} or /block[/]"
                        : $"[green]{Markup.Escape(message.From)}[/]: {Markup.Escape(message.Text)}");
                    break;
                case "state" when item.Message is { } message:
                    ShowState(message);
                    break;
                case "contact" when item.Contact is { State: "accepted" } contact:
                    Write($"[grey]{Markup.Escape(contact.Handle)} is now a contact[/]");
                    break;
                case "group" when item.Group is { } group:
                    ShowRoomChange(group);
                    break;
                case "groupMessage" when item.GroupMessage is { Outgoing: false } message:
                    _currentRoom ??= _current is null ? message.Room : null;
                    Write($"[magenta][[{Markup.Escape(RoomName(message.Room))}]][/] [green]{Markup.Escape(message.From)}[/]: {Markup.Escape(message.Text)}");
                    break;
                case "status" when item.Status is { } status:
                    var changed = _status is null || status.Peers != _status.Peers || status.MailboxNodesAnswered != _status.MailboxNodesAnswered;
                    _status = status;
                    if (changed && interactive)
                    {
                        PrintStatus();
                    }
                    break;
            }
        }
    }

    /// <summary>On a terminal, the state of the last line sent is rewritten in place; otherwise it gets a line of its own.</summary>
    private void ShowState(MessageDto message)
    {
        lock (_output)
        {
            if (interactive && _lastLineSent is { } last && last.Id == message.Id)
            {
                console.Write(new ControlCode("\u001b[1A\u001b[2K"));
                console.MarkupLine($"{last.Line}  {StateText(message)}");
                return;
            }
            WriteUnlocked($"[grey]  ↳ to {Markup.Escape(message.Contact)} \"{Markup.Escape(Shorten(message.Text))}\"[/] {StateText(message)}");
        }
    }

    private void PrintStatus()
    {
        if (_status is { } status)
        {
            Write($"[grey]── {Markup.Escape(status.Handle ?? "no identity")} · {status.Peers} peer{(status.Peers == 1 ? "" : "s")} in the routing table · mailbox nodes reached {status.MailboxNodesAnswered}/{status.MailboxNodesAsked} · outbox {status.Outbox} ──[/]");
        }
    }

    private async Task WaitForOutboxAsync(CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        try
        {
            while ((await api.StatusAsync(deadline.Token)).Outbox > 0)
            {
                await Task.Delay(200, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            Write("[yellow]leaving with messages still waiting for their recipients' acknowledgement; they are retried the next time this node runs[/]");
        }
    }

    private void Write(string markup)
    {
        lock (_output)
        {
            WriteUnlocked(markup);
        }
    }

    private void WriteUnlocked(string markup)
    {
        _lastLineSent = null;
        console.MarkupLine(markup);
    }

    private static string StateText(MessageDto message) => message.State switch
    {
        "queued" => "[grey](queued)[/]",
        "stored" => $"[yellow](stored at {message.StoredAt} of 20 mailbox nodes)[/]",
        "delivered" => "[green](delivered ✓)[/]",
        "read" => "[green](read ✓✓)[/]",
        _ => $"[grey]({Markup.Escape(message.State)})[/]",
    };

    private static string Format(MessageDto message) => message.Direction == "outgoing"
        ? $"[blue]me[/]: {Markup.Escape(message.Text)}  {StateText(message)}"
        : $"[green]{Markup.Escape(message.From)}[/]: {Markup.Escape(message.Text)}";

    private static string SafetyNumberText(string number) => string.Join(' ', Enumerable.Range(0, number.Length / 5).Select(i => number.Substring(i * 5, 5)));

    private static string Shorten(string text) => text.Length <= 24 ? text : text[..23] + "…";

    private static (string Head, string Tail) Split(string text)
    {
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (text, "") : (text[..space], text[(space + 1)..].Trim());
    }

    private static string Require(string value, string what) =>
        string.IsNullOrWhiteSpace(value) ? throw new ArgumentException($"give {what}") : value;
}
