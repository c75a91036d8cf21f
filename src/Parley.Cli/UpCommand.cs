using System.CommandLine;
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
        var noPortMapping = GlobalOptions.NoPortMappingOption();
        var command = new Command("up", "Start your node and chat in this terminal (also scriptable through a pipe)") { listen, noMdns, noPortMapping, name, apiPort };
        command.SetAction((parse, ct) => RunAsync(options, parse, parse.GetValue(listen)!, !parse.GetValue(noMdns), !parse.GetValue(noPortMapping), parse.GetValue(name), parse.GetValue(apiPort), ct));
        return command;
    }

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, string[] listen, bool mdns, bool portMapping, string? name, int apiPort, CancellationToken cancellationToken)
    {
        var interactive = !Console.IsInputRedirected && !Console.IsOutputRedirected;
        var console = GlobalOptions.CreateConsole(interactive);
        var nodeOptions = options.NodeOptions(parse, listen, keepData: true, out var error, portMapping: portMapping);
        if (nodeOptions is null)
        {
            return GlobalOptions.Fail(error);
        }
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
        try
        {
            await using var node = await ParleyNode.StartAsync(nodeOptions, loggerFactory, cancellationToken);
            if (!await node.OpenChatAsync(cancellationToken))
            {
                name ??= interactive ? console.Ask<string>("No identity in this data folder yet. [bold]Choose a name[/] (a-z, 0-9, - and _):") : null;
                if (name is null)
                {
                    return GlobalOptions.Fail($"no identity in {nodeOptions.DataFolder}; give --name <name> to create one");
                }
                await node.CreateAccountAsync(name, cancellationToken);
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
            var join = await node.JoinAsync(cancellationToken);
            foreach (var failure in join.Unusable)
            {
                console.MarkupLine($"[red]bootstrap peer {Markup.Escape(failure.Address.ToString())} not used: {Markup.Escape(failure.Reason)}[/]");
            }
            console.MarkupLine(join.Peers > 0
                ? $"[grey]joined: {join.Peers} peer{(join.Peers == 1 ? "" : "s")} in the routing table[/]"
                : join.Unusable.Count > 0
                    ? "[yellow]not joined: no bootstrap peer could be used (above) and no saved peer is up; this node waits for others to join through it, or restart with another --bootstrap[/]"
                    : "[yellow]no peers yet: this node starts a network of its own; others join with --bootstrap and one of the addresses above[/]");
            console.MarkupLine("[grey]publishing your presence and keys, fetching your mailbox…[/]");
            var report = await chat.StartAsync(cancellationToken);
            console.MarkupLine($"[grey]presence stored at {report.PresenceStoredAt} nodes · {report.MailboxEnvelopes} waiting message{(report.MailboxEnvelopes == 1 ? "" : "s")} fetched from {report.MailboxNodesAnswered} mailbox nodes[/]");
            await using var api = await LocalApi.StartAsync(node, apiPort, loggerFactory, cancellationToken);
            console.MarkupLine($"web UI: [link]{Markup.Escape(api.WebUiAddress.ToString())}[/]");
            using var client = new ApiClient(api.Port, api.Token);
            await new TerminalChat(client, console, interactive).RunAsync(Console.In, cancellationToken);
            return 0;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
        catch (Exception e) when (e is ChatException or IOException or UnauthorizedAccessException or InvalidDataException or WrongPassphraseException or System.Net.Sockets.SocketException or HttpRequestException)
        {
            return GlobalOptions.Fail(e.Message);
        }
    }
}
