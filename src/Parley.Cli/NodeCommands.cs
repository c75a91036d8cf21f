using System.CommandLine;
using System.Text.Json;
using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Net.Host;
using Parley.Net.Protocols;
using Parley.Node;
using Parley.Node.Api;

namespace Parley.Cli;

/// <summary>`parley node` and `parley ping`.</summary>
internal static class NodeCommands
{
    public static Command Node(GlobalOptions options)
    {
        var listen = new Option<string[]>("--listen")
        {
            Description = "Multiaddr to listen on; repeat for several",
            DefaultValueFactory = _ => ["/ip4/0.0.0.0/tcp/0"],
        };
        var mdns = new Option<bool>("--mdns") { Description = "Find peers on the local network with mDNS (_p2p._udp.local) and join through them" };
        var apiPort = new Option<int>("--api-port") { Description = "Port of the local API and web UI on 127.0.0.1 (0: any free port; written to the data folder)" };
        var noPortMapping = GlobalOptions.NoPortMappingOption();
        var uploadRate = new Option<long>("--upload-rate") { Description = "Serve files to others at most this many bytes per second (0: no limit)" };
        var command = new Command("node", "Run a node until Ctrl-C or SIGTERM: DHT, mailboxes for others, your chat if this folder has an identity, and the local API") { listen, mdns, noPortMapping, apiPort, uploadRate };
        command.SetAction((parse, cancellationToken) => RunAsync(options, parse, parse.GetValue(listen)!, parse.GetValue(mdns), !parse.GetValue(noPortMapping), parse.GetValue(apiPort), parse.GetValue(uploadRate), cancellationToken));
        return command;
    }

    public static Command Ping(GlobalOptions options)
    {
        var target = new Argument<string>("multiaddr") { Description = "Address of the peer, ending in /p2p/<peer id>" };
        var count = new Option<int>("--count") { Description = "Number of pings", DefaultValueFactory = _ => 1 };
        var command = new Command("ping", "Dial a peer and measure round trips") { target, count };
        command.SetAction((parse, cancellationToken) => PingAsync(parse.GetValue(target)!, parse.GetValue(count), parse.GetValue(options.LogLevel), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, string[] listen, bool mdns, bool portMapping, int apiPort, long uploadRate, CancellationToken cancellationToken)
    {
        var json = parse.GetValue(options.Json);
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
        if (uploadRate < 0)
        {
            return GlobalOptions.Fail("--upload-rate takes a number of bytes per second, 0 for no limit");
        }
        var nodeOptions = options.NodeOptions(parse, listen, keepData: true, out var error, new ChatOptions { Files = new FileTransferOptions { MaxUploadBytesPerSecond = uploadRate } }, portMapping);
        if (nodeOptions is null)
        {
            return GlobalOptions.Fail(error);
        }
        ParleyNode node;
        try
        {
            node = await ParleyNode.StartAsync(nodeOptions, loggerFactory, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or System.Net.Sockets.SocketException or ArgumentException)
        {
            return GlobalOptions.Fail($"cannot start the node: {e.Message}");
        }
        await using (node)
        {
            foreach (var address in node.Host.ListenAddresses)
            {
                var full = address.WithPeerId(node.PeerId).ToString();
                Console.WriteLine(json ? CliJson.Serialize(new AddressLine("listening", full)) : $"listening {full}");
            }
            node.Host.PeerConnected += (_, e) => Report(json, "connected", e.Peer, e.RemoteAddress);
            node.Host.PeerDisconnected += (_, e) => Report(json, "disconnected", e.Peer, e.RemoteAddress);
            if (mdns)
            {
                node.StartMdns();
            }
            try
            {
                bool hasChat;
                try
                {
                    hasChat = await node.OpenChatAsync(cancellationToken);
                }
                catch (IOException e)
                {
                    return GlobalOptions.Fail(e.Message);
                }
                var join = await node.JoinAsync(cancellationToken);
                foreach (var failure in join.Unusable)
                {
                    Console.WriteLine(json
                        ? CliJson.Serialize(new BootstrapFailedLine("bootstrapFailed", failure.Address.ToString(), failure.Reason))
                        : $"bootstrap peer {failure.Address} not used: {failure.Reason}");
                }
                Console.WriteLine(json
                    ? CliJson.Serialize(new JoinedLine("joined", join.Peers))
                    : join.Peers == 0 ? "joined: no peers yet; waiting for others to join through this node" : $"joined: {join.Peers} peer{(join.Peers == 1 ? "" : "s")} in the routing table");
                if (hasChat)
                {
                    var chat = node.Chat!;
                    chat.MessageReceived += (_, e) => ReportMessage(json, "message", e);
                    chat.MessageStateChanged += (_, e) => ReportMessage(json, "state", e);
                    chat.FileChanged += (_, e) => ReportFile(json, e.File);
                    chat.ContactChanged += (_, e) => Console.WriteLine(json
                        ? CliJson.Serialize(new ContactLine("contact", e.Contact.Handle.ToString(), e.Contact.State.ToString().ToLowerInvariant()))
                        : $"contact {e.Contact.Handle} {e.Contact.State.ToString().ToLowerInvariant()}");
                    var report = await chat.StartAsync(cancellationToken);
                    Console.WriteLine(json
                        ? CliJson.Serialize(new ChatLine("chat", chat.Handle.ToString(), report.MailboxEnvelopes))
                        : $"chat {chat.Handle} ({report.MailboxEnvelopes} waiting message{(report.MailboxEnvelopes == 1 ? "" : "s")} fetched from the mailbox)");
                }
                await using var api = await LocalApi.StartAsync(node, apiPort, loggerFactory, cancellationToken);
                Console.WriteLine(json ? CliJson.Serialize(new AddressLine("api", api.BaseAddress.ToString())) : $"api {api.BaseAddress}");
                using var saveTimer = new PeriodicTimer(TimeSpan.FromMinutes(1));
                while (await saveTimer.WaitForNextTickAsync(cancellationToken))
                {
                    await node.SaveRoutingTableAsync(cancellationToken);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Ctrl-C or SIGTERM: the node saves what it knows and says it is going offline as it is disposed.
            }
        }
        return 0;
    }

    private static void ReportMessage(bool json, string what, MessageEventArgs e)
    {
        var message = e.Message;
        Console.WriteLine(json
            ? CliJson.Serialize(new MessageLine(
                what,
                Convert.ToHexStringLower(message.Id),
                e.Contact.Handle.ToString(),
                message.Direction.ToString().ToLowerInvariant(),
                message.State.ToString().ToLowerInvariant(),
                message.StoredCount,
                message.Text))
            : what == "message"
                ? $"message {e.Contact.Handle}{(e.Contact.State == ContactState.Pending ? " (request)" : "")}: {message.Text}"
                : $"state {Convert.ToHexStringLower(message.Id)} {Describe(message)}");
    }

    /// <summary>A file's state and progress: bytes held (as recorded, so they survive a crash) and bytes served in this run.</summary>
    private static void ReportFile(bool json, ChatFile file) =>
        Console.WriteLine(json
            ? CliJson.Serialize(new FileLine(
                "file",
                file.IdText,
                file.Outgoing ? "sent" : "received",
                file.State.ToString().ToLowerInvariant(),
                file.Size,
                file.BytesHeld,
                file.BytesSent,
                file.Problem))
            : $"file {file.IdText} {(file.Outgoing ? "sent" : "received")} {file.State.ToString().ToLowerInvariant()} held {file.BytesHeld}/{file.Size} sent {file.BytesSent}{(file.Problem is { } problem ? $" ({problem})" : "")}");

    internal static string Describe(MessageRecord message) => message.State switch
    {
        DeliveryState.Stored => $"stored at {message.StoredCount} mailbox node{(message.StoredCount == 1 ? "" : "s")}",
        _ => message.State.ToString().ToLowerInvariant(),
    };

    private static async Task<int> PingAsync(string target, int count, Microsoft.Extensions.Logging.LogLevel logLevel, CancellationToken cancellationToken)
    {
        if (!Multiaddr.TryParse(target, out var address) || address!.PeerId is null)
        {
            return GlobalOptions.Fail($"'{target}' is not a multiaddr ending in /p2p/<peer id>");
        }
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(logLevel);
        await using var host = new Libp2pHost(IdentityKey.Generate(), new HostOptions { ListenAddresses = [] }, loggerFactory);
        await host.StartAsync(cancellationToken);
        try
        {
            var peer = await host.ConnectAsync(address, cancellationToken);
            for (var i = 0; i < Math.Max(1, count); i++)
            {
                var rtt = await PingProtocol.PingAsync(host, peer, cancellationToken);
                Console.WriteLine($"pong {peer} {rtt.TotalMilliseconds:0.###} ms");
            }
            return 0;
        }
        catch (PeerConnectionException e)
        {
            return GlobalOptions.Fail($"ping failed: {e.Message}");
        }
    }

    private static void Report(bool json, string what, PeerId peer, Multiaddr? address) =>
        Console.WriteLine(json
            ? CliJson.Serialize(new PeerLine(what, peer.ToString(), address?.ToString()))
            : $"{what} {peer} {address}");
}
