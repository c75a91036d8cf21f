using Microsoft.Extensions.Logging;
using Parley.Chat.Channels;
using Parley.Chat.Directory;
using Parley.Chat.Files;
using Parley.Chat.Identity;
using Parley.Chat.Linking;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Net;
using Parley.Net.AutoNat;
using Parley.Net.Discovery;
using Parley.Net.HolePunch;
using Parley.Net.Host;
using Parley.Net.PortMapping;
using Parley.Net.Relay;
using Parley.Node.Linking;
using Parley.Storage;

namespace Parley.Node;

public sealed class ParleyNodeOptions
{
    /// <summary>Where keys, databases and the routing table live; null for a throwaway node that keeps nothing (one-shot DHT commands).</summary>
    public string? DataFolder { get; init; }

    public IReadOnlyList<Multiaddr> Listen { get; init; } = [Multiaddr.Parse("/ip4/0.0.0.0/tcp/0")];

    public IReadOnlyList<Multiaddr> Bootstrap { get; init; } = [];

    public string DhtProtocol { get; init; } = DhtOptions.ParleyProtocolId;

    /// <summary>Unlocks (or, on first use, protects) the keys in the chat database.</summary>
    public string? Passphrase { get; init; }

    /// <summary>
    /// Asked for the passphrase when the keys are protected and <see cref="Passphrase"/> is not given; asked again
    /// (its argument true) after a wrong answer, up to <see cref="ParleyNode.PassphraseAttempts"/> times. It may throw
    /// <see cref="PassphraseRequiredException"/> when there is nobody to ask. Null: nobody is asked.
    /// </summary>
    public Func<bool, CancellationToken, Task<string>>? AskPassphrase { get; init; }

    public DhtOptions? Dht { get; init; }

    public DirectoryOptions Directory { get; init; } = new();

    public MailboxOptions Mailbox { get; init; } = new();

    public ChatOptions Chat { get; init; } = new();

    public Durability Durability { get; init; } = Durability.ProcessCrash;

    /// <summary>AutoNAT, the relay service for others, relay reservations for ourselves, hole punching, DHT mode.</summary>
    public ReachabilityOptions Reachability { get; init; } = new();

    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ICryptoProvider Crypto { get; init; } = DefaultCryptoProvider.Instance;

    /// <summary>Wraps the node's streams of the file protocol (tests corrupt what it serves); null: used as they are.</summary>
    public Func<IFileChannels, IFileChannels>? WrapFileChannels { get; init; }

    /// <summary>Linking devices to the account (docs/linking.md).</summary>
    public LinkOptions Linking { get; init; } = new();
}

/// <summary>How joining went: peers in the routing table (0: a network of its own), and the bootstrap addresses that could not be used, each with why.</summary>
public sealed record JoinReport(int Peers, IReadOnlyList<BootstrapFailure> Unusable);

/// <summary>A bootstrap address that could not be used, and why (unreachable, another peer there, no DHT).</summary>
public sealed record BootstrapFailure(Multiaddr Address, string Reason);

/// <summary>How a node finds out whether it can be dialled and what it does about it.</summary>
public sealed class ReachabilityOptions
{
    public AutoNatOptions AutoNat { get; init; } = new();

    /// <summary>The relay service a publicly reachable node runs for others; null turns it off.</summary>
    public RelayOptions? RelayService { get; init; } = new();

    public AutoRelayOptions AutoRelay { get; init; } = new();

    public HolePunchOptions HolePunch { get; init; } = new();

    /// <summary>Null: automatic (a DHT server when others can dial us, a client when they cannot); or a fixed mode.</summary>
    public DhtMode? DhtMode { get; init; }

    /// <summary>
    /// Asks the home router to forward our listen port (NAT-PMP); null (the default) does not. The CLI's long-running
    /// commands turn it on; a node started for one command, or in a test on loopback, has no use for it.
    /// </summary>
    public PortMappingOptions? PortMapping { get; init; }
}

/// <summary>
/// A whole Parley node: the libp2p host, the DHT (with Parley's record namespaces), the mailbox service it runs for
/// others, and, once the data folder has an account, the user's chat. The composition root; every part below it takes
/// its dependencies as parameters.
/// </summary>
public sealed class ParleyNode : IAsyncDisposable
{
    /// <summary>How many times <see cref="ParleyNodeOptions.AskPassphrase"/> is asked before a wrong passphrase is final.</summary>
    public const int PassphraseAttempts = 3;

    private readonly ParleyNodeOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly DataFolder? _folder;
    private readonly IDisposable? _lock;
    private readonly IdentityKey _deviceKey;
    private readonly IMailboxStore _mailboxStore;
    private readonly Libp2pHost _depositHost;
    private readonly SemaphoreSlim _republish = new(1, 1);
    private SqliteChatStore? _chatStore;
    private MdnsDiscovery? _mdns;
    private readonly Lock _joinLock = new();
    private DeviceJoin? _join;

    private ParleyNode(ParleyNodeOptions options, ILoggerFactory loggerFactory, DataFolder? folder, IDisposable? folderLock, IdentityKey deviceKey, Libp2pHost host, Libp2pHost depositHost, KademliaNode dht, IMailboxStore mailboxStore)
    {
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ParleyNode>();
        _folder = folder;
        _lock = folderLock;
        _deviceKey = deviceKey;
        Host = host;
        _depositHost = depositHost;
        Dht = dht;
        _mailboxStore = mailboxStore;
        MailboxService = new MailboxService(host, dht, mailboxStore, options.Time, options.Mailbox, loggerFactory.CreateLogger<MailboxService>());
        Directory = new DirectoryClient(dht, options.Time, options.Directory, loggerFactory.CreateLogger<DirectoryClient>());
        Mailbox = new MailboxClient(host, depositHost, dht, options.Time, options.Mailbox, loggerFactory.CreateLogger<MailboxClient>(), MailboxService);
        var reach = options.Reachability;
        AutoNat = new AutoNatService(host, reach.AutoNat, loggerFactory.CreateLogger<AutoNatService>());
        RelayService = reach.RelayService is null ? null : new RelayService(host, reach.RelayService, options.Time, loggerFactory.CreateLogger<RelayService>());
        AutoRelay = new AutoRelay(host, FindRelayCandidatesAsync, reach.AutoRelay, loggerFactory.CreateLogger<AutoRelay>());
        HolePunch = new HolePunchService(host, reach.HolePunch, loggerFactory.CreateLogger<HolePunchService>());
        PortMapper = reach.PortMapping is null ? null : new PortMapper(host, reach.PortMapping, loggerFactory.CreateLogger<PortMapper>());
    }

    public AutoNatService AutoNat { get; }

    /// <summary>The relay we run for others while publicly reachable; null when turned off.</summary>
    public RelayService? RelayService { get; }

    /// <summary>Our reservations on relays while we cannot be dialled.</summary>
    public AutoRelay AutoRelay { get; }

    public HolePunchService HolePunch { get; }

    /// <summary>The port mapping we ask our router for; null when turned off.</summary>
    public PortMapper? PortMapper { get; }

    public Libp2pHost Host { get; }

    public KademliaNode Dht { get; }

    public MailboxService MailboxService { get; }

    public DirectoryClient Directory { get; }

    public MailboxClient Mailbox { get; }

    /// <summary>The user's chat, once <see cref="OpenChatAsync"/> found (or <see cref="CreateAccountAsync"/> made) an account.</summary>
    public ChatClient? Chat { get; private set; }

    /// <summary>Makes link codes and hands the account to new devices, while the chat is open.</summary>
    public DeviceLinker? Linker { get; private set; }

    /// <summary>Linking this node into an existing account, once <see cref="StartJoin"/> started it.</summary>
    public DeviceJoin? Join
    {
        get
        {
            lock (_joinLock)
            {
                return _join;
            }
        }
    }

    public PeerId PeerId => Host.LocalPeerId;

    /// <summary>The data folder, or null for a throwaway node.</summary>
    public string? DataFolderPath => _folder?.Path;

    /// <summary>Starts listening, answering the DHT and serving mailboxes. Joining the network is <see cref="JoinAsync"/>.</summary>
    /// <exception cref="IOException">The data folder is in use by another process or unreadable, or a listen address cannot be bound.</exception>
    public static async Task<ParleyNode> StartAsync(ParleyNodeOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var folder = options.DataFolder is null ? null : new DataFolder(options.DataFolder);
        var folderLock = folder?.Lock();
        var disposables = new List<IAsyncDisposable>();
        try
        {
            var deviceKey = folder is null ? IdentityKey.Generate(options.Crypto) : await folder.LoadOrCreateNodeKeyAsync(cancellationToken);
            IMailboxStore mailboxStore = folder is null
                ? new EphemeralMailboxStore(options.Mailbox, options.Time)
                : await SqliteMailboxStore.OpenAsync(folder.MailboxDatabase, options.Mailbox, options.Time, cancellationToken);
            if (mailboxStore is IAsyncDisposable disposableStore)
            {
                disposables.Add(disposableStore);
            }
            var host = new Libp2pHost(deviceKey, new HostOptions { ListenAddresses = options.Listen }, loggerFactory, options.Crypto);
            disposables.Add(host);
            await host.StartAsync(cancellationToken);
            // Deposits into other people's mailboxes go out under a throwaway identity, so the mailbox nodes cannot tell
            // which device (and so which user) sent them.
            var depositHost = new Libp2pHost(IdentityKey.Generate(options.Crypto), new HostOptions { ListenAddresses = [] }, loggerFactory, options.Crypto);
            disposables.Add(depositHost);
            await depositHost.StartAsync(cancellationToken);
            var validators = ParleyRecords.CreateValidators(options.Time);
            ChatRecords.Register(validators, options.Time, options.Directory);
            var dhtOptions = options.Dht ?? new DhtOptions { ProtocolId = options.DhtProtocol };
            var dht = new KademliaNode(new NetworkDhtMessenger(host, dhtOptions.ProtocolId, logger: loggerFactory.CreateLogger<NetworkDhtMessenger>()), validators, dhtOptions, options.Time, loggerFactory);
            // The connection manager keeps the routing table's peers: the DHT works through them.
            host.Protection.AddProtector(peer => dht.RoutingTable.Find(peer) is not null);
            var node = new ParleyNode(options, loggerFactory, folder, folderLock, deviceKey, host, depositHost, dht, mailboxStore);
            // And the devices of the people the user is talking to, so a conversation does not lose its connection.
            host.Protection.AddProtector(peer => node.Chat?.IsTalkingTo(peer) == true);
            dht.Start();
            node.MailboxService.Start();
            node.StartReachability();
            return node;
        }
        catch
        {
            for (var i = disposables.Count - 1; i >= 0; i--)
            {
                await disposables[i].DisposeAsync();
            }
            folderLock?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Joins through the routing table saved by the last run and the bootstrap addresses (any may be dead; each is
    /// dialled, so the report can say which could not be used and why). A routing table of 0 peers means this node
    /// starts a network of its own and waits for others.
    /// </summary>
    public async Task<JoinReport> JoinAsync(CancellationToken cancellationToken)
    {
        var known = new List<DhtPeer>();
        if (_folder is not null)
        {
            try
            {
                known.AddRange(await RoutingTableFile.LoadAsync(_folder.RoutingTable, cancellationToken));
            }
            catch (InvalidDataException e)
            {
                _logger.LogWarning("ignoring the saved routing table: {Reason}", e.Message);
            }
        }
        var dials = await Task.WhenAll(_options.Bootstrap.Select(async address =>
        {
            try
            {
                return (Address: address, Peer: await Host.ConnectAsync(address, cancellationToken), Failure: (string?)null);
            }
            catch (PeerConnectionException e)
            {
                _logger.LogInformation("bootstrap peer {Address} unreachable: {Reason}", address, e.Message);
                return (Address: address, Peer: (PeerId?)null, Failure: e.Message);
            }
        }));
        known.AddRange(dials.Where(d => d.Peer is not null).Select(d => new DhtPeer(d.Peer!, [d.Address.WithoutPeerId()])));
        var peers = await Dht.BootstrapAsync(known, cancellationToken);
        var unusable = dials.Where(d => d.Failure is not null).Select(d => new BootstrapFailure(d.Address, d.Failure!)).ToList();
        if (peers == 0)
        {
            // An answer to the DHT puts its sender in the routing table: an empty one means that those that took the
            // connection did not answer on the DHT protocol.
            unusable.AddRange(dials.Where(d => d.Peer is not null).Select(d => new BootstrapFailure(d.Address, $"it took the connection but did not answer on the DHT protocol {Dht.Options.ProtocolId}")));
        }
        return new JoinReport(peers, unusable);
    }

    /// <summary>Finds peers on the LAN with mDNS and joins through each, so a LAN with no internet needs no bootstrap address.</summary>
    public void StartMdns()
    {
        _mdns = new MdnsDiscovery(Host.LocalPeerId, () => Host.ListenAddresses, new MdnsOptions(), _options.Time, _loggerFactory.CreateLogger<MdnsDiscovery>());
        _mdns.PeerDiscovered += (_, found) => _ = JoinThroughDiscoveredAsync(found);
        _mdns.Start();
    }

    /// <summary>Opens the chat database and the account in it; false when the folder has no account yet (run init).</summary>
    /// <exception cref="PassphraseRequiredException">The keys are passphrase-protected and none was given.</exception>
    /// <exception cref="Chat.Crypto.WrongPassphraseException">The passphrase is wrong.</exception>
    public async Task<bool> OpenChatAsync(CancellationToken cancellationToken)
    {
        var store = await OpenChatStoreAsync(cancellationToken);
        var account = await store.ReadAsync(r => r.GetAccount(), cancellationToken);
        if (account is null)
        {
            return false;
        }
        var device = await store.ReadAsync(r => r.GetDeviceCertificates(), cancellationToken) is { Count: > 0 } certificates
            ? certificates.Select(c => DeviceCertificate.Parse(c)).FirstOrDefault(c => c.Device.Equals(_deviceKey.PublicKey))
            : null;
        device ??= Account.FromSecrets(account.AccountSeed, account.IdentityDhPrivateKey, _options.Crypto).CertifyDevice(_deviceKey.PublicKey, _options.Time.GetUtcNow());
        Chat = await ChatClient.OpenAsync(ChatDependencies(store, device), cancellationToken);
        if (Chat is not null)
        {
            IDeviceEnrollment enrollment = new StoredDeviceEnrollment(store, Chat.Devices);
            Linker = new DeviceLinker(Host, store, Chat.Account, enrollment, _options.Time, _options.Crypto, _options.Linking, _loggerFactory.CreateLogger<DeviceLinker>());
        }
        return Chat is not null;
    }

    /// <summary>
    /// Links this node, whose folder has no account yet, into the account of the device that made <paramref name="code"/>
    /// (docs/linking.md), then opens the chat. <paramref name="showVerificationCode"/> gets the digits to compare.
    /// </summary>
    /// <exception cref="LinkException">Refused, unreachable or broken off; nothing was stored.</exception>
    public async Task<LinkResult> LinkAsync(LinkCode code, string deviceName, Action<string> showVerificationCode, CancellationToken cancellationToken)
    {
        if (Chat is not null)
        {
            throw new LinkException("this node already has an account");
        }
        var store = await OpenChatStoreAsync(cancellationToken);
        var result = await LinkClient.LinkAsync(Host, store, code, deviceName, FindAddressesAsync, showVerificationCode, _options.Time, _options.Crypto, _options.Linking, cancellationToken);
        await OpenChatAsync(cancellationToken);
        // The snapshot brought the device list, so this device already knows it is not the first; joining merges the
        // published list and publishes this device's own records now rather than at the next republish.
        try
        {
            await Chat!.Devices.JoinAsync(cancellationToken);
        }
        catch (Exception e) when (e is ChatException or IOException)
        {
            _logger.LogWarning("linked, but the device list could not be read from the network yet: {Reason}", e.Message);
        }
        return result;
    }

    /// <summary>Starts <see cref="LinkAsync"/> in the background (the API's first-run screen), then starts the chat; progress in <see cref="Join"/>.</summary>
    public DeviceJoin StartJoin(LinkCode code, string deviceName, CancellationToken stopping)
    {
        var join = new DeviceJoin();
        lock (_joinLock)
        {
            // One at a time; a failed one can be tried again with a new code.
            if (_join is { State: not DeviceJoinState.Failed } running)
            {
                return running;
            }
            _join = join;
        }
        join.Completion = Task.Run(async () =>
        {
            try
            {
                var result = await LinkAsync(code, deviceName, join.Show, stopping);
                await Chat!.StartAsync(stopping);
                join.Succeed(result);
            }
            catch (Exception e) when (e is LinkException or ChatException or IOException or OperationCanceledException)
            {
                join.Fail(e.Message);
            }
        }, CancellationToken.None);
        return join;
    }

    /// <summary>The account's devices as this device knows them (its store's certificates and the names they were linked under).</summary>
    public async Task<IReadOnlyList<DeviceEntry>> ListDevicesAsync(CancellationToken cancellationToken)
    {
        if (Chat is not { } chat)
        {
            return [];
        }
        // The account's device list as this device knows it (merged with the directory's), not only the devices this
        // one linked or was handed: a device another one added or removed is shown as such.
        return (await chat.Devices.ListAsync(cancellationToken))
            .Select(d => new DeviceEntry(d.DeviceId, d.Name, d.DeviceId == PeerId, d.Certificate.IssuedAt))
            .ToList();
    }

    /// <summary>
    /// Removes <paramref name="device"/> from the account (docs/devices.md): the published device list drops it and bars
    /// its key for good, and this device forgets its certificate.
    /// </summary>
    /// <exception cref="ChatException">No account here, the device is this one, or not a device of the account.</exception>
    public async Task RemoveDeviceAsync(PeerId device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Chat is not { } chat || _chatStore is not { } store)
        {
            throw new ChatException("this node has no account");
        }
        var key = device.TryExtractPublicKey() ?? throw new ChatException($"{device} does not name a device key");
        await chat.Devices.RemoveAsync(device, cancellationToken);
        await store.TransactAsync(tx =>
        {
            tx.DeleteDevice(key.ToProtobuf());
            return true;
        }, cancellationToken);
    }

    private async Task<IReadOnlyList<Multiaddr>> FindAddressesAsync(PeerId peer, CancellationToken cancellationToken) =>
        await Dht.FindPeerAsync(peer, cancellationToken) is { } found ? found.Addresses : [];

    /// <summary>Creates the user's account in this data folder and opens its chat.</summary>
    /// <exception cref="ChatException">The folder already has an account, or the name is not valid.</exception>
    public async Task<ChatClient> CreateAccountAsync(string name, CancellationToken cancellationToken)
    {
        var store = await OpenChatStoreAsync(cancellationToken);
        await ChatClient.CreateAccountAsync(store, name, _options.Crypto, _options.Time, cancellationToken);
        if (!await OpenChatAsync(cancellationToken))
        {
            throw new InvalidOperationException("the account just created is not in the store");
        }
        return Chat!;
    }

    public async Task SaveRoutingTableAsync(CancellationToken cancellationToken)
    {
        if (_folder is null)
        {
            return;
        }
        var peers = Dht.RoutingTable.Snapshot().Select(e => new DhtPeer(e.Peer, e.Addresses)).ToList();
        if (peers.Count > 0)
        {
            await RoutingTableFile.SaveAsync(_folder.RoutingTable, peers, cancellationToken);
        }
    }

    /// <summary>SQLite's integrity verdict on both databases ("ok" each when sound).</summary>
    public async Task<IReadOnlyList<string>> CheckIntegrityAsync(CancellationToken cancellationToken)
    {
        var verdicts = new List<string>();
        if (_chatStore is not null)
        {
            verdicts.Add(await _chatStore.CheckIntegrityAsync(cancellationToken));
        }
        if (_mailboxStore is SqliteMailboxStore mailbox)
        {
            verdicts.Add(await mailbox.CheckIntegrityAsync(cancellationToken));
        }
        return verdicts;
    }

    public async ValueTask DisposeAsync()
    {
        Linker?.Dispose();
        if (Chat is not null)
        {
            await Chat.DisposeAsync();
        }
        if (_mdns is not null)
        {
            await _mdns.DisposeAsync();
        }
        try
        {
            await SaveRoutingTableAsync(CancellationToken.None);
        }
        catch (IOException e)
        {
            _logger.LogWarning("could not save the routing table: {Reason}", e.Message);
        }
        await AutoRelay.DisposeAsync();
        if (PortMapper is not null)
        {
            await PortMapper.DisposeAsync();
        }
        await AutoNat.DisposeAsync();
        HolePunch.Dispose();
        RelayService?.Dispose();
        await MailboxService.DisposeAsync();
        await Dht.DisposeAsync();
        await _depositHost.DisposeAsync();
        await Host.DisposeAsync();
        if (_mailboxStore is IAsyncDisposable store)
        {
            await store.DisposeAsync();
        }
        if (_chatStore is not null)
        {
            await _chatStore.DisposeAsync();
        }
        _lock?.Dispose();
        _republish.Dispose();
    }

    private void StartReachability()
    {
        Host.SetReachability(Reachability.Unknown);
        Host.Observed.Changed += (_, _) => ApplyReachability();
        Host.Observed.IpSeen += (_, _) => ApplyReachability();
        AutoNat.ReachabilityChanged += (_, _) => ApplyReachability();
        // A peer that stopped advertising the kad protocol (it went into client mode) leaves our routing table.
        Host.Identify.PeerIdentified += (_, info) =>
        {
            if (!info.Protocols.Contains(Dht.Options.ProtocolId))
            {
                Dht.RoutingTable.Remove(info.PeerId);
            }
        };
        Host.AddressesChanged += (_, _) => _ = RepublishPresenceAsync();
        AutoNat.Start();
        HolePunch.Start();
        AutoRelay.Start();
        PortMapper?.Start();
        ApplyReachability();
    }

    /// <summary>
    /// Follows reachability as go-libp2p does: dialable nodes are DHT servers and relay for others; nodes behind a NAT
    /// (AutoNAT says private, or, before it has, peers already see us at a public address none of our interfaces has)
    /// are DHT clients and keep relay reservations.
    /// </summary>
    private void ApplyReachability()
    {
        var reachability = Host.Reachability;
        var behindNat = reachability == Reachability.Private || (reachability == Reachability.Unknown && Host.Observed.SeenThroughNat(Host.InterfaceAddresses));
        Dht.SetMode(_options.Reachability.DhtMode ?? (behindNat ? DhtMode.Client : DhtMode.Server));
        if (RelayService is not null)
        {
            if (reachability == Reachability.Public)
            {
                RelayService.Start();
            }
            else
            {
                RelayService.Stop();
            }
        }
        AutoRelay.SetEnabled(behindNat);
    }

    /// <summary>Relays are public nodes, and DHT routing tables hold only those: candidates come from ours, refilled by a lookup when thin.</summary>
    private async Task<IReadOnlyList<PeerId>> FindRelayCandidatesAsync(CancellationToken cancellationToken)
    {
        var known = Dht.RoutingTable.Snapshot().Select(e => e.Peer).ToList();
        if (known.Count < 8)
        {
            var found = await Dht.FindClosestPeersAsync(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32), cancellationToken);
            known.AddRange(found.Closest.Select(p => p.Peer));
        }
        return known.Distinct().ToList();
    }

    /// <summary>Our addresses changed (a relay reservation came or went): tell the directory, so senders find the new ones.</summary>
    private async Task RepublishPresenceAsync()
    {
        if (Chat is not { } chat || !await _republish.WaitAsync(0))
        {
            return;
        }
        try
        {
            // Changes come in bursts (reservations on two relays at once); let them settle.
            await Task.Delay(TimeSpan.FromMilliseconds(300));
            await chat.RunMaintenanceOnceAsync(force: false, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("republishing presence failed: {Reason}", e.Message);
        }
        finally
        {
            _republish.Release();
        }
    }

    private ChatDependencies ChatDependencies(SqliteChatStore store, DeviceCertificate device) =>
        new(store, new ChatStreams(Host, _options.Chat, _options.Time, _loggerFactory), Directory, Mailbox, device, _options.Time, _options.Crypto, _options.Chat, _loggerFactory,
            new DiskFileStore(_folder!.Path), WrapFileChannels(new FileStreams(Host, _options.Chat.DirectTimeout)), _deviceKey);

    private IFileChannels WrapFileChannels(FileStreams streams) => _options.WrapFileChannels?.Invoke(streams) ?? streams;

    private async Task<SqliteChatStore> OpenChatStoreAsync(CancellationToken cancellationToken)
    {
        if (_folder is null)
        {
            throw new InvalidOperationException("a node without a data folder has no chat");
        }
        if (_chatStore is not null)
        {
            return _chatStore;
        }
        var passphrase = _options.Passphrase;
        var asked = 0;
        while (true)
        {
            try
            {
                return _chatStore = await SqliteChatStore.OpenAsync(_folder.ChatDatabase, passphrase, _options.Crypto, _options.Durability, cancellationToken);
            }
            catch (PassphraseRequiredException) when (_options.AskPassphrase is { } ask && passphrase is null)
            {
                passphrase = await ask(false, cancellationToken);
                asked++;
            }
            catch (Chat.Crypto.WrongPassphraseException) when (_options.AskPassphrase is { } ask && asked is > 0 and < PassphraseAttempts)
            {
                passphrase = await ask(true, cancellationToken);
                asked++;
            }
        }
    }

    private async Task JoinThroughDiscoveredAsync(MdnsPeer found)
    {
        if (Dht.RoutingTable.Find(found.Peer) is not null)
        {
            return;
        }
        try
        {
            await Dht.BootstrapAsync([new DhtPeer(found.Peer, found.Addresses)], CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogInformation("could not join through {Peer} found on the LAN: {Reason}", found.Peer, e.Message);
        }
    }
}
