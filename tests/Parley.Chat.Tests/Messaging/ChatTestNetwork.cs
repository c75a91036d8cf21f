using Parley.Chat.Directory;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Storage;
using Parley.Testing;

namespace Parley.Chat.Tests.Messaging;

/// <summary>
/// A DHT on the in-memory network where every node serves mailboxes, plus chat users on nodes of their own, each with
/// a SQLite store in a temporary folder. Background loops are off: tests drive the outbox and the mailbox themselves.
/// </summary>
public sealed class ChatTestNetwork : IAsyncDisposable
{
    public static readonly DirectoryOptions Directory = new() { NameClaimDifficulty = 6 };
    public static readonly MailboxOptions Mailbox = new() { DepositDifficulty = 6, RunMaintenance = false };
    public static readonly ChatOptions Chat = new() { RunBackgroundTasks = false, DirectTimeout = TimeSpan.FromSeconds(3) };

    private readonly string _folder = System.IO.Directory.CreateTempSubdirectory("parley-chat-").FullName;
    private readonly List<MailboxService> _services = [];
    private readonly List<ChatUser> _users = [];

    private ChatTestNetwork(DhtTestNetwork dht)
    {
        Dht = dht;
    }

    public DhtTestNetwork Dht { get; }

    public static async Task<ChatTestNetwork> StartAsync(int nodes)
    {
        var dht = await DhtTestNetwork.StartAsync(nodes, validators: Validators);
        var network = new ChatTestNetwork(dht);
        foreach (var (host, node) in dht.Nodes)
        {
            network.StartMailbox(host, node);
        }
        return network;
    }

    public static Dht.Records.RecordValidatorRegistry Validators()
    {
        var registry = ParleyRecords.CreateValidators(TimeProvider.System);
        ChatRecords.Register(registry, TimeProvider.System, Directory);
        return registry;
    }

    /// <summary>A new user with an account called <paramref name="name"/> on a node of its own, started (directory records published).</summary>
    public async Task<ChatUser> AddUserAsync(string name, ChatOptions? options = null)
    {
        var store = await SqliteChatStore.OpenAsync(Path.Combine(_folder, $"{name}-{Guid.NewGuid():N}.db"), null, DefaultCryptoProvider.Instance, Durability.ProcessCrash, CancellationToken.None);
        await ChatClient.CreateAccountAsync(store, name, DefaultCryptoProvider.Instance, TimeProvider.System, CancellationToken.None);
        var user = new ChatUser(this, store, IdentityKey.Generate(), options ?? Chat);
        await user.ComeOnlineAsync();
        _users.Add(user);
        return user;
    }

    internal MailboxService StartMailbox(InMemoryHost host, KademliaNode node)
    {
        var service = new MailboxService(host, node, new EphemeralMailboxStore(Mailbox, TimeProvider.System), TimeProvider.System, Mailbox);
        service.Start();
        _services.Add(service);
        return service;
    }

    public async Task RunMailboxMaintenanceAsync()
    {
        foreach (var service in _services.ToList())
        {
            await service.RunMaintenanceOnceAsync(CancellationToken.None);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var user in _users)
        {
            await user.DisposeAsync();
        }
        foreach (var service in _services)
        {
            await service.DisposeAsync();
        }
        await Dht.DisposeAsync();
        System.IO.Directory.Delete(_folder, recursive: true);
    }
}

/// <summary>A user whose node can go offline and come back (with a new address, as after a restart).</summary>
public sealed class ChatUser : IAsyncDisposable
{
    private readonly ChatTestNetwork _network;
    private readonly IdentityKey _deviceKey;
    private readonly ChatOptions _options;
    private InMemoryHost? _host;
    private KademliaNode? _dht;

    internal ChatUser(ChatTestNetwork network, SqliteChatStore store, IdentityKey deviceKey, ChatOptions options)
    {
        _network = network;
        Store = store;
        _deviceKey = deviceKey;
        _options = options;
    }

    public SqliteChatStore Store { get; }

    public ChatClient Chat { get; private set; } = null!;

    public InMemoryHost Host => _host!;

    public List<MessageRecord> Received { get; } = [];

    public List<MessageRecord> StateChanges { get; } = [];

    public async Task ComeOnlineAsync()
    {
        _dht = await _network.Dht.AddNodeAsync(identity: _deviceKey);
        _host = _network.Dht.Nodes[^1].Host;
        var service = _network.StartMailbox(_host, _dht);
        var directory = new DirectoryClient(_dht, TimeProvider.System, ChatTestNetwork.Directory);
        var mailbox = new MailboxClient(_host, _host, _dht, TimeProvider.System, ChatTestNetwork.Mailbox, localService: service);
        var account = await Store.ReadAsync(r => r.GetAccount(), CancellationToken.None);
        var device = Parley.Chat.Identity.Account.FromSecrets(account!.AccountSeed, account.IdentityDhPrivateKey).CertifyDevice(_deviceKey.PublicKey, DateTimeOffset.UtcNow);
        Chat = (await ChatClient.OpenAsync(new ChatDependencies(Store, new Channels.ChatStreams(_host, _options, TimeProvider.System), directory, mailbox, device, TimeProvider.System, DefaultCryptoProvider.Instance, _options), CancellationToken.None))!;
        Chat.MessageReceived += (_, e) =>
        {
            lock (Received)
            {
                Received.Add(e.Message);
            }
        };
        Chat.MessageStateChanged += (_, e) =>
        {
            lock (StateChanges)
            {
                StateChanges.Add(e.Message);
            }
        };
        await Chat.StartAsync(CancellationToken.None);
    }

    /// <summary>Goes offline the way a clean shutdown does (presence withdrawn), or as a crash does.</summary>
    public async Task GoOfflineAsync(bool crash = false)
    {
        if (crash)
        {
            await _host!.DisposeAsync();
        }
        await Chat.DisposeAsync();
        await _host!.DisposeAsync();
        _network.Dht.Nodes.RemoveAll(n => n.Host == _host);
        await _dht!.DisposeAsync();
    }

    /// <summary>Hands this user's node an envelope on a chat stream from a stranger's host, as an attacker could.</summary>
    public async Task<Protos.ChatResponse> DeliverRawAsync(Protos.Envelope envelope)
    {
        await using var stranger = _network.Dht.Network.CreateHost();
        await using var stream = await stranger.OpenStreamAsync(Host.LocalPeerId, [ChatOptions.ChatProtocolId], CancellationToken.None);
        await Net.LengthPrefixed.WriteMessageAsync(stream, Google.Protobuf.MessageExtensions.ToByteArray(new Protos.ChatRequest { Envelope = envelope }), CancellationToken.None);
        return Protos.ChatResponse.Parser.ParseFrom(await Net.LengthPrefixed.ReadMessageAsync(stream, 4096, CancellationToken.None));
    }

    public async Task<IReadOnlyList<MessageRecord>> HistoryWithAsync(ChatUser other) =>
        await Chat.GetHistoryAsync(other.Chat.Handle.ToString(), ChatClient.MaxPageSize, CancellationToken.None);

    public async ValueTask DisposeAsync()
    {
        if (_host is { IsOnline: true })
        {
            await GoOfflineAsync();
        }
        await Store.DisposeAsync();
    }
}
