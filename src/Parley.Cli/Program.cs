using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Parley.Cli;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Net.Host;
using Parley.Net.Protocols;

var dataOption = new Option<string>("--data")
{
    Description = "Data folder (node key, later the database)",
    Recursive = true,
    DefaultValueFactory = _ => DataFolder.DefaultPath,
};
var logLevelOption = new Option<LogLevel>("--log-level")
{
    Description = "Log detail on stderr",
    Recursive = true,
    DefaultValueFactory = _ => LogLevel.Warning,
};

var listenOption = new Option<string[]>("--listen")
{
    Description = "Multiaddr to listen on; repeat for several",
    DefaultValueFactory = _ => ["/ip4/0.0.0.0/tcp/0"],
};
var jsonOption = new Option<bool>("--json") { Description = "Print events as JSON lines" };
var nodeCommand = new Command("node", "Run a node until Ctrl-C or SIGTERM") { listenOption, jsonOption };
nodeCommand.SetAction((parse, cancellationToken) => RunNodeAsync(
    parse.GetValue(dataOption)!, parse.GetValue(listenOption)!, parse.GetValue(jsonOption), parse.GetValue(logLevelOption), cancellationToken));

var pingTarget = new Argument<string>("multiaddr") { Description = "Address of the peer, ending in /p2p/<peer id>" };
var pingCount = new Option<int>("--count") { Description = "Number of pings", DefaultValueFactory = _ => 1 };
var pingCommand = new Command("ping", "Dial a peer and measure round trips") { pingTarget, pingCount };
pingCommand.SetAction((parse, cancellationToken) => PingAsync(parse.GetValue(pingTarget)!, parse.GetValue(pingCount), parse.GetValue(logLevelOption), cancellationToken));

var root = new RootCommand("Parley: serverless end-to-end-encrypted chat") { dataOption, logLevelOption, nodeCommand, pingCommand };
return await root.Parse(args).InvokeAsync();

static async Task<int> RunNodeAsync(string data, string[] listen, bool json, LogLevel logLevel, CancellationToken cancellationToken)
{
    using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });
    using var loggerFactory = CreateLoggerFactory(logLevel);
    if (!TryParseAll(listen, out var listenAddresses, out var error))
    {
        return Fail(error);
    }
    IdentityKey key;
    try
    {
        key = await new DataFolder(data).LoadOrCreateNodeKeyAsync(stop.Token);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
    {
        return Fail($"cannot use data folder {data}: {e.Message}");
    }
    await using var host = new Libp2pHost(key, new HostOptions { ListenAddresses = listenAddresses }, loggerFactory);
    try
    {
        await host.StartAsync(stop.Token);
    }
    catch (System.Net.Sockets.SocketException e)
    {
        return Fail($"cannot listen: {e.Message}");
    }
    catch (ArgumentException e)
    {
        return Fail(e.Message);
    }
    foreach (var address in host.ListenAddresses)
    {
        var full = address.WithPeerId(host.LocalPeerId).ToString();
        Console.WriteLine(json ? JsonSerializer.Serialize(new { @event = "listening", address = full }) : $"listening {full}");
    }
    host.PeerConnected += (_, e) => Report(json, "connected", e.Peer, e.RemoteAddress);
    host.PeerDisconnected += (_, e) => Report(json, "disconnected", e.Peer, e.RemoteAddress);
    try
    {
        await Task.Delay(Timeout.Infinite, stop.Token);
    }
    catch (OperationCanceledException)
    {
        // Ctrl-C or SIGTERM: shut down cleanly.
    }
    return 0;
}

static async Task<int> PingAsync(string target, int count, LogLevel logLevel, CancellationToken cancellationToken)
{
    if (!Multiaddr.TryParse(target, out var address) || address!.PeerId is null)
    {
        return Fail($"'{target}' is not a multiaddr ending in /p2p/<peer id>");
    }
    using var loggerFactory = CreateLoggerFactory(logLevel);
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
        return Fail($"ping failed: {e.Message}");
    }
}

static int Fail(string message)
{
    Console.Error.WriteLine($"parley: {message}");
    return 1;
}

static bool TryParseAll(string[] texts, out List<Multiaddr> addresses, out string error)
{
    addresses = [];
    foreach (var text in texts)
    {
        if (!Multiaddr.TryParse(text, out var address))
        {
            error = $"'{text}' is not a valid multiaddr";
            return false;
        }
        addresses.Add(address!);
    }
    error = "";
    return true;
}

static void Report(bool json, string what, PeerId peer, Multiaddr? address)
{
    Console.WriteLine(json
        ? JsonSerializer.Serialize(new { @event = what, peer = peer.ToString(), address = address?.ToString() })
        : $"{what} {peer} {address}");
}

static ILoggerFactory CreateLoggerFactory(LogLevel level) =>
    LoggerFactory.Create(builder =>
    {
        builder.SetMinimumLevel(level);
        // stdout carries the command's output (listen lines, pongs); logs go to stderr.
        builder.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddSimpleConsole(options => options.SingleLine = true);
    });
