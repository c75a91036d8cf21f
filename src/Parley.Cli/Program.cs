using System.CommandLine;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Parley.Cli;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Dht.Records;
using Parley.Net;
using Parley.Net.Host;
using Parley.Net.Protocols;

var dataOption = new Option<string>("--data")
{
    Description = "Data folder (node key, routing table)",
    Recursive = true,
    DefaultValueFactory = _ => DataFolder.DefaultPath,
};
var logLevelOption = new Option<LogLevel>("--log-level")
{
    Description = "Log detail on stderr",
    Recursive = true,
    DefaultValueFactory = _ => LogLevel.Warning,
};
var bootstrapOption = new Option<string[]>("--bootstrap")
{
    Description = "A peer to join the network through (multiaddr, ideally ending in /p2p/<id>); repeat for several",
    Recursive = true,
};
var dhtProtocolOption = new Option<string>("--dht-protocol")
{
    Description = $"DHT protocol id ({DhtOptions.StandardProtocolId} joins a standard libp2p DHT)",
    Recursive = true,
    DefaultValueFactory = _ => DhtOptions.ParleyProtocolId,
};

var listenOption = new Option<string[]>("--listen")
{
    Description = "Multiaddr to listen on; repeat for several",
    DefaultValueFactory = _ => ["/ip4/0.0.0.0/tcp/0"],
};
var jsonOption = new Option<bool>("--json") { Description = "Print events as JSON lines" };
var mdnsOption = new Option<bool>("--mdns") { Description = "Find peers on the local network with mDNS (_p2p._udp.local) and join through them" };
var nodeCommand = new Command("node", "Run a node until Ctrl-C or SIGTERM") { listenOption, jsonOption, mdnsOption };
nodeCommand.SetAction((parse, cancellationToken) => RunNodeAsync(
    parse.GetValue(dataOption)!,
    parse.GetValue(listenOption)!,
    parse.GetValue(bootstrapOption) ?? [],
    parse.GetValue(dhtProtocolOption)!,
    parse.GetValue(jsonOption),
    parse.GetValue(mdnsOption),
    parse.GetValue(logLevelOption),
    cancellationToken));

var pingTarget = new Argument<string>("multiaddr") { Description = "Address of the peer, ending in /p2p/<peer id>" };
var pingCount = new Option<int>("--count") { Description = "Number of pings", DefaultValueFactory = _ => 1 };
var pingCommand = new Command("ping", "Dial a peer and measure round trips") { pingTarget, pingCount };
pingCommand.SetAction((parse, cancellationToken) => PingAsync(parse.GetValue(pingTarget)!, parse.GetValue(pingCount), parse.GetValue(logLevelOption), cancellationToken));

var oneShotListenOption = new Option<string>("--listen")
{
    Description = "Where the short-lived node listens while it works",
    Recursive = true,
    DefaultValueFactory = _ => "/ip4/0.0.0.0/tcp/0",
};
var dhtCommand = new Command("dht", "One-shot DHT operations: start a short-lived node, join through --bootstrap, do it, print, exit") { oneShotListenOption };
var keyArgument = new Argument<string>("key") { Description = "Record key: a full key (/namespace/...) or a name for your own /parley-kv/<your id>/<name> record" };
var valueArgument = new Argument<string>("value") { Description = "A file to read the value from, or the value as text" };
var ttlOption = new Option<TimeSpan>("--ttl") { Description = "How long the record stays valid", DefaultValueFactory = _ => TimeSpan.FromHours(24) };
var putCommand = new Command("put", "Sign and store a record at the peers closest to its key") { keyArgument, valueArgument, ttlOption };
putCommand.SetAction((parse, ct) => RunDhtAsync(parse, (node, signer, token) => DhtPutAsync(node, signer, parse.GetValue(keyArgument)!, parse.GetValue(valueArgument)!, parse.GetValue(ttlOption), token), ct));
var getKeyArgument = new Argument<string>("key") { Description = "Full record key, as `dht put` printed it" };
var getCommand = new Command("get", "Fetch the best valid record for a key and print its value") { getKeyArgument };
getCommand.SetAction((parse, ct) => RunDhtAsync(parse, (node, _, token) => DhtGetAsync(node, parse.GetValue(getKeyArgument)!, token), ct));
var providerKeyArgument = new Argument<string>("key") { Description = "A CID, a base58 multihash, or any text (hashed with sha2-256)" };
var provideCommand = new Command("provide", "Announce this (short-lived) node as a provider of a key") { providerKeyArgument };
provideCommand.SetAction((parse, ct) => RunDhtAsync(parse, (node, _, token) => DhtProvideAsync(node, parse.GetValue(providerKeyArgument)!, token), ct));
var providersCommand = new Command("providers", "List the providers of a key") { providerKeyArgument };
providersCommand.SetAction((parse, ct) => RunDhtAsync(parse, (node, _, token) => DhtProvidersAsync(node, parse.GetValue(providerKeyArgument)!, token), ct));
var peerArgument = new Argument<string>("peerid") { Description = "The peer id to look for" };
var findPeerCommand = new Command("find-peer", "Find the addresses of a peer") { peerArgument };
findPeerCommand.SetAction((parse, ct) => RunDhtAsync(parse, (node, _, token) => DhtFindPeerAsync(node, parse.GetValue(peerArgument)!, token), ct));
dhtCommand.Subcommands.Add(putCommand);
dhtCommand.Subcommands.Add(getCommand);
dhtCommand.Subcommands.Add(provideCommand);
dhtCommand.Subcommands.Add(providersCommand);
dhtCommand.Subcommands.Add(findPeerCommand);

var root = new RootCommand("Parley: serverless end-to-end-encrypted chat")
{
    dataOption, logLevelOption, bootstrapOption, dhtProtocolOption, nodeCommand, pingCommand, dhtCommand,
};
return await root.Parse(args).InvokeAsync();

async Task<int> RunDhtAsync(ParseResult parse, Func<DhtNode, IdentityKey, CancellationToken, Task<int>> operation, CancellationToken cancellationToken)
{
    if (!TryParseAll(parse.GetValue(bootstrapOption) ?? [], out var bootstrap, out var error))
    {
        return Fail(error);
    }
    if (bootstrap.Count == 0)
    {
        return Fail("give at least one --bootstrap <multiaddr> to join the network through");
    }
    if (!Multiaddr.TryParse(parse.GetValue(oneShotListenOption), out var listen))
    {
        return Fail($"'{parse.GetValue(oneShotListenOption)}' is not a valid multiaddr");
    }
    IdentityKey signer;
    try
    {
        signer = await new DataFolder(parse.GetValue(dataOption)!).LoadOrCreateNodeKeyAsync(cancellationToken);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
    {
        return Fail($"cannot use data folder: {e.Message}");
    }
    using var loggerFactory = CreateLoggerFactory(parse.GetValue(logLevelOption));
    // A throwaway network identity, so the one-shot node never competes with a running node for the same peer id.
    await using var node = await DhtNode.StartAsync(IdentityKey.Generate(), [listen!], parse.GetValue(dhtProtocolOption)!, null, loggerFactory, cancellationToken);
    var peers = await node.JoinAsync(bootstrap, cancellationToken);
    if (peers == 0)
    {
        return Fail("no bootstrap peer answered; cannot reach the network");
    }
    return await operation(node, signer, cancellationToken);
}

static async Task<int> DhtPutAsync(DhtNode node, IdentityKey signer, string keyText, string valueText, TimeSpan ttl, CancellationToken cancellationToken)
{
    var key = DhtKeys.RecordKey(keyText, signer.PeerId);
    var value = File.Exists(valueText) ? await File.ReadAllBytesAsync(valueText, cancellationToken) : Encoding.UTF8.GetBytes(valueText);
    var now = DateTimeOffset.UtcNow;
    var record = SignedRecord.Create(signer, key, value, (ulong)now.ToUnixTimeMilliseconds(), now + ttl);
    PutValueResult result;
    try
    {
        result = await node.Dht.PutValueAsync(Encoding.UTF8.GetBytes(key), record, cancellationToken);
    }
    catch (RecordValidationException e)
    {
        return Fail($"cannot store {key}: {e.Message}");
    }
    Console.WriteLine($"stored {key} at {result.Stored} of {result.Attempted} closest peers");
    return result.Stored > 0 ? 0 : Fail("no peer accepted the record");
}

static async Task<int> DhtGetAsync(DhtNode node, string keyText, CancellationToken cancellationToken)
{
    var result = await node.Dht.GetValueAsync(Encoding.UTF8.GetBytes(keyText), cancellationToken);
    if (result.Value is null)
    {
        return Fail($"no record found for {keyText}");
    }
    var value = keyText.StartsWith($"/{ParleyRecords.KeyValueNamespace}/", StringComparison.Ordinal)
        ? new SignedRecordValidator(TimeProvider.System).Open(keyText, result.Value).Value.ToArray()
        : result.Value;
    using var stdout = Console.OpenStandardOutput();
    await stdout.WriteAsync(value, cancellationToken);
    Console.Out.Flush();
    return 0;
}

static async Task<int> DhtProvideAsync(DhtNode node, string keyText, CancellationToken cancellationToken)
{
    var told = await node.Dht.ProvideAsync(DhtKeys.ProviderKey(keyText), cancellationToken);
    Console.WriteLine($"announced {node.Host.LocalPeerId} as a provider of {keyText} to {told} peers");
    return told > 0 ? 0 : Fail("no peer took the announcement");
}

static async Task<int> DhtProvidersAsync(DhtNode node, string keyText, CancellationToken cancellationToken)
{
    var providers = await node.Dht.FindProvidersAsync(DhtKeys.ProviderKey(keyText), 20, cancellationToken);
    foreach (var provider in providers.Where(p => p.Peer != node.Host.LocalPeerId))
    {
        Console.WriteLine($"{provider.Peer} {string.Join(' ', provider.Addresses)}");
    }
    return providers.Any(p => p.Peer != node.Host.LocalPeerId) ? 0 : Fail($"no providers found for {keyText}");
}

static async Task<int> DhtFindPeerAsync(DhtNode node, string peerText, CancellationToken cancellationToken)
{
    if (!PeerId.TryParse(peerText, out var peer))
    {
        return Fail($"'{peerText}' is not a peer id");
    }
    var found = await node.Dht.FindPeerAsync(peer!, cancellationToken);
    if (found is null)
    {
        return Fail($"no addresses found for {peer}");
    }
    foreach (var address in found.Addresses)
    {
        Console.WriteLine(address.WithPeerId(peer!));
    }
    return 0;
}

static async Task<int> RunNodeAsync(string data, string[] listen, string[] bootstrapTexts, string dhtProtocol, bool json, bool mdns, LogLevel logLevel, CancellationToken cancellationToken)
{
    using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });
    using var loggerFactory = CreateLoggerFactory(logLevel);
    if (!TryParseAll(listen, out var listenAddresses, out var error) || !TryParseAll(bootstrapTexts, out var bootstrap, out error))
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
    DhtNode node;
    try
    {
        node = await DhtNode.StartAsync(key, listenAddresses, dhtProtocol, data, loggerFactory, stop.Token);
    }
    catch (System.Net.Sockets.SocketException e)
    {
        return Fail($"cannot listen: {e.Message}");
    }
    catch (ArgumentException e)
    {
        return Fail(e.Message);
    }
    await using (node)
    {
        foreach (var address in node.Host.ListenAddresses)
        {
            var full = address.WithPeerId(node.Host.LocalPeerId).ToString();
            Console.WriteLine(json ? JsonSerializer.Serialize(new { @event = "listening", address = full }) : $"listening {full}");
        }
        node.Host.PeerConnected += (_, e) => Report(json, "connected", e.Peer, e.RemoteAddress);
        node.Host.PeerDisconnected += (_, e) => Report(json, "disconnected", e.Peer, e.RemoteAddress);
        if (mdns)
        {
            node.StartMdns(loggerFactory);
        }
        try
        {
            var peers = await node.JoinAsync(bootstrap, stop.Token);
            Console.WriteLine(json
                ? JsonSerializer.Serialize(new { @event = "joined", routingTable = peers })
                : peers == 0 ? "joined: no peers yet; waiting for others to join through this node" : $"joined: {peers} peer{(peers == 1 ? "" : "s")} in the routing table");
            using var saveTimer = new PeriodicTimer(TimeSpan.FromMinutes(1));
            while (await saveTimer.WaitForNextTickAsync(stop.Token))
            {
                await node.SaveRoutingTableAsync(stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
            // Ctrl-C or SIGTERM: save what we know and shut down cleanly.
        }
        await node.SaveRoutingTableAsync(CancellationToken.None);
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
        // stdout carries the command's output (listen lines, pongs, values); logs go to stderr.
        builder.AddConsole(options => options.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.AddSimpleConsole(options => options.SingleLine = true);
    });
