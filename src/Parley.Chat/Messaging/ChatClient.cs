using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Crypto;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Chat.Mailbox;
using Parley.Chat.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Net;

namespace Parley.Chat.Messaging;

/// <summary>What a <see cref="ChatClient"/> works with; the node composes these.</summary>
public sealed record ChatDependencies(
    IChatStore Store,
    IPeerNetwork Network,
    DirectoryClient Directory,
    MailboxClient Mailbox,
    DeviceCertificate Device,
    TimeProvider Time,
    ICryptoProvider Crypto,
    ChatOptions Options,
    ILoggerFactory? LoggerFactory = null);

/// <summary>
/// One user's end of 1:1 chat (docs/messaging.md): finds people by name, sends end-to-end encrypted messages
/// directly or through mailboxes, receives, acknowledges and orders them, and keeps the user's directory records
/// (presence, prekeys, name) alive. Every state change of a step happens in one store transaction.
/// </summary>
public sealed partial class ChatClient : IAsyncDisposable
{
    /// <summary>How many messages one history or unread query returns at most.</summary>
    public const int MaxPageSize = 10_000;

    private const int MessageIdLength = 16;
    private const int EnvelopeIdLength = 16;
    private const int MailboxTokenLength = 32;
    private const int SessionIdLength = 8;

    private readonly IChatStore _store;
    private readonly IPeerNetwork _network;
    private readonly DirectoryClient _directory;
    private readonly MailboxClient _mailbox;
    private readonly TimeProvider _time;
    private readonly ICryptoProvider _crypto;
    private readonly ChatOptions _options;
    private readonly ILogger _logger;
    private readonly DirectChannels _direct;
    private readonly byte[] _senderIdentity;
    private readonly ConcurrentDictionary<PeerId, (Presence? Presence, DateTimeOffset LookedUpAt)> _presence = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly SemaphoreSlim _outboxWake = new(0, 1);
    private readonly SemaphoreSlim _outboxPass = new(1, 1);
    private readonly List<Task> _loops = [];
    private readonly string _name;
    private bool _started;

    private ChatClient(Account account, string name, ChatDependencies dependencies)
    {
        Account = account;
        _name = name;
        _store = dependencies.Store;
        _network = dependencies.Network;
        _directory = dependencies.Directory;
        _mailbox = dependencies.Mailbox;
        Device = dependencies.Device;
        _time = dependencies.Time;
        _crypto = dependencies.Crypto;
        _options = dependencies.Options;
        _logger = (dependencies.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ChatClient>();
        _direct = new DirectChannels(_network, _options, _logger);
        _senderIdentity = account.IdentityDhCertificate.ToBytes();
    }

    public Account Account { get; }

    public DeviceCertificate Device { get; }

    public Handle Handle => new(_name, Account.Tag);

    /// <summary>The most recent mailbox fetch, for status displays; null before the first.</summary>
    public MailboxPass? LastMailboxPass { get; private set; }

    /// <summary>An incoming message was stored (including contact requests and messages waiting with one).</summary>
    public event EventHandler<MessageEventArgs>? MessageReceived;

    /// <summary>One of our messages changed delivery state.</summary>
    public event EventHandler<MessageEventArgs>? MessageStateChanged;

    /// <summary>A contact appeared or changed state.</summary>
    public event EventHandler<ContactEventArgs>? ContactChanged;

    /// <summary>Creates the user's account in an empty store; the name is claimed in the directory by <see cref="StartAsync"/>.</summary>
    /// <exception cref="ChatException">The store already holds an account, or the name is not valid.</exception>
    public static async Task<Account> CreateAccountAsync(IChatStore store, string name, ICryptoProvider crypto, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        string normalized;
        try
        {
            normalized = Handle.NormalizeName(name);
        }
        catch (FormatException e)
        {
            throw new ChatException($"'{name}' cannot be a name: {e.Message}", e);
        }
        var account = Account.Create(crypto);
        await store.TransactAsync(tx =>
        {
            if (tx.GetAccount() is not null)
            {
                throw new ChatException("this data folder already has an identity; use another --data folder for another user");
            }
            tx.PutAccount(new AccountRecord(account.AccountSeed, account.IdentityDhPrivateKey, normalized, null, time.GetUtcNow()));
            return true;
        }, cancellationToken);
        return account;
    }

    /// <summary>Loads the account from the store; null when none was created yet.</summary>
    public static async Task<ChatClient?> OpenAsync(ChatDependencies dependencies, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dependencies);
        var record = await dependencies.Store.ReadAsync(r => r.GetAccount(), cancellationToken);
        if (record is null)
        {
            return null;
        }
        var account = Account.FromSecrets(record.AccountSeed, record.IdentityDhPrivateKey, dependencies.Crypto);
        if (!dependencies.Device.Account.Equals(account.PublicKey))
        {
            throw new ChatException("the device certificate belongs to another account");
        }
        await dependencies.Store.TransactAsync(tx =>
        {
            tx.PutDevice(dependencies.Device.Device.ToProtobuf(), dependencies.Device.ToBytes(), dependencies.Device.IssuedAt);
            return true;
        }, cancellationToken);
        return new ChatClient(account, record.Name, dependencies);
    }

    /// <summary>
    /// Serves incoming chat streams, publishes presence, prekeys and the name claim, fetches the mailbox, and (unless
    /// <see cref="ChatOptions.RunBackgroundTasks"/> is off) starts the outbox, polling and republishing loops.
    /// Directory and mailbox failures (a network with no peers yet) are logged and retried by the loops, not thrown.
    /// </summary>
    public async Task<StartReport> StartAsync(CancellationToken cancellationToken)
    {
        if (_started)
        {
            throw new InvalidOperationException("already started");
        }
        _started = true;
        _network.SetStreamHandler(ChatOptions.ChatProtocolId, ServeChatStreamAsync);
        var report = await RunMaintenanceOnceAsync(force: true, cancellationToken);
        var fetched = await FetchMailboxAsync(cancellationToken);
        report = report with { MailboxEnvelopes = fetched.Processed, MailboxNodesAnswered = fetched.NodesAnswered };
        if (_options.RunBackgroundTasks)
        {
            _loops.Add(OutboxLoopAsync(_stopping.Token));
            _loops.Add(PeriodicAsync(_options.MailboxPollInterval, FetchMailboxAsync, _stopping.Token));
            _loops.Add(PeriodicAsync(_options.AddressCheckInterval, ct => RunMaintenanceOnceAsync(force: false, ct), _stopping.Token));
        }
        WakeOutbox();
        return report;
    }

    /// <summary>Finds users by "name" (every claimant) or "name#tag" (exactly that one).</summary>
    public Task<IReadOnlyList<HandleMatch>> FindAsync(string nameOrHandle, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrHandle);
        return _directory.FindAsync(nameOrHandle.Trim(), cancellationToken);
    }

    public Task<IReadOnlyList<ContactRecord>> GetContactsAsync(CancellationToken cancellationToken) =>
        _store.ReadAsync(r => r.GetContacts(), cancellationToken);

    /// <summary>A contact by handle ("bob#tag"), unique name among contacts ("bob") or account id.</summary>
    /// <exception cref="ChatException">No such contact, or the name fits several.</exception>
    public async Task<ContactRecord> GetContactAsync(string who, CancellationToken cancellationToken) =>
        await _store.ReadAsync(r => FindContact(r, who), cancellationToken) ?? throw new ChatException($"'{who}' is not among your contacts or requests");

    /// <summary>The messages of the conversation with a contact, oldest first, in causal order.</summary>
    public async Task<IReadOnlyList<MessageRecord>> GetHistoryAsync(string who, int limit, CancellationToken cancellationToken)
    {
        var contact = await GetContactAsync(who, cancellationToken);
        return await _store.ReadAsync(r => r.GetMessages(ConversationIds.Direct(Account.Id, contact.Account), Math.Clamp(limit, 1, MaxPageSize)), cancellationToken);
    }

    /// <summary>Incoming messages not shown yet, by conversation in causal order, without marking them.</summary>
    public Task<IReadOnlyList<MessageRecord>> GetUnreadAsync(CancellationToken cancellationToken) =>
        _store.ReadAsync(r => r.GetUnread(MaxPageSize), cancellationToken);

    /// <summary>Marks messages as seen by the user; accepted contacts get read receipts.</summary>
    public async Task MarkReadAsync(IReadOnlyList<MessageRecord> messages, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var receipts = await _store.TransactAsync(tx =>
        {
            var bySender = new Dictionary<PeerId, List<byte[]>>();
            foreach (var message in messages.Where(m => m.Direction == MessageDirection.Incoming))
            {
                tx.MarkRead(message.Id);
                if (tx.GetContact(message.Sender) is { State: ContactState.Accepted })
                {
                    (bySender.TryGetValue(message.Sender, out var ids) ? ids : bySender[message.Sender] = []).Add(message.Id);
                }
            }
            foreach (var (sender, ids) in bySender)
            {
                QueueControl(tx, tx.GetContact(sender)!, new Content { Receipt = MakeReceipt(Protos.Receipt.Types.Kind.Read, ids) });
            }
            return bySender.Count;
        }, cancellationToken);
        if (receipts > 0)
        {
            WakeOutbox();
        }
    }

    /// <summary>Signal-style safety number for comparing keys with a contact out of band.</summary>
    public async Task<string> GetSafetyNumberAsync(string who, CancellationToken cancellationToken)
    {
        var contact = await GetContactAsync(who, cancellationToken);
        return SafetyNumber.Compute(Account.PublicKey.ToProtobuf(), Account.Id.Bytes, contact.AccountKey.ToProtobuf(), contact.Account.Bytes);
    }

    /// <summary>Accepts a contact request: their waiting messages become chat, and they may reach our mailbox without proof of work.</summary>
    public async Task<ContactRecord> AcceptAsync(string who, CancellationToken cancellationToken)
    {
        var contact = await GetContactAsync(who, cancellationToken);
        if (contact.State == ContactState.Accepted)
        {
            return contact;
        }
        return await AcceptAsync(contact, cancellationToken);
    }

    /// <summary>Blocks a contact: nothing more from them is shown or acknowledged, and a waiting request is deleted.</summary>
    public async Task<ContactRecord> BlockAsync(string who, CancellationToken cancellationToken)
    {
        var contact = await GetContactAsync(who, cancellationToken);
        var blocked = contact with { State = ContactState.Blocked, OurMailboxToken = null };
        await _store.TransactAsync(tx =>
        {
            tx.PutContact(blocked);
            if (contact.State == ContactState.Pending)
            {
                tx.DeleteMessages(ConversationIds.Direct(Account.Id, contact.Account));
            }
            foreach (var item in tx.GetOutbox(DateTimeOffset.MaxValue, int.MaxValue).Where(i => i.Recipient == contact.Account))
            {
                tx.DeleteOutbox(item.EnvelopeId);
            }
            return true;
        }, cancellationToken);
        await PublishMailboxPolicyAsync(cancellationToken);
        RaiseContactChanged(blocked);
        return blocked;
    }

    /// <summary>Fetches the mailbox, processes every envelope in it, acknowledges what arrived and deletes it from the mailbox nodes.</summary>
    public async Task<MailboxPass> FetchMailboxAsync(CancellationToken cancellationToken)
    {
        MailboxFetchResult fetched;
        try
        {
            fetched = await _mailbox.FetchAsync(Account.SigningKey, cancellationToken);
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            _logger.LogInformation("mailbox fetch failed: {Reason}", e.Message);
            LastMailboxPass = new MailboxPass(0, 0, 0);
            return LastMailboxPass;
        }
        var processed = 0;
        var acknowledgements = new Dictionary<PeerId, List<byte[]>>();
        foreach (var item in fetched.Envelopes)
        {
            Envelope envelope;
            try
            {
                envelope = Envelope.Parser.ParseFrom(SealedBox.Open(_crypto, IdentityKeyPair, item.Envelope));
            }
            catch (Exception e) when (e is SealedBoxException or FormatException or InvalidProtocolBufferException)
            {
                _logger.LogInformation("dropping a mailbox envelope that is not for us: {Reason}", e.Message);
                continue;
            }
            if (!envelope.EnvelopeId.Span.SequenceEqual(item.EnvelopeId))
            {
                _logger.LogInformation("dropping a mailbox envelope whose id does not match its sealed contents");
                continue;
            }
            var outcome = await ReceiveAsync(envelope, cancellationToken);
            if (outcome.Status == ReceiveStatus.Accepted)
            {
                processed++;
            }
            if (outcome.Acknowledge is { } acknowledge)
            {
                (acknowledgements.TryGetValue(acknowledge.Sender, out var ids) ? ids : acknowledgements[acknowledge.Sender] = []).Add(acknowledge.MessageId);
            }
        }
        if (acknowledgements.Count > 0)
        {
            await _store.TransactAsync(tx =>
            {
                foreach (var (sender, ids) in acknowledgements)
                {
                    if (tx.GetContact(sender) is { State: not ContactState.Blocked } contact)
                    {
                        QueueControl(tx, contact, new Content { Receipt = MakeReceipt(Protos.Receipt.Types.Kind.Delivered, ids) });
                    }
                }
                return true;
            }, cancellationToken);
            WakeOutbox();
        }
        if (fetched.Envelopes.Count > 0)
        {
            // Everything fetched was handled (stored, a duplicate, or refused for good): the mailbox need not keep it.
            try
            {
                await _mailbox.DeleteAsync(Account.SigningKey, fetched.Envelopes.Select(e => e.EnvelopeId).ToList(), cancellationToken);
            }
            catch (Exception e) when (e is IOException or TimeoutException)
            {
                _logger.LogInformation("mailbox delete failed; the envelopes come again and are dropped as duplicates: {Reason}", e.Message);
            }
        }
        LastMailboxPass = new MailboxPass(processed, fetched.NodesAnswered, fetched.NodesAsked);
        return LastMailboxPass;
    }

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        _stopping.Cancel();
        foreach (var loop in _loops)
        {
            try
            {
                await loop;
            }
            catch (OperationCanceledException)
            {
                // Stopping.
            }
        }
        if (_started)
        {
            _network.RemoveStreamHandler(ChatOptions.ChatProtocolId);
            if (_options.PublishPresence)
            {
                await PublishOfflineAsync();
            }
        }
        await _direct.DisposeAsync();
        _stopping.Dispose();
        _outboxWake.Dispose();
        _outboxPass.Dispose();
    }

    private X25519KeyPair IdentityKeyPair => new(Account.IdentityDhPrivateKey, Account.IdentityDhPublicKey);

    /// <summary>The contact <paramref name="who"/> names (a handle, an account id, or a name only one contact has); reads only the candidates, since sending to a known contact is the hot path.</summary>
    private static ContactRecord? FindContact(IChatReader reader, string who)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(who);
        who = who.Trim();
        if (Handle.TryParse(who, out var handle))
        {
            return reader.GetContactsNamed(handle.Name).FirstOrDefault(c => c.Handle == handle);
        }
        if (PeerId.TryParse(who, out var id))
        {
            return reader.GetContact(id);
        }
        var named = reader.GetContactsNamed(who);
        return named.Count switch
        {
            0 => null,
            1 => named[0],
            _ => throw new ChatException($"several contacts are called {who}: {string.Join(", ", named.Select(c => c.Handle))}; say which"),
        };
    }

    private static Receipt MakeReceipt(Receipt.Types.Kind kind, IEnumerable<byte[]> messageIds)
    {
        var receipt = new Receipt { Kind = kind };
        receipt.MessageIds.AddRange(messageIds.Select(ByteString.CopyFrom));
        return receipt;
    }

    private byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        _crypto.RandomBytes(bytes);
        return bytes;
    }

    private static byte[] SessionIdOf(ReadOnlySpan<byte> ephemeralKey) => SHA256.HashData(ephemeralKey)[..SessionIdLength];

    private static int Utf8Length(string text) => Encoding.UTF8.GetByteCount(text);

    private async Task PeriodicAsync<T>(TimeSpan interval, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(interval, _time, cancellationToken);
            try
            {
                await work(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning(e, "background chat task failed; it runs again in {Interval}", interval);
            }
        }
    }

    private void Raise<T>(EventHandler<T>? handler, T args)
    {
        try
        {
            handler?.Invoke(this, args);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "a chat event handler failed");
        }
    }

    private void RaiseContactChanged(ContactRecord contact) => Raise(ContactChanged, new ContactEventArgs(contact));
}

/// <summary>What <see cref="ChatClient.StartAsync"/> achieved on the network.</summary>
public sealed record StartReport(int PresenceStoredAt, int PrekeysStoredAt, int NameStoredAt, int MailboxEnvelopes, int MailboxNodesAnswered);

/// <summary>One mailbox fetch: envelopes newly processed, and how many mailbox nodes answered of those asked.</summary>
public sealed record MailboxPass(int Processed, int NodesAnswered, int NodesAsked);
