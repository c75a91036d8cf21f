using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Directory;
using Parley.Chat.Files;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Core.Multiformats;
using Parley.Node;

namespace Parley.Node.Tests;

/// <summary>
/// Whole Parley nodes (TCP, Noise, yamux, DHT, mailboxes, chat, SQLite) in this process on 127.0.0.1 ports chosen by
/// the OS, each with its own data folder; every node joins through the last few started, never through one.
/// </summary>
public sealed class LoopbackNetwork : IAsyncDisposable
{
    public static readonly DirectoryOptions Directory = new() { NameClaimDifficulty = 8 };

    public static readonly ChatOptions Chat = new()
    {
        MailboxPollInterval = TimeSpan.FromSeconds(1),
        FirstRetryDelay = TimeSpan.FromMilliseconds(200),
        MaxRetryDelay = TimeSpan.FromSeconds(2),
        StoredRetryDelay = TimeSpan.FromSeconds(2),
        DirectTimeout = TimeSpan.FromSeconds(3),
    };

    private readonly string _root = System.IO.Directory.CreateTempSubdirectory("parley-loopback-").FullName;
    private readonly ILoggerFactory _loggerFactory;

    public LoopbackNetwork(ILoggerFactory? loggerFactory = null)
    {
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    public List<ParleyNode> Nodes { get; } = [];

    public string FolderOf(string name) => Path.Combine(_root, name);

    public async Task StartNodesAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await StartNodeAsync($"node{Nodes.Count}");
        }
    }

    /// <summary>Starts a node on a fresh port with the data folder called <paramref name="name"/> (reused if it exists) and joins it.</summary>
    public async Task<ParleyNode> StartNodeAsync(string name, MailboxOptions? mailbox = null, Func<IFileChannels, IFileChannels>? wrapFileChannels = null)
    {
        var node = await ParleyNode.StartAsync(
            new ParleyNodeOptions
            {
                DataFolder = FolderOf(name),
                Listen = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
                Bootstrap = Nodes.TakeLast(3).Select(n => n.Host.ListenAddresses[0].WithPeerId(n.PeerId)).ToList(),
                Directory = Directory,
                Mailbox = mailbox ?? new MailboxOptions(),
                Chat = Chat,
                WrapFileChannels = wrapFileChannels,
            },
            _loggerFactory,
            CancellationToken.None);
        await node.JoinAsync(CancellationToken.None);
        Nodes.Add(node);
        return node;
    }

    /// <summary>Starts a node for a user in data folder <paramref name="folder"/>: creates the account (named as the folder unless <paramref name="name"/> says otherwise) on first use, then starts the chat.</summary>
    public async Task<ParleyNode> StartUserAsync(string folder, string? name = null, Func<IFileChannels, IFileChannels>? wrapFileChannels = null)
    {
        var node = await StartNodeAsync(folder, wrapFileChannels: wrapFileChannels);
        if (!await node.OpenChatAsync(CancellationToken.None))
        {
            await node.CreateAccountAsync(name ?? folder, CancellationToken.None);
        }
        await node.Chat!.StartAsync(CancellationToken.None);
        return node;
    }

    public async Task StopAsync(ParleyNode node)
    {
        Nodes.Remove(node);
        await node.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
        System.IO.Directory.Delete(_root, recursive: true);
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (!await condition())
        {
            if (deadline.IsCancellationRequested)
            {
                Assert.Fail($"timed out after {timeout.TotalSeconds:0} s waiting until {what}");
            }
            await Task.Delay(100, CancellationToken.None);
        }
    }
}
