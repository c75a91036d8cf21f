using System.CommandLine;
using Microsoft.Extensions.Logging;
using Parley.Cli;
using Parley.Dht;

var options = new GlobalOptions(
    new Option<string>("--data")
    {
        Description = "Data folder (node key, chat and mailbox databases, routing table)",
        Recursive = true,
        DefaultValueFactory = _ => Parley.Node.DataFolder.DefaultPath,
    },
    new Option<LogLevel>("--log-level")
    {
        Description = "Log detail on stderr",
        Recursive = true,
        DefaultValueFactory = _ => LogLevel.Warning,
    },
    new Option<string[]>("--bootstrap")
    {
        Description = "A peer to join the network through (multiaddr, ideally ending in /p2p/<id>); repeat for several",
        Recursive = true,
    },
    new Option<string>("--dht-protocol")
    {
        Description = $"DHT protocol id ({DhtOptions.StandardProtocolId} joins a standard libp2p DHT)",
        Recursive = true,
        DefaultValueFactory = _ => DhtOptions.ParleyProtocolId,
    },
    new Option<string?>("--passphrase-file")
    {
        Description = "File holding the passphrase that protects your keys (or set PARLEY_PASSPHRASE)",
        Recursive = true,
    },
    new Option<bool>("--json")
    {
        Description = "Machine-readable output (JSON)",
        Recursive = true,
    },
    new Option<int>("--name-difficulty")
    {
        Description = "Proof-of-work bits of a name claim; every node of a network must use the same (test networks lower it)",
        Recursive = true,
        DefaultValueFactory = _ => new Parley.Chat.Directory.DirectoryOptions().NameClaimDifficulty,
        Hidden = true,
    });

var root = new RootCommand("Parley: serverless end-to-end-encrypted chat");
options.AddTo(root);
root.Subcommands.Add(UpCommand.Create(options));
root.Subcommands.Add(DemoCommand.Create(options));
root.Subcommands.Add(NodeCommands.Node(options));
root.Subcommands.Add(NodeCommands.Ping(options));
root.Subcommands.Add(DhtCommands.Create(options));
root.Subcommands.Add(RoomCommands.Create(options));
root.Subcommands.Add(DeviceCommands.Create(options));
foreach (var command in ChatCommands.Create(options).Concat(ChatCommands.ContactLinks(options)))
{
    root.Subcommands.Add(command);
}
// Bare `parley` is a mistake, not a request for nothing: help, and a failing exit code for scripts.
root.SetAction(parse =>
{
    new System.CommandLine.Help.HelpAction().Invoke(parse);
    return 1;
});
using var shutdown = new ShutdownSignals();
// The signals are ours (ShutdownSignals), so System.CommandLine must not end the process after a timeout of its own.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, shutdown.Token);
