using System.CommandLine;
using System.Runtime.InteropServices;
using Parley.Chat.Crypto;
using Parley.Chat.Messaging;
using Parley.Node;
using Parley.Node.Api;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>`parley up`: the node, its local API and web UI, and the interactive terminal chat on top of that API.</summary>
internal static class UpCommand
{
    public static Command Create(GlobalOptions options)
    {
        var listen = new Option<string[]>("--listen")
        {
            Description = "Multiaddr to listen on; repeat for several",
            DefaultValueFactory = _ => ["/ip4/0.0.0.0/tcp/0"],
        };
        var noMdns = new Option<bool>("--no-mdns") { Description = "Do not look for peers on the local network" };
        var name = new Option<string?>("--name") { Description = "Your name, when this data folder has no identity yet" };
        var apiPort = new Option<int>("--api-port") { Description = "Port of the local API and web UI on 127.0.0.1 (0: any free port)" };
        var command = new Command("up", "Start your node and chat in this terminal (also scriptable through a pipe)") { listen, noMdns, name, apiPort };
        command.SetAction((parse, ct) => RunAsync(options, parse, parse.GetValue(listen)!, !parse.GetValue(noMdns), parse.GetValue(name), parse.GetValue(apiPort), ct));
        return command;
    }

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, string[] listen, bool mdns, string? name, int apiPort, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });
        var interactive = !Console.IsInputRedirected && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Ansi = interactive ? AnsiSupport.Detect : AnsiSupport.No, ColorSystem = interactive ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors });
        if (!interactive)
        {
            // Through a pipe there is no terminal to fit: one line per line, never wrapped at 80 columns for a script to rejoin.
            console.Profile.Width = short.MaxValue;
        }
        var nodeOptions = options.NodeOptions(parse, listen, keepData: true, out var error);
        if (nodeOptions is null)
        {
            return GlobalOptions.Fail(error);
        }
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
        try
        {
            await using var node = await ParleyNode.StartAsync(nodeOptions, loggerFactory, stop.Token);
            if (!await node.OpenChatAsync(stop.Token))
            {
                name ??= interactive ? console.Ask<string>("No identity in this data folder yet. [bold]Choose a name[/] (a-z, 0-9, - and _):") : null;
                if (name is null)
                {
                    return GlobalOptions.Fail($"no identity in {nodeOptions.DataFolder}; give --name <name> to create one");
                }
                await node.CreateAccountAsync(name, stop.Token);
            }
            var chat = node.Chat!;
            console.MarkupLine($"[bold]{Markup.Escape(chat.Handle.ToString())}[/]  [grey]device {node.PeerId}[/]");
            foreach (var address in node.Host.ListenAddresses)
            {
                console.MarkupLine($"[grey]listening {Markup.Escape(address.WithPeerId(node.PeerId).ToString())}[/]");
            }
            if (mdns)
            {
                node.StartMdns();
            }
            console.MarkupLine($"[grey]joining the network through {nodeOptions.Bootstrap.Count} bootstrap peer{(nodeOptions.Bootstrap.Count == 1 ? "" : "s")}, the saved routing table{(mdns ? " and the LAN (mDNS)" : "")}…[/]");
            var peers = await node.JoinAsync(stop.Token);
            console.MarkupLine(peers == 0
                ? "[yellow]no peers yet: this node starts a network of its own; others join with --bootstrap and one of the addresses above[/]"
                : $"[grey]joined: {peers} peer{(peers == 1 ? "" : "s")} in the routing table[/]");
            console.MarkupLine("[grey]publishing your presence and keys, fetching your mailbox…[/]");
            var report = await chat.StartAsync(stop.Token);
            console.MarkupLine($"[grey]presence stored at {report.PresenceStoredAt} nodes · {report.MailboxEnvelopes} waiting message{(report.MailboxEnvelopes == 1 ? "" : "s")} fetched from {report.MailboxNodesAnswered} mailbox nodes[/]");
            await using var api = await LocalApi.StartAsync(node, apiPort, loggerFactory, stop.Token);
            console.MarkupLine($"web UI: [link]{Markup.Escape(api.WebUiAddress.ToString())}[/]");
            using var client = new ApiClient(api.Port, api.Token);
            await new TerminalChat(client, console, interactive).RunAsync(Console.In, stop.Token);
            return 0;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return 0;
        }
        catch (Exception e) when (e is ChatException or IOException or UnauthorizedAccessException or InvalidDataException or WrongPassphraseException or System.Net.Sockets.SocketException or HttpRequestException)
        {
            return GlobalOptions.Fail(e.Message);
        }
    }
}
