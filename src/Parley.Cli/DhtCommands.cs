using System.CommandLine;
using System.Text;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Dht.Records;
using Parley.Node;

namespace Parley.Cli;

/// <summary>`parley dht …`: one-shot DHT operations on a short-lived node.</summary>
internal static class DhtCommands
{
    public static Command Create(GlobalOptions options)
    {
        var listen = new Option<string>("--listen")
        {
            Description = "Where the short-lived node listens while it works",
            Recursive = true,
            DefaultValueFactory = _ => "/ip4/0.0.0.0/tcp/0",
        };
        var command = new Command("dht", "One-shot DHT operations: start a short-lived node, join through --bootstrap, do it, print, exit") { listen };

        var key = new Argument<string>("key") { Description = "Record key: a full key (/namespace/...) or a name for your own /parley-kv/<your id>/<name> record" };
        var value = new Argument<string>("value") { Description = "A file to read the value from, or the value as text" };
        var ttl = new Option<TimeSpan>("--ttl") { Description = "How long the record stays valid", DefaultValueFactory = _ => TimeSpan.FromHours(24) };
        var put = new Command("put", "Sign and store a record at the peers closest to its key") { key, value, ttl };
        put.SetAction((parse, ct) => RunAsync(options, parse, listen, (node, signer, token) => PutAsync(node, signer, parse.GetValue(key)!, parse.GetValue(value)!, parse.GetValue(ttl), token), ct));

        var getKey = new Argument<string>("key") { Description = "Full record key, as `dht put` printed it" };
        var get = new Command("get", "Fetch the best valid record for a key and print its value") { getKey };
        get.SetAction((parse, ct) => RunAsync(options, parse, listen, (node, _, token) => GetAsync(node, parse.GetValue(getKey)!, token), ct));

        var providerKey = new Argument<string>("key") { Description = "A CID, a base58 multihash, or any text (hashed with sha2-256)" };
        var provide = new Command("provide", "Announce this (short-lived) node as a provider of a key") { providerKey };
        provide.SetAction((parse, ct) => RunAsync(options, parse, listen, (node, _, token) => ProvideAsync(node, parse.GetValue(providerKey)!, token), ct));
        var providers = new Command("providers", "List the providers of a key") { providerKey };
        providers.SetAction((parse, ct) => RunAsync(options, parse, listen, (node, _, token) => ProvidersAsync(node, parse.GetValue(providerKey)!, token), ct));

        var peer = new Argument<string>("peerid") { Description = "The peer id to look for" };
        var findPeer = new Command("find-peer", "Find the addresses of a peer") { peer };
        findPeer.SetAction((parse, ct) => RunAsync(options, parse, listen, (node, _, token) => FindPeerAsync(node, parse.GetValue(peer)!, token), ct));

        command.Subcommands.Add(put);
        command.Subcommands.Add(get);
        command.Subcommands.Add(provide);
        command.Subcommands.Add(providers);
        command.Subcommands.Add(findPeer);
        return command;
    }

    private static async Task<int> RunAsync(GlobalOptions options, ParseResult parse, Option<string> listen, Func<ParleyNode, IdentityKey, CancellationToken, Task<int>> operation, CancellationToken cancellationToken)
    {
        var nodeOptions = options.NodeOptions(parse, [parse.GetValue(listen)!], keepData: false, out var error);
        if (nodeOptions is null)
        {
            return GlobalOptions.Fail(error);
        }
        if (nodeOptions.Bootstrap.Count == 0)
        {
            return GlobalOptions.Fail("give at least one --bootstrap <multiaddr> to join the network through");
        }
        IdentityKey signer;
        try
        {
            signer = await new DataFolder(parse.GetValue(options.Data)!).LoadOrCreateNodeKeyAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return GlobalOptions.Fail($"cannot use data folder: {e.Message}");
        }
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
        // A throwaway network identity, so the one-shot node never competes with a running node for the same peer id.
        await using var node = await ParleyNode.StartAsync(nodeOptions, loggerFactory, cancellationToken);
        if (await node.JoinAsync(cancellationToken) is { Peers: 0 } join)
        {
            return GlobalOptions.Fail(GlobalOptions.NoNetwork(join));
        }
        return await operation(node, signer, cancellationToken);
    }

    private static async Task<int> PutAsync(ParleyNode node, IdentityKey signer, string keyText, string valueText, TimeSpan ttl, CancellationToken cancellationToken)
    {
        var value = File.Exists(valueText) ? await File.ReadAllBytesAsync(valueText, cancellationToken) : Encoding.UTF8.GetBytes(valueText);
        var now = DateTimeOffset.UtcNow;
        RecordKey key;
        PutValueResult result;
        try
        {
            key = DhtKeys.RecordKeyOf(keyText, signer.PeerId);
            var record = SignedRecord.Create(signer, key, value, (ulong)now.ToUnixTimeMilliseconds(), now + ttl);
            result = await node.Dht.PutValueAsync(key, record, cancellationToken);
        }
        catch (RecordValidationException e)
        {
            return GlobalOptions.Fail($"cannot store {keyText}: {e.Message}");
        }
        Console.WriteLine($"stored {key} at {result.Stored} of {result.Attempted} closest peers");
        return result.Stored > 0 ? 0 : GlobalOptions.Fail("no peer accepted the record");
    }

    private static async Task<int> GetAsync(ParleyNode node, string keyText, CancellationToken cancellationToken)
    {
        RecordKey key;
        try
        {
            key = RecordKey.Parse(keyText);
        }
        catch (RecordValidationException e)
        {
            return GlobalOptions.Fail($"not a record key: {e.Message}");
        }
        var result = await node.Dht.GetValueAsync(key, cancellationToken);
        if (result.Value is null)
        {
            return GlobalOptions.Fail($"no record found for {keyText}");
        }
        var value = key.Namespace == ParleyRecords.UserRecordsNamespace
            ? new SignedRecordValidator(TimeProvider.System).Open(key, result.Value).Value.ToArray()
            : result.Value;
        using var stdout = Console.OpenStandardOutput();
        await stdout.WriteAsync(value, cancellationToken);
        Console.Out.Flush();
        return 0;
    }

    private static async Task<int> ProvideAsync(ParleyNode node, string keyText, CancellationToken cancellationToken)
    {
        var told = await node.Dht.ProvideAsync(DhtKeys.ProviderKey(keyText), cancellationToken);
        Console.WriteLine($"announced {node.PeerId} as a provider of {keyText} to {told} peers");
        return told > 0 ? 0 : GlobalOptions.Fail("no peer took the announcement");
    }

    private static async Task<int> ProvidersAsync(ParleyNode node, string keyText, CancellationToken cancellationToken)
    {
        var providers = await node.Dht.FindProvidersAsync(DhtKeys.ProviderKey(keyText), 20, cancellationToken);
        foreach (var provider in providers.Where(p => p.Peer != node.PeerId))
        {
            Console.WriteLine($"{provider.Peer} {string.Join(' ', provider.Addresses)}");
        }
        return providers.Any(p => p.Peer != node.PeerId) ? 0 : GlobalOptions.Fail($"no providers found for {keyText}");
    }

    private static async Task<int> FindPeerAsync(ParleyNode node, string peerText, CancellationToken cancellationToken)
    {
        if (!PeerId.TryParse(peerText, out var peer))
        {
            return GlobalOptions.Fail($"'{peerText}' is not a peer id");
        }
        var found = await node.Dht.FindPeerAsync(peer!, cancellationToken);
        if (found is null)
        {
            return GlobalOptions.Fail($"no addresses found for {peer}");
        }
        foreach (var address in found.Addresses)
        {
            Console.WriteLine(address.WithPeerId(peer!));
        }
        return 0;
    }
}
