using System.CommandLine;
using Parley.Chat.Crypto;
using Parley.Chat.Messaging;
using Parley.Node;

namespace Parley.Cli;

/// <summary>
/// The one-shot chat commands: each opens the data folder's identity, joins the network through --bootstrap and the
/// saved routing table when it needs the network, does its work, prints, and exits.
/// </summary>
internal static class ChatCommands
{
    private delegate Task<int> ChatOperation(ParleyNode node, ChatClient chat, ParseResult parse, bool json, CancellationToken cancellationToken);

    public static IEnumerable<Command> Create(GlobalOptions options)
    {
        var listen = new Option<string>("--listen")
        {
            Description = "Where the short-lived node listens while it works",
            DefaultValueFactory = _ => "/ip4/0.0.0.0/tcp/0",
        };

        var name = new Option<string>("--name") { Description = "The name others find you by (letters a-z, digits, - and _; at most 30)", Required = true };
        var init = new Command("init", "Create your identity in the data folder and claim your name in the directory") { name, listen };
        init.SetAction((parse, ct) => InitAsync(options, parse, parse.GetValue(name)!, parse.GetValue(listen)!, ct));
        yield return init;

        yield return Local(options, "whoami", "Print your handle and ids", [], static (node, chat, _, json, _) =>
        {
            if (json)
            {
                GlobalOptions.PrintJson(new { handle = chat.Handle.ToString(), account = chat.Account.Id.ToString(), device = node.PeerId.ToString() });
            }
            else
            {
                Console.WriteLine($"{chat.Handle}\naccount {chat.Account.Id}\ndevice  {node.PeerId}");
            }
            return Task.FromResult(0);
        });

        var query = new Argument<string>("name") { Description = "A name (lists every user holding it) or a handle name#tag (exactly that user)" };
        yield return Networked(options, listen, "find", "Find users by name or handle", [query], async (_, chat, p, json, ct) =>
        {
            var matches = await chat.FindAsync(p.GetValue(query)!, ct);
            if (json)
            {
                GlobalOptions.PrintJson(matches.Select(m => new { handle = m.Handle.ToString(), account = m.Account.ToPeerId().ToString() }));
            }
            foreach (var match in json ? [] : matches)
            {
                Console.WriteLine($"{match.Handle} {match.Account.ToPeerId()}");
            }
            return matches.Count > 0 ? 0 : GlobalOptions.Fail($"nobody called {p.GetValue(query)!} was found");
        });

        var recipient = new Argument<string>("handle") { Description = "Who to write to: name#tag, a contact's name, or a name only one user holds" };
        var text = new Argument<string>("text") { Description = "The message" };
        yield return Networked(options, listen, "send", "Send a message; prints its id and delivery state", [recipient, text], async (_, chat, p, json, ct) =>
        {
            var message = await chat.SendAsync(p.GetValue(recipient)!, p.GetValue(text)!, ct);
            await chat.FlushOutboxAsync(ct);
            var latest = (await chat.GetHistoryAsync(p.GetValue(recipient)!, ChatClient.MaxPageSize, ct)).FirstOrDefault(m => m.Id.AsSpan().SequenceEqual(message.Id)) ?? message;
            if (json)
            {
                GlobalOptions.PrintJson(new { id = Convert.ToHexStringLower(latest.Id), state = latest.State.ToString().ToLowerInvariant(), storedAt = latest.StoredCount });
            }
            else
            {
                Console.WriteLine($"{Convert.ToHexStringLower(latest.Id)} {NodeCommands.Describe(latest)}");
            }
            return 0;
        });

        yield return Networked(options, listen, "inbox", "Fetch and print new messages and contact requests", [], async (_, chat, p, json, ct) =>
        {
            await chat.FlushOutboxAsync(ct);
            var unread = await chat.GetUnreadAsync(ct);
            var contacts = (await chat.GetContactsAsync(ct)).ToDictionary(c => c.Account);
            var shown = unread.Select(m => (Message: m, Contact: contacts[m.Sender])).ToList();
            if (json)
            {
                GlobalOptions.PrintJson(shown.Select(s => new
                {
                    id = Convert.ToHexStringLower(s.Message.Id),
                    from = s.Contact.Handle.ToString(),
                    request = s.Contact.State == ContactState.Pending,
                    text = s.Message.Text,
                    sentAt = s.Message.SentAt,
                }));
            }
            else
            {
                foreach (var (message, contact) in shown)
                {
                    Console.WriteLine(contact.State == ContactState.Pending
                        ? $"request from {contact.Handle}: {message.Text}   (accept with: parley accept {contact.Handle})"
                        : $"{contact.Handle}: {message.Text}");
                }
            }
            await chat.MarkReadAsync(unread, ct);
            await chat.FlushOutboxAsync(ct);
            return 0;
        });

        var who = new Argument<string>("handle") { Description = "A contact: name#tag, or a name unique among your contacts" };
        var limit = new Option<int>("--limit") { Description = "How many of the latest messages", DefaultValueFactory = _ => 100 };
        yield return Local(options, "history", "Print the conversation with a contact", [who, limit], async (_, chat, p, json, ct) =>
        {
            var contact = await chat.GetContactAsync(p.GetValue(who)!, ct);
            var messages = await chat.GetHistoryAsync(p.GetValue(who)!, p.GetValue(limit)!, ct);
            if (json)
            {
                GlobalOptions.PrintJson(messages.Select(m => new
                {
                    id = Convert.ToHexStringLower(m.Id),
                    from = m.Direction == MessageDirection.Outgoing ? chat.Handle.ToString() : contact.Handle.ToString(),
                    direction = m.Direction.ToString().ToLowerInvariant(),
                    state = m.State.ToString().ToLowerInvariant(),
                    storedAt = m.StoredCount,
                    lamport = m.Lamport,
                    text = m.Text,
                    sentAt = m.SentAt,
                }));
            }
            else
            {
                foreach (var message in messages)
                {
                    Console.WriteLine(message.Direction == MessageDirection.Outgoing
                        ? $"me: {message.Text}   [{NodeCommands.Describe(message)}]"
                        : $"{contact.Handle}: {message.Text}");
                }
            }
            return 0;
        });

        yield return Local(options, "contacts", "List contacts and requests", [], async (_, chat, p, json, ct) =>
        {
            var contacts = await chat.GetContactsAsync(ct);
            if (json)
            {
                GlobalOptions.PrintJson(contacts.Select(c => new { handle = c.Handle.ToString(), account = c.Account.ToString(), state = c.State.ToString().ToLowerInvariant() }));
            }
            foreach (var contact in json ? [] : contacts)
            {
                Console.WriteLine($"{contact.Handle} {contact.State.ToString().ToLowerInvariant()}");
            }
            return 0;
        });

        yield return Networked(options, listen, "accept", "Accept a contact request", [who], async (_, chat, p, json, ct) =>
        {
            var contact = await chat.AcceptAsync(p.GetValue(who)!, ct);
            await chat.FlushOutboxAsync(ct);
            PrintContact(contact, json);
            return 0;
        });

        yield return Networked(options, listen, "block", "Block a contact: nothing more from them is shown", [who], async (_, chat, p, json, ct) =>
        {
            var contact = await chat.BlockAsync(p.GetValue(who)!, ct);
            PrintContact(contact, json);
            return 0;
        });

        yield return Local(options, "safety-number", "Print the safety number to compare with a contact", [who], async (_, chat, p, json, ct) =>
        {
            var number = await chat.GetSafetyNumberAsync(p.GetValue(who)!, ct);
            var grouped = string.Join(' ', Enumerable.Range(0, number.Length / 5).Select(i => number.Substring(i * 5, 5)));
            if (json)
            {
                GlobalOptions.PrintJson(new { contact = p.GetValue(who)!, safetyNumber = number });
            }
            else
            {
                Console.WriteLine(grouped);
            }
            return 0;
        });
    }

    private static void PrintContact(ContactRecord contact, bool json)
    {
        if (json)
        {
            GlobalOptions.PrintJson(new { handle = contact.Handle.ToString(), state = contact.State.ToString().ToLowerInvariant() });
        }
        else
        {
            Console.WriteLine($"{contact.Handle} {contact.State.ToString().ToLowerInvariant()}");
        }
    }

    private static Command Local(GlobalOptions options, string name, string description, Symbol[] symbols, ChatOperation operation) =>
        Build(options, null, name, description, symbols, operation);

    private static Command Networked(GlobalOptions options, Option<string> listen, string name, string description, Symbol[] symbols, ChatOperation operation) =>
        Build(options, listen, name, description, symbols, operation);

    private static Command Build(GlobalOptions options, Option<string>? listen, string name, string description, Symbol[] symbols, ChatOperation operation)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            switch (symbol)
            {
                case Argument argument:
                    command.Arguments.Add(argument);
                    break;
                case Option option:
                    command.Options.Add(option);
                    break;
            }
        }
        if (listen is not null)
        {
            command.Options.Add(listen);
        }
        command.SetAction((parse, ct) => RunAsync(options, parse, listen is null ? null : parse.GetValue(listen), operation, ct));
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
            await using var node = await ParleyNode.StartAsync(WithOneShotChat(nodeOptions), loggerFactory, cancellationToken);
            var chat = await node.CreateAccountAsync(name, cancellationToken);
            var peers = await node.JoinAsync(cancellationToken);
            var report = peers > 0 ? await chat.StartAsync(cancellationToken) : null;
            if (json)
            {
                GlobalOptions.PrintJson(new { handle = chat.Handle.ToString(), account = chat.Account.Id.ToString(), nameStoredAt = report?.NameStoredAt ?? 0 });
            }
            else
            {
                Console.WriteLine(chat.Handle);
                if (report is null || report.NameStoredAt == 0)
                {
                    Console.Error.WriteLine("parley: not on a network yet; your name is claimed the next time parley joins one (give --bootstrap)");
                }
            }
            return 0;
        }
        catch (Exception e) when (e is ChatException or IOException or UnauthorizedAccessException or InvalidDataException or WrongPassphraseException or System.Net.Sockets.SocketException)
        {
            return GlobalOptions.Fail(e.Message);
        }
    }

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, string? listen, ChatOperation operation, CancellationToken cancellationToken)
    {
        var json = parse.GetValue(options.Json);
        var nodeOptions = options.NodeOptions(parse, listen is null ? ["/ip4/127.0.0.1/tcp/0"] : [listen], keepData: true, out var error);
        if (nodeOptions is null)
        {
            return GlobalOptions.Fail(error);
        }
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
        try
        {
            await using var node = await ParleyNode.StartAsync(WithOneShotChat(nodeOptions), loggerFactory, cancellationToken);
            if (!await node.OpenChatAsync(cancellationToken))
            {
                return GlobalOptions.Fail($"no identity in {nodeOptions.DataFolder}; create one with: parley init --name <name>");
            }
            var chat = node.Chat!;
            if (listen is not null)
            {
                if (await node.JoinAsync(cancellationToken) == 0)
                {
                    return GlobalOptions.Fail("cannot reach the network: no bootstrap peer answered and no saved peer is up (give --bootstrap <multiaddr>)");
                }
                await chat.StartAsync(cancellationToken);
            }
            return await operation(node, chat, parse, json, cancellationToken);
        }
        catch (Exception e) when (e is ChatException or IOException or UnauthorizedAccessException or InvalidDataException or WrongPassphraseException or System.Net.Sockets.SocketException)
        {
            return GlobalOptions.Fail(e.Message);
        }
    }

    /// <summary>A one-shot command's node leaves presence alone (it is gone in a moment) and drives the outbox itself.</summary>
    private static ParleyNodeOptions WithOneShotChat(ParleyNodeOptions options) => new()
    {
        DataFolder = options.DataFolder,
        Listen = options.Listen,
        Bootstrap = options.Bootstrap,
        DhtProtocol = options.DhtProtocol,
        Passphrase = options.Passphrase,
        Directory = options.Directory,
        Chat = new ChatOptions { RunBackgroundTasks = false, PublishPresence = false },
    };
}
