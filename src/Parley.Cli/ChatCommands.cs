using System.CommandLine;
using Microsoft.Extensions.Logging;
using Parley.Chat.Crypto;
using Parley.Chat.Messaging;
using Parley.Node;
using Parley.Node.Api;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>
/// The one-shot chat commands. Each talks to the node's local API: to the node already running on the data folder if
/// there is one, else to a short-lived node it starts (joined through --bootstrap and the saved routing table), which
/// stays until what it queued has left the outbox.
/// </summary>
internal static class ChatCommands
{
    private static readonly TimeSpan DrainTime = TimeSpan.FromSeconds(20);

    /// <param name="running">True when <paramref name="api"/> is a node that was already running, false for the command's own short-lived node.</param>
    internal delegate Task<int> ApiOperation(ApiClient api, ParseResult parse, bool json, bool running, CancellationToken cancellationToken);

    public static IEnumerable<Command> Create(GlobalOptions options)
    {
        var name = new Option<string>("--name") { Description = "The name others find you by (letters a-z, digits, - and _; at most 30)", Required = true };
        var initListen = ListenOption();
        var init = new Command("init", "Create your identity in the data folder and claim your name in the directory") { name, initListen };
        init.SetAction((parse, ct) => InitAsync(options, parse, parse.GetValue(name)!, parse.GetValue(initListen)!, ct));
        yield return init;

        yield return Build(options, "whoami", "Print your handle and ids", [], network: false, async (api, p, json, _, ct) =>
        {
            var status = await api.StatusAsync(ct);
            if (status.Handle is null)
            {
                // A node running on a folder without an identity answers status all the same.
                return GlobalOptions.Fail(NoIdentity(p.GetValue(options.Data)!));
            }
            if (json)
            {
                GlobalOptions.PrintJson(new WhoAmI(status.Handle, status.Account, status.Device));
            }
            else
            {
                Console.WriteLine($"{status.Handle}\naccount {status.Account}\ndevice  {status.Device}");
            }
            return 0;
        });

        yield return Build(options, "status", "Print the node's reachability, relays, peers, connections, streams and what its limits refused", [], network: false, async (api, _, json, running, ct) =>
        {
            var status = await api.StatusAsync(ct);
            var connections = await api.ConnectionsAsync(ct);
            if (json)
            {
                GlobalOptions.PrintJson(new NodeReport(status, connections, await api.RoutingTableAsync(ct)));
                return 0;
            }
            Console.WriteLine($"{status.Handle ?? "(no identity yet)"}\ndevice      {status.Device}\npeers       {status.Peers} in the routing table");
            Console.WriteLine($"mailboxes   {status.MailboxNodesAnswered} of {status.MailboxNodesAsked} answered\noutbox      {status.Outbox}");
            if (!running)
            {
                Console.WriteLine("(no node is running on this folder: the figures below are of a node started just for this command)");
            }
            Console.WriteLine(FormatStatus(status));
            if (status.Resources is { } r)
            {
                Console.WriteLine($"connections {r.InboundConnections} in, {r.OutboundConnections} out, {r.PendingHandshakes} handshakes pending");
                Console.WriteLine($"streams     {r.InboundStreams} in, {r.OutboundStreams} out, {r.BufferedBytes / 1024} KiB of windows granted");
                var refused = r.Refusals.Where(x => x.Value > 0).Select(x => $"{x.Key} {x.Value}").ToList();
                Console.WriteLine($"refused     {(refused.Count == 0 ? "nothing" : string.Join(", ", refused))}");
            }
            foreach (var address in status.Addresses)
            {
                Console.WriteLine($"  {address}");
            }
            foreach (var connection in connections)
            {
                Console.WriteLine($"  {(connection.Relayed ? "relayed" : "direct ")} {connection.Direction,-8} {connection.Address}");
            }
            return 0;
        });

        var peerAddress = new Argument<string>("multiaddr") { Description = "The peer's address, ending in /p2p/<peer id>; a /p2p-circuit address goes through that relay" };
        yield return Build(options, "connect", "Connect the node to a peer at an address (direct or through a relay) and print its connections", [peerAddress], network: false, async (api, p, json, _, ct) =>
        {
            var connections = await api.ConnectAsync(p.GetValue(peerAddress)!, ct);
            Print(json, connections, c => $"{(c.Relayed ? "relayed" : "direct ")} {c.Direction,-8} {c.Address}");
            return 0;
        });

        var query = new Argument<string>("name") { Description = "A name (lists every user holding it) or a handle name#tag (exactly that user)" };
        yield return Build(options, "find", "Find users by name or handle", [query], network: true, async (api, p, json, _, ct) =>
        {
            var matches = await api.FindAsync(p.GetValue(query)!, ct);
            Print(json, matches, m => $"{m.Handle} {m.Account}");
            return matches.Count > 0 ? 0 : GlobalOptions.Fail($"nobody called {p.GetValue(query)} was found");
        });

        var recipient = new Argument<string>("handle") { Description = "Who to write to: name#tag, a contact's name, or a name only one user holds" };
        var text = new Argument<string>("text") { Description = "The message" };
        yield return Build(options, "send", "Send a message; prints its id and delivery state", [recipient, text], network: true, async (api, p, json, _, ct) =>
        {
            var sent = await api.SendAsync(p.GetValue(recipient)!, p.GetValue(text)!, ct);
            // From here on the message is in the durable outbox: whatever happens while waiting, its id is printed.
            var latest = await WaitPastQueuedAsync(api, sent, p.GetValue(options.Data)!, ct);
            if (json)
            {
                GlobalOptions.PrintJson(new SentReport(latest.Id, latest.Contact, latest.State, latest.StoredAt));
            }
            else
            {
                Console.WriteLine($"{latest.Id} {Describe(latest)}");
            }
            return 0;
        });

        var target = new Argument<string>("to") { Description = "A contact (name#tag, or a contact's name) or one of your rooms" };
        var path = new Argument<FileInfo>("path") { Description = "The file to send" };
        yield return Build(options, "send-file", "Send a file, end-to-end encrypted; prints its id and state", [target, path], network: true, async (api, p, json, running, ct) =>
        {
            var file = p.GetValue(path)!;
            if (!file.Exists)
            {
                return GlobalOptions.Fail($"no file {file.FullName}");
            }
            var to = p.GetValue(target)!;
            var sent = await api.SendFileAsync(to, await api.IsRoomAsync(to, ct), file.FullName, ct);
            Print(json, [sent], f => $"{f.Id[..12]} {f.Name} {FileSize(f.Size)} {f.State}", single: true);
            if (!running && !json)
            {
                Console.Error.WriteLine("parley: files too large for the mailboxes are fetched from your node while it runs (parley up)");
            }
            return 0;
        });

        var fileLimit = new Option<int>("--limit") { Description = "How many of the latest files", DefaultValueFactory = _ => 100 };
        var files = Build(options, "files", "List files sent and received (received ones are saved in the data folder's files/)", [fileLimit], network: false, async (api, p, json, _, ct) =>
        {
            var files = await api.FilesAsync(p.GetValue(fileLimit), ct);
            Print(json, files, DescribeFile);
            return 0;
        });
        var fileId = new Argument<string>("id") { Description = "The file's id, or its first characters (at least 6)" };
        files.Subcommands.Add(Build(options, "fetch", "Look for a source of a received file now (after raising the limit, freeing space, or when its sender is back)", [fileId], network: false, async (api, p, json, _, ct) =>
        {
            var file = await api.FetchFileAsync(p.GetValue(fileId)!, ct);
            Print(json, [file], DescribeFile, single: true);
            return 0;
        }));
        var size = new Argument<string?>("size") { Description = "The new limit: a number of bytes, or with a unit: 500K, 200M, 2G (binary: 1M = 1,048,576 bytes)", Arity = ArgumentArity.ZeroOrOne };
        files.Subcommands.Add(Build(options, "limit", "Show, or set, the largest file you send or fetch", [size], network: false, async (api, p, json, _, ct) =>
        {
            var wanted = p.GetValue(size);
            long? bytes = null;
            if (wanted is not null && (bytes = ParseSize(wanted)) is null)
            {
                return GlobalOptions.Fail($"'{wanted}' is not a size: give a number of bytes, or one with K, M or G (e.g. 200M)");
            }
            var limit = bytes is { } value ? await api.SetFileLimitAsync(value, ct) : await api.FileLimitAsync(ct);
            if (json)
            {
                GlobalOptions.PrintJson(limit);
            }
            else
            {
                Console.WriteLine($"files up to {FileSize(limit.Bytes)} ({limit.Bytes} bytes)");
            }
            return 0;
        }));
        yield return files;

        yield return Build(options, "inbox", "Fetch and print new messages and contact requests", [], network: true, async (api, _, json, running, ct) =>
        {
            if (running)
            {
                // A running node polls its mailbox only every minute; a short-lived one fetched it as it started.
                try
                {
                    await api.FetchMailboxAsync(ct);
                }
                catch (ApiException e)
                {
                    Console.Error.WriteLine($"parley: could not fetch the mailbox now ({e.Message}); showing what the node has");
                }
            }
            var unread = await api.UnreadAsync(ct);
            Print(json, unread, m => m.Request
                ? $"request from {m.From}: {m.Text}   (accept with: parley accept {m.From})"
                : $"{m.From}: {m.Text}");
            foreach (var contact in unread.Select(m => m.Contact).Distinct())
            {
                await api.MarkReadAsync(contact, ct);
            }
            return 0;
        });

        var who = new Argument<string>("handle") { Description = "A contact: name#tag, or a name unique among your contacts" };
        var limit = new Option<int>("--limit") { Description = "How many of the latest messages", DefaultValueFactory = _ => 100 };
        yield return Build(options, "history", "Print the conversation with a contact", [who, limit], network: false, async (api, p, json, _, ct) =>
        {
            var messages = await api.HistoryAsync(p.GetValue(who)!, p.GetValue(limit), ct);
            Print(json, messages, m => m.Direction == "outgoing" ? $"me: {m.Text}   [{Describe(m)}]" : $"{m.From}: {m.Text}");
            return 0;
        });

        var messageId = new Argument<string>("message-id") { Description = "The id of one of your messages (as `send` or `history --json` print it)" };
        yield return Build(options, "delivery", "Show which of the recipient's devices have one of your messages delivered, and which read it", [who, messageId], network: false, async (api, p, json, _, ct) =>
        {
            var detail = await api.DeliveryAsync(p.GetValue(who)!, p.GetValue(messageId)!, ct);
            Print(json, [detail], DescribeDelivery, single: true);
            return 0;
        });

        yield return Build(options, "contacts", "List contacts and requests", [], network: false, async (api, _, json, _, ct) =>
        {
            var contacts = await api.ContactsAsync(ct);
            contacts.AddRange((await api.RequestsAsync(ct)).Select(r => r.Contact));
            Print(json, contacts, c => $"{c.Handle} {c.State}");
            return 0;
        });

        yield return Build(options, "accept", "Accept a contact request", [who], network: true, async (api, p, json, _, ct) =>
        {
            var contact = await api.AcceptAsync(p.GetValue(who)!, ct);
            Print(json, [contact], c => $"{c.Handle} {c.State}", single: true);
            return 0;
        });

        yield return Build(options, "block", "Block a contact: nothing more from them is shown", [who], network: true, async (api, p, json, _, ct) =>
        {
            var contact = await api.BlockAsync(p.GetValue(who)!, ct);
            Print(json, [contact], c => $"{c.Handle} {c.State}", single: true);
            return 0;
        });

        yield return Build(options, "safety-number", "Print the safety number to compare with a contact", [who], network: false, async (api, p, json, _, ct) =>
        {
            var number = await api.SafetyNumberAsync(p.GetValue(who)!, ct);
            Print(json, [number], n => SafetyNumber.Format(n.SafetyNumber), single: true);
            return 0;
        });
    }

    /// <summary>`parley link` and `parley add`.</summary>
    public static IEnumerable<Command> ContactLinks(GlobalOptions options)
    {
        yield return Build(options, "link", "Print your contact link and its QR code, for others to add you (parley add <link>)", [], network: false, async (api, _, json, _, ct) =>
        {
            var link = await api.LinkAsync(ct);
            if (json)
            {
                GlobalOptions.PrintJson(new LinkReport(link.Link, link.Handle, link.Fingerprint));
            }
            else
            {
                ContactLinkView.Show(GlobalOptions.CreateConsole(!Console.IsOutputRedirected), link);
            }
            return 0;
        });

        var link = new Argument<string>("link") { Description = "Their contact link, parley://contact/…" };
        var text = new Argument<string?>("text") { Description = "The first message of the request (a greeting when left out)", Arity = ArgumentArity.ZeroOrOne };
        yield return Build(options, "add", "Ask someone to chat through their contact link; refused, with a warning, when its safety number does not match their key", [link, text], network: true, async (api, p, json, _, ct) =>
        {
            AddedContactDto added;
            try
            {
                added = await api.AddContactAsync(p.GetValue(link)!, p.GetValue(text), ct);
            }
            catch (ApiException e) when (e.Status == System.Net.HttpStatusCode.Conflict)
            {
                GlobalOptions.CreateConsole(!Console.IsErrorRedirected, Console.Error).MarkupLine($"parley: {ContactLinkView.Refused(e)}");
                return 1;
            }
            if (json)
            {
                GlobalOptions.PrintJson(added);
            }
            else
            {
                GlobalOptions.CreateConsole(!Console.IsOutputRedirected).MarkupLine(ContactLinkView.Added(added));
            }
            return 0;
        });
    }

    internal static string DescribeFile(FileDto file)
    {
        var progress = file.State is "waiting" && file.Size > 0 ? $" {file.BytesHeld * 100 / file.Size} %" : "";
        var where = file.SavedAs is { } saved ? $" -> files/{saved}" : "";
        var why = file.Problem is { } problem ? $" ({problem})" : "";
        return $"{file.Id[..12]} {(file.Outgoing ? "sent" : "received")} {file.Name} {FileSize(file.Size)} {file.State}{progress}{where}{why}";
    }

    /// <summary>"1048576", "500K", "200 MiB", "2g": bytes, with binary units; null when it is not a size.</summary>
    internal static long? ParseSize(string text)
    {
        var trimmed = text.Trim();
        var digits = trimmed.TakeWhile(char.IsAsciiDigit).Count();
        if (digits == 0 || !long.TryParse(trimmed.AsSpan(0, digits), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
        {
            return null;
        }
        int? shift = trimmed[digits..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "K" or "KB" or "KIB" => 10,
            "M" or "MB" or "MIB" => 20,
            "G" or "GB" or "GIB" => 30,
            _ => null,
        };
        return shift is { } bits && number <= long.MaxValue >> bits ? number << bits : null;
    }

    internal static string FileSize(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KiB",
        < 1024L * 1024 * 1024 => $"{bytes / (1024.0 * 1024):0.#} MiB",
        _ => $"{bytes / (1024.0 * 1024 * 1024):0.##} GiB",
    };

    internal static string Describe(MessageDto message) => message.State == "stored"
        ? $"stored at {message.StoredAt} mailbox node{(message.StoredAt == 1 ? "" : "s")}"
        : message.State;

    /// <summary>The message's state, then one line per device of the recipient: its name (or id), its state and since when.</summary>
    internal static string DescribeDelivery(DeliveryDetailDto detail) =>
        string.Join(
            Environment.NewLine,
            detail.Devices.Select(d => $"  {d.Name ?? d.Device}: {(d.State is { } state ? $"{state} at {d.At:u}" : "not yet")}").Prepend($"{detail.Message.Text}   [{Describe(detail.Message)}]"));

    internal static Option<string> ListenOption() => new("--listen")
    {
        Description = "Where a node started for this command listens while it works",
        DefaultValueFactory = _ => "/ip4/0.0.0.0/tcp/0",
    };

    internal static void Print<T>(bool json, IReadOnlyList<T> items, Func<T, string> line, bool single = false)
    {
        if (json)
        {
            if (single)
            {
                GlobalOptions.PrintJson(items[0]);
            }
            else
            {
                GlobalOptions.PrintJson(items);
            }
            return;
        }
        foreach (var item in items)
        {
            Console.WriteLine(line(item));
        }
    }

    /// <summary>A send returns at once (queued); a user of `parley send` wants to know whether it got anywhere.</summary>
    private static async Task<MessageDto> WaitPastQueuedAsync(ApiClient api, MessageDto sent, string dataFolder, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(DrainTime);
        var latest = sent;
        try
        {
            while (latest.State == "queued")
            {
                await Task.Delay(100, deadline.Token);
                latest = (await api.HistoryAsync(sent.Contact, ChatClient.MaxPageSize, deadline.Token)).FirstOrDefault(m => m.Id == sent.Id) ?? latest;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // Still queued: it stays in the outbox and is retried whenever a node runs on this data folder.
        }
        catch (Exception e) when (e is HttpRequestException or ApiException)
        {
            Console.Error.WriteLine($"parley: the node stopped answering ({Reason(e)}); the message is queued and goes out when a node runs on {dataFolder} again");
        }
        return latest;
    }

    /// <summary>One line on how reachable the node is: what AutoNAT found, the DHT mode, relays, connections.</summary>
    internal static string FormatStatus(StatusDto status)
    {
        var relays = status.Relays.Count == 0 ? "no relay reservations" : $"reachable through {status.Relays.Count} relay{(status.Relays.Count == 1 ? "" : "s")}";
        return $"reachability {status.Reachability} · DHT {status.DhtMode}{(status.Relaying ? " · relaying for others" : "")} · {relays} · "
            + $"{status.DirectConnections} direct, {status.RelayedConnections} relayed connection{(status.RelayedConnections == 1 ? "" : "s")} · {status.Peers} in the routing table";
    }

    internal static Command Build(GlobalOptions options, string name, string description, Symbol[] symbols, bool network, ApiOperation operation)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            if (symbol is Argument argument)
            {
                command.Arguments.Add(argument);
            }
            else if (symbol is Option option)
            {
                command.Options.Add(option);
            }
        }
        var listen = ListenOption();
        command.Options.Add(listen);
        command.SetAction((parse, ct) => RunAsync(options, parse, parse.GetValue(listen)!, network, operation, ct));
        return command;
    }

    private static async Task<int> InitAsync(GlobalOptions options, ParseResult parse, string name, string listen, CancellationToken cancellationToken)
    {
        var json = parse.GetValue(options.Json);
        var nodeOptions = options.NodeOptions(parse, [listen], keepData: true, out var error);
        if (nodeOptions is null)
        {
            return GlobalOptions.Fail(error);
        }
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
        try
        {
            await using var node = await ParleyNode.StartAsync(OneShot(nodeOptions), loggerFactory, cancellationToken);
            var chat = await node.CreateAccountAsync(name, cancellationToken);
            var report = (await node.JoinAsync(cancellationToken)).Peers > 0 ? await chat.StartAsync(cancellationToken) : null;
            if (json)
            {
                GlobalOptions.PrintJson(new CreatedAccount(chat.Handle.ToString(), chat.Account.Id.ToString(), report?.NameStoredAt ?? 0));
            }
            else
            {
                Console.WriteLine(chat.Handle);
            }
            if (report is null || report.NameStoredAt == 0)
            {
                Console.Error.WriteLine("parley: not on a network yet; your name is claimed the next time parley joins one (give --bootstrap)");
            }
            return 0;
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            return GlobalOptions.Fail(e.Message);
        }
    }

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, string listen, bool network, ApiOperation operation, CancellationToken cancellationToken)
    {
        var json = parse.GetValue(options.Json);
        try
        {
            var data = parse.GetValue(options.Data)!;
            using (var running = await ApiClient.TryConnectAsync(data, cancellationToken))
            {
                if (running is not null)
                {
                    try
                    {
                        return await operation(running, parse, json, true, cancellationToken);
                    }
                    catch (HttpRequestException e)
                    {
                        return GlobalOptions.Fail($"the node running on {data} stopped answering: {Reason(e)}");
                    }
                }
            }
            var nodeOptions = options.NodeOptions(parse, [network ? listen : "/ip4/127.0.0.1/tcp/0"], keepData: true, out var error);
            if (nodeOptions is null)
            {
                return GlobalOptions.Fail(error);
            }
            using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
            await using var node = await ParleyNode.StartAsync(OneShot(nodeOptions), loggerFactory, cancellationToken);
            if (!await node.OpenChatAsync(cancellationToken))
            {
                return GlobalOptions.Fail(NoIdentity(nodeOptions.DataFolder!));
            }
            if (network)
            {
                if (await node.JoinAsync(cancellationToken) is { Peers: 0 } join)
                {
                    return GlobalOptions.Fail(GlobalOptions.NoNetwork(join));
                }
                await node.Chat!.StartAsync(cancellationToken);
            }
            await using var api = await LocalApi.StartAsync(node, 0, loggerFactory, cancellationToken);
            using var client = new ApiClient(api.Port, api.Token);
            var exitCode = await operation(client, parse, json, false, cancellationToken);
            if (network)
            {
                await DrainOutboxAsync(node.Chat!, loggerFactory.CreateLogger("parley"), cancellationToken);
            }
            return exitCode;
        }
        catch (ApiException e)
        {
            return GlobalOptions.Fail(e.Message);
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            return GlobalOptions.Fail(e.Message);
        }
    }

    /// <summary>"An error occurred while sending the request" says little; the inner exception says what happened.</summary>
    private static string Reason(Exception e) => e is HttpRequestException { InnerException: { } inner } ? inner.Message : e.Message;

    private static string NoIdentity(string dataFolder) => $"no identity in {dataFolder}; create one with: parley init --name <name>";

    /// <summary>Gives what this short-lived node queued (messages, receipts, accepts) a chance to reach someone before it exits.</summary>
    private static async Task DrainOutboxAsync(ChatClient chat, ILogger logger, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(DrainTime);
        try
        {
            while (await chat.CountOutboxAsync(deadline.Token, unsentOnly: true) > 0)
            {
                await chat.FlushOutboxAsync(deadline.Token);
                await Task.Delay(200, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("some envelopes are still unsent; they are retried the next time a node runs on this data folder");
        }
    }

    /// <summary>A one-shot node leaves presence alone: it is gone in a moment, and others should use the mailbox.</summary>
    private static ParleyNodeOptions OneShot(ParleyNodeOptions options) => new()
    {
        DataFolder = options.DataFolder,
        Listen = options.Listen,
        Bootstrap = options.Bootstrap,
        DhtProtocol = options.DhtProtocol,
        Passphrase = options.Passphrase,
        AskPassphrase = options.AskPassphrase,
        Directory = options.Directory,
        Chat = new ChatOptions { PublishPresence = false },
    };

    private static bool IsUserFacing(Exception e) =>
        e is ChatException or IOException or UnauthorizedAccessException or InvalidDataException or WrongPassphraseException or System.Net.Sockets.SocketException or HttpRequestException;
}
