using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Testing;
using Parley.Testing.Chat;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>
/// Chat users on the in-memory fakes (directory, mailboxes, peer channels, chat store): the chat core runs as in
/// production, without a socket, a DHT or a database. Background loops are off and time is manual: tests drive the
/// outbox, the mailbox and the clock. Presence notes still go out aside (the greetings accepting a contact sends, the
/// answers they ask for); <see cref="FakeChatUser.FlushAsync"/> waits for them (<see cref="QuietAsync"/>).
/// </summary>
public sealed class FakeChatWorld : IAsyncDisposable
{
    public static readonly ChatOptions Options = new() { RunBackgroundTasks = false, Files = new FileTransferOptions { DiskReserveBytes = 1024 * 1024 } };

    private readonly List<FakeChatUser> _users = [];

    public ManualTimeProvider Time { get; } = new(DateTimeOffset.FromUnixTimeMilliseconds(1_800_000_000_000));

    public InMemoryDirectory Directory { get; }

    public InMemoryMailboxes Mailboxes { get; }

    public PeerChannelHub Hub { get; } = new();

    /// <summary>Where file streams go: every online device has a host on it.</summary>
    public InMemoryNetwork Network { get; } = new();

    public FakeChatWorld()
    {
        Directory = new InMemoryDirectory(Time);
        Mailboxes = new InMemoryMailboxes(Time);
    }

    /// <summary>A new user called <paramref name="name"/>, online (serving, its records published).</summary>
    /// <param name="fileChannels">Wraps the user's file streams (a test that cuts or corrupts them).</param>
    public async Task<FakeChatUser> AddUserAsync(string name, ChatOptions? options = null, Func<IFileChannels, IFileChannels>? fileChannels = null)
    {
        var store = new InMemoryChatStore();
        await ChatClient.CreateAccountAsync(store, name, DefaultCryptoProvider.Instance, Time, CancellationToken.None);
        var user = new FakeChatUser(this, store, IdentityKey.Generate(), options ?? Options, fileChannels);
        await user.ComeOnlineAsync();
        _users.Add(user);
        return user;
    }

    /// <summary>
    /// Another device of <paramref name="user"/>'s account, online: what linking leaves behind (the account's secrets
    /// on a new device whose key the account certified through <see cref="Devices.AccountDevices.AddAsync"/>), without the
    /// linking ceremony, and without the state a link hands over (contacts, rooms, history).
    /// </summary>
    public async Task<FakeChatUser> AddDeviceAsync(FakeChatUser user, string deviceName, ChatOptions? options = null)
    {
        var account = await user.Store.ReadAsync(r => r.GetAccount(), CancellationToken.None);
        var store = new InMemoryChatStore();
        await store.TransactAsync(tx =>
        {
            tx.PutAccount(account! with { NameProofOfWork = null });
            return true;
        }, CancellationToken.None);
        var deviceKey = IdentityKey.Generate();
        await user.Chat.Devices.AddAsync(deviceKey.PublicKey, deviceName, CancellationToken.None);
        var device = new FakeChatUser(this, store, deviceKey, options ?? Options, null);
        // Joined before it starts: a device that does not know it is linked publishes as a single-device account.
        await device.ComeOnlineAsync(chat => chat.Devices.JoinAsync(CancellationToken.None));
        _users.Add(device);
        return device;
    }

    /// <summary>Runs outbox passes on every online user until nothing is left to send.</summary>
    public async Task SettleAsync()
    {
        for (var round = 0; round < 12; round++)
        {
            var online = _users.Where(u => u.IsOnline).ToList();
            foreach (var user in online)
            {
                await user.FlushAsync();
            }
            var queued = 0;
            foreach (var user in online)
            {
                queued += await user.Chat.CountOutboxAsync(CancellationToken.None);
            }
            if (queued == 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Waits until no online user has a presence note going out aside. Which notes arrived, and when, decides who saw
    /// whom online (so who is told "offline" on a clean stop), who learned of a linked contact's devices from a note
    /// naming one, and when a device's presence was looked up (and kept): it must follow the test's steps, not the
    /// thread pool's load.
    /// </summary>
    public async Task QuietAsync()
    {
        while (_users.Where(u => u.IsOnline).Select(u => u.Core.Live.WhenToldAsync()).Where(t => !t.IsCompleted).ToList() is { Count: > 0 } telling)
        {
            await Task.WhenAll(telling);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var user in _users)
        {
            await user.DisposeAsync();
        }
    }
}

/// <summary>A test with alice and bob online in a <see cref="FakeChatWorld"/>.</summary>
public abstract class AliceAndBobTest : IAsyncLifetime
{
    protected FakeChatWorld World { get; } = new();

    protected FakeChatUser Alice { get; private set; } = null!;

    protected FakeChatUser Bob { get; private set; } = null!;

    public virtual async Task InitializeAsync()
    {
        Alice = await World.AddUserAsync("alice");
        Bob = await World.AddUserAsync("bob");
    }

    public async Task DisposeAsync() => await World.DisposeAsync();

    /// <summary>Alice writes, bob accepts: accepted contacts with a session, each holding the other's mailbox token.</summary>
    protected async Task MakeContactsAsync()
    {
        await Alice.Chat.SendAsync(Bob.HandleText, "hello", CancellationToken.None);
        await Alice.FlushAsync();
        await Bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await Bob.FlushAsync();
    }
}

/// <summary>A user of <see cref="FakeChatWorld"/> whose device can go offline and come back.</summary>
public sealed class FakeChatUser : IAsyncDisposable
{
    private readonly FakeChatWorld _world;
    private readonly IdentityKey _deviceKey;
    private readonly ChatOptions _options;
    private readonly Func<IFileChannels, IFileChannels>? _fileChannels;
    private InMemoryHost? _host;

    internal FakeChatUser(FakeChatWorld world, InMemoryChatStore store, IdentityKey deviceKey, ChatOptions options, Func<IFileChannels, IFileChannels>? fileChannels)
    {
        _world = world;
        Store = store;
        _deviceKey = deviceKey;
        _options = options;
        _fileChannels = fileChannels;
    }

    public InMemoryChatStore Store { get; private set; }

    /// <summary>The user's file contents; like a data folder, they outlive the device going offline.</summary>
    public EphemeralFileStore Files { get; } = new(64L * 1024 * 1024);

    public ChatClient Chat { get; private set; } = null!;

    public string HandleText => Chat.Handle.ToString();

    public bool IsOnline { get; private set; }

    public List<MessageRecord> Received { get; } = [];

    public List<MessageRecord> StateChanges { get; } = [];

    public List<SessionResetEventArgs> SessionResets { get; } = [];

    internal Parley.Chat.Messaging.ChatCore Core => Chat.Core;

    /// <param name="beforeStart">Runs on the opened chat before it starts (serving, publishing, fetching).</param>
    public async Task ComeOnlineAsync(Func<ChatClient, Task>? beforeStart = null)
    {
        var account = await Store.ReadAsync(r => r.GetAccount(), CancellationToken.None);
        var device = Parley.Chat.Identity.Account.FromSecrets(account!.AccountSeed, account.IdentityDhPrivateKey).CertifyDevice(_deviceKey.PublicKey, _world.Time.GetUtcNow());
        _host = _world.Network.CreateHost(_deviceKey);
        IFileChannels files = new FileStreams(_host, TimeSpan.FromSeconds(5));
        var dependencies = new ChatDependencies(
            Store, _world.Hub.Connect(_deviceKey.PeerId), _world.Directory, _world.Mailboxes, device, _world.Time, DefaultCryptoProvider.Instance, _options,
            FileStore: Files, FileChannels: _fileChannels?.Invoke(files) ?? files, DeviceKey: _deviceKey);
        Chat = (await ChatClient.OpenAsync(dependencies, CancellationToken.None))!;
        Chat.MessageReceived += (_, e) => Received.Add(e.Message);
        Chat.MessageStateChanged += (_, e) => StateChanges.Add(e.Message);
        Chat.SessionReset += (_, e) => SessionResets.Add(e);
        if (beforeStart is not null)
        {
            await beforeStart(Chat);
        }
        await Chat.StartAsync(CancellationToken.None);
        IsOnline = true;
    }

    /// <summary>Goes offline the way a clean shutdown does: presence withdrawn, nothing served.</summary>
    public async Task GoOfflineAsync()
    {
        await Chat.DisposeAsync();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
        IsOnline = false;
    }

    /// <summary>Stops, puts <paramref name="backup"/> (a copy of it) in place of everything stored, and comes online again: a restored backup.</summary>
    public async Task RestoreAsync(InMemoryChatStore backup)
    {
        await GoOfflineAsync();
        Store = backup.Snapshot();
        await ComeOnlineAsync();
    }

    public Task<IReadOnlyList<MessageRecord>> HistoryWithAsync(FakeChatUser other) =>
        Chat.GetHistoryAsync(other.HandleText, ChatClient.MaxPageSize, CancellationToken.None);

    /// <summary>One outbox pass, then <see cref="FakeChatWorld.QuietAsync"/>: the presence notes it (or an accept before it) set off have arrived.</summary>
    public async Task<int> FlushAsync()
    {
        var left = await Chat.FlushOutboxAsync(CancellationToken.None);
        await _world.QuietAsync();
        return left;
    }

    public async ValueTask DisposeAsync()
    {
        if (IsOnline)
        {
            await GoOfflineAsync();
        }
    }
}
