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
        /reply [^N] <text>     reply to a message of the open chat (^1 the latest; default: their latest)
        /edit [^N] <text>      edit your message (default: your latest)   /delete [^N]  delete it for everyone
        /react [^N] <emoji>    react to a message (default: their latest; - withdraws your reaction)
        /link                  your contact link and QR code, for others to add you
        /add <link> [text]     ask someone to chat through their link (checks their safety number)
        /file <path>           send a file to the person or room at hand      /files   files sent and received
        /devices               your account's devices   /devices remove <id>   remove one (parley device link adds one)
        /status                node status           /clear            clear the screen
        /help                  this help             /quit             leave (the node stops)
        //text                 send text that starts with /
        rooms:
        /create <room>         make a room            /rooms             your rooms and invitations
        /invite <room> <handle>                       /join <room or link>  accept an invitation, or ask with a link
        /requests <room>       who asks to join       /approve <room> <handle>   /deny <room> <handle>
        /kick <room> <handle>  remove (new keys for everyone else)   /promote <room> <handle>
        /members <room>        members, invite link, log             /leave <room>
        /room <room>           talk in a room: what you type goes there
        """;

    /// <summary>How many of a room's latest messages are looked through for unread ones at start.</summary>
    private const int WaitingRoomMessages = 100;

    private readonly Lock _output = new();
    private readonly TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<string> _shown = [];
    private readonly Dictionary<string, string> _stateShown = [];
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
        // What waited in the mailboxes was fetched before anyone listened for events: shown once the event stream is
        // up, so that nothing falls between the two (what both report is shown once).
        await Task.WhenAny(_subscribed.Task, events).WaitAsync(stop.Token);
        await ShowWaitingAsync(stop.Token);
        Write("[grey]type /help for commands[/]");
        while (!stop.IsCancellationRequested)
        {
            // Console.In reads synchronously whatever token it is given: the read runs aside, so Ctrl-C is not stuck
            // behind a line that never comes (the pending read ends with the process).
            var line = await Task.Run(input.ReadLineAsync, CancellationToken.None).WaitAsync(stop.Token);
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
        // Only a leading / makes a command ("clear" is text, "/clear" a command); "//" sends text that starts with "/".
        var (command, rest) = line.StartsWith("//", StringComparison.Ordinal) ? ("say", line[1..]) : line.StartsWith('/') ? Split(line[1..]) : ("say", line);
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
                case "file":
                    await SendFileAsync(Require(rest, "a file's path"), cancellationToken);
                    break;
                case "files":
                    var files = await api.FilesAsync(20, cancellationToken);
                    Write(files.Count == 0 ? "no files yet" : string.Join('\n', files.Select(f => Markup.Escape(ChatCommands.DescribeFile(f)))));
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
                    var history = await api.HistoryAsync(Require(rest, "a handle"), ReachableMessages, cancellationToken);
                    history.ForEach(m => Seen(m.Id, m.EditedAt, m.Deleted, m.Reactions));
                    Write(history.Count == 0 ? "no messages" : string.Join('\n', history.Select((m, i) => Reference(i, history.Count) + Format(m))));
                    await api.MarkReadAsync(rest, cancellationToken);
                    if (history.Count > 0)
                    {
                        _current = history[0].Contact;
                        _currentRoom = null;
                    }
                    break;
                case "safety":
                    var number = await api.SafetyNumberAsync(Require(rest, "a handle"), cancellationToken);
                    Write($"safety number with {Markup.Escape(number.Contact)}:\n  {SafetyNumberText(number.SafetyNumber)}\ncompare it with theirs in person or on a call; if it matches, nobody is in between");
                    break;
                case "clear":
                    if (interactive)
                    {
                        console.Clear();
                    }
                    break;
                case "link":
                    await ShowLinkAsync(cancellationToken);
                    break;
                case "add":
                    var (link, greeting) = Split(rest);
                    await AddByLinkAsync(Require(link, "a contact link (parley://contact/…)"), greeting, cancellationToken);
                    break;
                case "devices":
                    await DevicesAsync(rest, cancellationToken);
                    break;
                case "status":
                    _status = await api.StatusAsync(cancellationToken);
                    PrintStatus();
                    Write($"[grey]{Markup.Escape(ChatCommands.FormatStatus(_status))}[/]");
                    Write(string.Join('\n', _status.Addresses.Select(a => $"  [grey]{Markup.Escape(a)}[/]")));
                    break;
                case var room when await HandleRoomCommandAsync(room, rest, cancellationToken):
                    break;
                case var action when await HandleActionCommandAsync(action, rest, cancellationToken):
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

    /// <summary>Sends a file to the room or person of the conversation at hand.</summary>
    private async Task SendFileAsync(string path, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(Environment.ExpandEnvironmentVariables(path.Trim('"')));
        if (!File.Exists(full))
        {
            Write($"[yellow]no file {Markup.Escape(full)}[/]");
            return;
        }
        if (_currentRoom is null && _current is null)
        {
            Write("[yellow]nobody to send to yet: write to someone with /msg <handle> <text>, or /room <room>, first[/]");
            return;
        }
        var to = _currentRoom ?? _current!;
        var sent = await api.SendFileAsync(to, _currentRoom is not null, full, cancellationToken);
        Write($"[blue]me → {Markup.Escape(_currentRoom is null ? to : RoomName(to))}[/]: file {Markup.Escape(sent.Name)} [grey]{ChatCommands.FileSize(sent.Size)} · {sent.State}[/]");
    }

    private async Task SendAsync(string to, string text, CancellationToken cancellationToken)
    {
        Require(to, "a handle");
        Require(text, "some text");
        var message = await api.SendAsync(to, text, cancellationToken);
        _current = message.Contact;
        _currentRoom = null;
        WriteSent(message.Id, $"{Time(message.SentAt)}[blue]me → {Markup.Escape(message.Contact)}[/]: {Markup.Escape(message.Text)}", StateText(message));
    }

    /// <summary>A line of ours with its state, remembered so that a state change can rewrite it in place.</summary>
    private void WriteSent(string id, string line, string state)
    {
        lock (_output)
        {
            // A state event can come before the answer to the send: then it is the newer one.
            state = _stateShown.GetValueOrDefault(id, state);
            WriteUnlocked($"{line}  {state}");
            _lastLineSent = (id, line);
            _stateShown[id] = state;
        }
    }

    private async Task ShowLinkAsync(CancellationToken cancellationToken)
    {
        var link = await api.LinkAsync(cancellationToken);
        lock (_output)
        {
            _lastLineSent = null;
            ContactLinkView.Show(console, link);
        }
    }

    private async Task AddByLinkAsync(string link, string text, CancellationToken cancellationToken)
    {
        AddedContactDto added;
        try
        {
            added = await api.AddContactAsync(link, text, cancellationToken);
        }
        catch (ApiException e)
        {
            Write(ContactLinkView.Refused(e));
            return;
        }
        _current = added.Contact.Handle;
        _currentRoom = null;
        Write(ContactLinkView.Added(added));
        if (added.Request is { } request)
        {
            WriteSent(request.Id, $"{Time(request.SentAt)}[blue]me → {Markup.Escape(request.Contact)}[/]: {Markup.Escape(request.Text)}", StateText(request));
        }
    }

    /// <summary>Contact requests and messages that arrived while this node was off, and those not read yet.</summary>
    private async Task ShowWaitingAsync(CancellationToken cancellationToken)
    {
        foreach (var message in await api.UnreadAsync(cancellationToken))
        {
            ShowIncoming(message);
        }
        foreach (var room in await api.RoomsAsync(cancellationToken))
        {
            Remember(room);
            if (room.Status != "member")
            {
                continue;
            }
            var history = await api.RoomHistoryAsync(room.Id, WaitingRoomMessages, cancellationToken);
            foreach (var message in history.Messages.Where(m => m.Unread && !m.Outgoing))
            {
                ShowIncoming(message);
            }
        }
    }

    private void ShowIncoming(MessageDto message)
    {
        lock (_output)
        {
            if (!_shown.Add(message.Id))
            {
                return;
            }
            _current ??= message.Contact;
            _changesShown[message.Id] = (message.EditedAt, message.Deleted, ReactionText(message.Reactions));
            WriteUnlocked(message.Request
                ? $"{Time(message.SentAt)}[yellow]request from {Markup.Escape(message.From)}[/]: {Markup.Escape(message.Text)}   [grey]/accept {Markup.Escape(message.From)} or /block[/]"
                : $"{Time(message.SentAt)}[green]{Markup.Escape(message.From)}[/]: {Body(message.Text, message.Quote, message.EditedAt, message.Deleted, message.Reactions)}");
        }
    }

    private void ShowIncoming(GroupMessageDto message)
    {
        lock (_output)
        {
            if (!_shown.Add(message.Id))
            {
                return;
            }
            _currentRoom ??= _current is null ? message.Room : null;
            _changesShown[message.Id] = (message.EditedAt, message.Deleted, ReactionText(message.Reactions));
            WriteUnlocked($"{Time(message.SentAt)}[magenta][[{Markup.Escape(RoomName(message.Room))}]][/] [green]{Markup.Escape(message.From)}[/]: {Body(message.Text, message.Quote, message.EditedAt, message.Deleted, message.Reactions)}");
        }
    }

    private async Task PumpEventsAsync(CancellationToken cancellationToken)
    {
        await foreach (var item in api.EventsAsync(cancellationToken))
        {
            // The node sends its status first, once this stream is subscribed to everything else.
            _subscribed.TrySetResult();
            switch (item.Type)
            {
                case "message" when item.Message is { } message:
                    ShowIncoming(message);
                    break;
                case "state" when item.Message is { } message:
                    ShowState(message.Id, $"to {message.Contact} \"{Shorten(message.Text)}\"", StateText(message));
                    break;
                case "update" when item.Message is { } updated:
                    ShowUpdate(updated);
                    break;
                case "groupUpdate" when item.GroupMessage is { } updated:
                    ShowUpdate(updated);
                    break;
                case "contact" when item.Contact is { State: "accepted" } contact:
                    Write($"[grey]{Markup.Escape(contact.Handle)} is now a contact[/]");
                    break;
                case "group" when item.Group is { } group:
                    ShowRoomChange(group);
                    break;
                case "groupMessage" when item.GroupMessage is { Outgoing: false } message:
                    ShowIncoming(message);
                    break;
                case "groupMessage" when item.GroupMessage is { } mine:
                    // Our own room message reached more members.
                    ShowState(mine.Id, $"to [{RoomName(mine.Room)}] \"{Shorten(mine.Text)}\"", RoomStateText(mine));
                    break;
                case "session" when item.Session is { } reset:
                    Write($"[yellow]── {Markup.Escape(reset.Notice)} ──[/]");
                    break;
                case "status" when item.Status is { } status:
                    if (ConnectivityChange(_status, status) is { } change)
                    {
                        Write(change);
                    }
                    _status = status;
                    break;
            }
        }
    }

    /// <summary>
    /// A new state of a message of ours (<paramref name="what"/> names it, plain text). On a terminal, the state of the
    /// last line sent is rewritten in place; otherwise it gets a line of its own. A state already shown is not repeated.
    /// </summary>
    private void ShowState(string id, string what, string state)
    {
        lock (_output)
        {
            if (_stateShown.TryGetValue(id, out var shown) && shown == state)
            {
                return;
            }
            _stateShown[id] = state;
            if (interactive && _lastLineSent is { } last && last.Id == id)
            {
                console.Write(new ControlCode("\u001b[1A\u001b[2K"));
                console.MarkupLine($"{last.Line}  {state}");
                return;
            }
            WriteUnlocked($"[grey]  ↳ {Markup.Escape(what)}[/] {state}");
        }
    }

    /// <summary>
    /// A line when the node loses its last peer or finds peers again; other changes of the peer count are not news
    /// (/status shows them).
    /// </summary>
    internal static string? ConnectivityChange(StatusDto? before, StatusDto now) => (before?.Peers ?? 0, now.Peers) switch
    {
        ( > 0, 0) => "[yellow]── no peers: messages wait in the outbox until the network is back ──[/]",
        (0, > 0) when before is not null => $"[grey]── connected: {now.Peers} peer{(now.Peers == 1 ? "" : "s")} ──[/]",
        _ when before is not null && before.Reachability != now.Reachability => $"[grey]── {Markup.Escape(ChatCommands.FormatStatus(now))} ──[/]",
        _ => null,
    };

    /// <summary>"14:05 " for today, "2025-03-01 14:05 " for another day, in local time.</summary>
    internal static string Timestamp(DateTimeOffset at, DateTimeOffset now)
    {
        var local = at.ToLocalTime();
        var format = local.Date == now.ToLocalTime().Date ? "HH:mm" : "yyyy-MM-dd HH:mm";
        return local.ToString(format, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Time(DateTimeOffset at) => $"[grey]{Timestamp(at, DateTimeOffset.Now)}[/] ";

    private void PrintStatus()
    {
        if (_status is { } status)
        {
            Write($"[grey]── {Markup.Escape(status.Handle ?? "no identity")} · {status.Peers} peer{(status.Peers == 1 ? "" : "s")} in the routing table · reachability {status.Reachability} · mailbox nodes reached {status.MailboxNodesAnswered}/{status.MailboxNodesAsked} · outbox {status.Outbox} ──[/]");
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
        // Safe on the network until they come online: a success, whatever the number of nodes (a small network has few).
        "stored" => $"[green](in their mailbox ✓, kept by {message.StoredAt} node{(message.StoredAt == 1 ? "" : "s")})[/]",
        "delivered" => "[green](delivered ✓)[/]",
        "read" => "[green](read ✓✓)[/]",
        _ => $"[grey]({Markup.Escape(message.State)})[/]",
    };

    private static string RoomStateText(GroupMessageDto message) => $"[{(message.Recipients > 0 && message.Delivered >= message.Recipients ? "green" : "grey")}]({RoomCommands.RoomState(message)})[/]";

    private static string Format(MessageDto message) => message.Direction == "outgoing"
        ? $"{Time(message.SentAt)}[blue]me[/]: {Body(message.Text, message.Quote, message.EditedAt, message.Deleted, message.Reactions)}  {StateText(message)}"
        : $"{Time(message.SentAt)}[green]{Markup.Escape(message.From)}[/]: {Body(message.Text, message.Quote, message.EditedAt, message.Deleted, message.Reactions)}";

    private static string SafetyNumberText(string number) => string.Join(' ', Enumerable.Range(0, number.Length / 5).Select(i => number.Substring(i * 5, 5)));

    private static string Shorten(string text) => text.Length <= 24 ? text : text[..23] + "…";

    private async Task DevicesAsync(string rest, CancellationToken cancellationToken)
    {
        var (verb, id) = Split(rest);
        IReadOnlyList<DeviceDto> devices;
        switch (verb)
        {
            case "":
                devices = await api.DevicesAsync(cancellationToken);
                break;
            case "remove":
                devices = await api.RemoveDeviceAsync(Require(id, "the device's id (/devices lists them)"), cancellationToken);
                Write($"removed {Markup.Escape(id)} from your account; its key is barred for good");
                break;
            default:
                throw new ArgumentException("/devices lists your devices; /devices remove <id> removes one");
        }
        Write(string.Join('\n', devices.Select(d => $"  {(d.ThisDevice ? "*" : " ")} {Markup.Escape(d.Name ?? "")}  [grey]{Markup.Escape(d.Id)}[/]{(d.ThisDevice ? " (this device)" : "")}")));
    }

    private static (string Head, string Tail) Split(string text)
    {
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        return space < 0 ? (text, "") : (text[..space], text[(space + 1)..].Trim());
    }

    private static string Require(string value, string what) =>
        string.IsNullOrWhiteSpace(value) ? throw new ArgumentException($"give {what}") : value;
}
