using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Channels;
using Parley.Chat.Contacts;
using Parley.Chat.Conversations;
using Parley.Chat.Delivery;
using Parley.Chat.Devices;
using Parley.Chat.Directory;
using Parley.Chat.Files;
using Parley.Chat.Groups;
using Parley.Chat.Identity;
using Parley.Chat.Inbound;
using Parley.Chat.Mailbox;
using Parley.Chat.Publishing;
using Parley.Chat.Rooms;
using Parley.Chat.Rooms.Controls;
using Parley.Chat.Sessions;
using Parley.Core.Crypto;

namespace Parley.Chat.Messaging;

/// <summary>What a <see cref="ChatClient"/> works with; the node composes these.</summary>
/// <param name="Channels">Direct exchange with other devices (<see cref="ChatStreams"/> over the node's host).</param>
/// <param name="Directory">The user directory (<see cref="DirectoryClient"/> over the DHT).</param>
/// <param name="Mailbox">The mailboxes (<see cref="MailboxClient"/> over the mailbox protocol).</param>
/// <param name="FileStore">File contents (the data folder's; in memory when null).</param>
/// <param name="FileChannels">Streams of the file protocol (<see cref="FileStreams"/>); null: files are not fetched or served directly.</param>
/// <param name="DeviceKey">This device's key (the node's identity), which <paramref name="Device"/> certifies: a linked
/// device's own mailbox is owned by it (docs/devices.md); null: this device has no mailbox of its own.</param>
public sealed record ChatDependencies(
    IChatStore Store,
    IPeerChannels Channels,
    IUserDirectory Directory,
    IMailboxes Mailbox,
    DeviceCertificate Device,
    TimeProvider Time,
    ICryptoProvider Crypto,
    ChatOptions Options,
    ILoggerFactory? LoggerFactory = null,
    IFileStore? FileStore = null,
    IFileChannels? FileChannels = null,
    Parley.Core.Identity.IdentityKey? DeviceKey = null);

/// <summary>
/// One user's chat (docs/architecture.md): 1:1 conversations and rooms, end-to-end encrypted, delivered directly or
/// through mailboxes. A facade: it composes the chat core's parts (contacts, sessions, conversations, outbox,
/// inbound envelopes, rooms, directory publishing) and runs their background work; each part owns one concern.
/// </summary>
public sealed class ChatClient : IAsyncDisposable
{
    /// <summary>How many messages one history or unread query returns at most.</summary>
    public const int MaxPageSize = DirectConversations.MaxPageSize;

    private readonly ChatCore _core;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _loops = [];
    private bool _started;

    private ChatClient(Account account, string name, ChatDependencies dependencies)
    {
        Device = dependencies.Device;
        _core = new ChatCore(account, name, dependencies);
        _core.Context.Events.Sender = this;
    }

    /// <summary>The parts, for the chat core's unit tests.</summary>
    internal ChatCore Core => _core;

    public Account Account => _core.Context.Account;

    public DeviceCertificate Device { get; }

    /// <summary>The account's linked devices: add (certify), remove, list (docs/devices.md).</summary>
    public AccountDevices Devices => _core.Devices;

    public Handle Handle => _core.Context.Handle;

    /// <summary>True when <paramref name="device"/> belongs to someone this user talks to now (their presence is cached).</summary>
    public bool IsTalkingTo(Parley.Core.Identity.PeerId device) => _core.Direct.IsRecentDevice(device);

    /// <summary>The most recent mailbox fetch, for status displays; null before the first.</summary>
    public MailboxPass? LastMailboxPass => _core.Fetcher.LastPass;

    /// <summary>An incoming message was stored (including contact requests and messages waiting with one).</summary>
    public event EventHandler<MessageEventArgs>? MessageReceived
    {
        add => _core.Context.Events.MessageReceived += value;
        remove => _core.Context.Events.MessageReceived -= value;
    }

    /// <summary>One of our messages changed delivery state.</summary>
    public event EventHandler<MessageEventArgs>? MessageStateChanged
    {
        add => _core.Context.Events.MessageStateChanged += value;
        remove => _core.Context.Events.MessageStateChanged -= value;
    }

    /// <summary>A contact appeared or changed state.</summary>
    public event EventHandler<ContactEventArgs>? ContactChanged
    {
        add => _core.Context.Events.ContactChanged += value;
        remove => _core.Context.Events.ContactChanged -= value;
    }

    /// <summary>A room was created or joined, or its membership changed.</summary>
    public event EventHandler<GroupEventArgs>? GroupChanged
    {
        add => _core.Context.Events.GroupChanged += value;
        remove => _core.Context.Events.GroupChanged -= value;
    }

    /// <summary>A room message arrived (also from a history offer or a fetch of missing messages).</summary>
    public event EventHandler<GroupMessageEventArgs>? GroupMessageReceived
    {
        add => _core.Context.Events.GroupMessageReceived += value;
        remove => _core.Context.Events.GroupMessageReceived -= value;
    }

    /// <summary>One of our room messages reached one more member (stored in its mailbox, or delivered).</summary>
    public event EventHandler<GroupMessageEventArgs>? GroupMessageChanged
    {
        add => _core.Context.Events.GroupMessageChanged += value;
        remove => _core.Context.Events.GroupMessageChanged -= value;
    }

    /// <summary>A session with a contact could not be read and is being repaired: we asked them for a new one, or started one at their request.</summary>
    public event EventHandler<SessionResetEventArgs>? SessionReset
    {
        add => _core.Context.Events.SessionReset += value;
        remove => _core.Context.Events.SessionReset -= value;
    }

    /// <summary>A file appeared, changed state, or moved on (at most a few progress events per second per file).</summary>
    public event EventHandler<FileEventArgs>? FileChanged
    {
        add => _core.Context.Events.FileChanged += value;
        remove => _core.Context.Events.FileChanged -= value;
    }

    /// <summary>A message was edited or deleted, or its reactions changed (ours or theirs).</summary>
    public event EventHandler<MessageEventArgs>? MessageUpdated
    {
        add => _core.Context.Events.MessageUpdated += value;
        remove => _core.Context.Events.MessageUpdated -= value;
    }

    /// <summary>A room message was edited or deleted, or its reactions changed.</summary>
    public event EventHandler<GroupMessageEventArgs>? GroupMessageUpdated
    {
        add => _core.Context.Events.GroupMessageUpdated += value;
        remove => _core.Context.Events.GroupMessageUpdated -= value;
    }

    /// <summary>An accepted contact started or stopped typing to us (only when we share typing too).</summary>
    public event EventHandler<TypingEventArgs>? TypingChanged
    {
        add => _core.Context.Events.TypingChanged += value;
        remove => _core.Context.Events.TypingChanged -= value;
    }

    /// <summary>An accepted contact came online, went offline or stopped sharing it (only when we share presence too).</summary>
    public event EventHandler<PresenceEventArgs>? PresenceChanged
    {
        add => _core.Context.Events.PresenceChanged += value;
        remove => _core.Context.Events.PresenceChanged -= value;
    }

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
        if (dependencies.DeviceKey is { } deviceKey && !deviceKey.PublicKey.Equals(dependencies.Device.Device))
        {
            throw new ChatException("the device key is not the one the device certificate certifies");
        }
        await dependencies.Store.TransactAsync(tx =>
        {
            tx.PutDevice(dependencies.Device.Device.ToProtobuf(), dependencies.Device.ToBytes(), dependencies.Device.IssuedAt);
            return true;
        }, cancellationToken);
        return new ChatClient(account, record.Name, dependencies);
    }

    /// <summary>
    /// Serves incoming envelopes, publishes presence, prekeys and the name claim, fetches the mailbox, and (unless
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
        _core.Channels.Serve(async (envelope, ct) => (await _core.Receiver.ReceiveAsync(envelope, ct)).ToResponse());
        _core.Files.Channels?.Serve(_core.Files.Server.ServeAsync);
        var report = await RunMaintenanceOnceAsync(force: true, cancellationToken);
        var fetched = await FetchMailboxAsync(cancellationToken);
        report = report with { MailboxEnvelopes = fetched.Processed, MailboxNodesAnswered = fetched.NodesAnswered };
        if (_core.Context.Options.RunBackgroundTasks)
        {
            _loops.Add(_core.Outbox.RunAsync(FlushOutboxAsync, _stopping.Token));
            _loops.Add(PeriodicAsync(_core.Context.Options.MailboxPollInterval, FetchMailboxAsync, _stopping.Token));
            _loops.Add(PeriodicAsync(_core.Context.Options.AddressCheckInterval, ct => RunMaintenanceOnceAsync(force: false, ct), _stopping.Token));
            _loops.Add(_core.Files.Fetcher.RunAsync(_stopping.Token));
            _loops.Add(KeepPresenceAsync(_stopping.Token));
        }
        _core.Outbox.Wake();
        return report;
    }

    /// <summary>Finds users by "name" (every claimant) or "name#tag" (exactly that one).</summary>
    public Task<IReadOnlyList<HandleMatch>> FindAsync(string nameOrHandle, CancellationToken cancellationToken) =>
        _core.Contacts.FindInDirectoryAsync(nameOrHandle, cancellationToken);

    public Task<IReadOnlyList<ContactRecord>> GetContactsAsync(CancellationToken cancellationToken) =>
        _core.Context.Store.ReadAsync(r => r.GetContacts(), cancellationToken);

    /// <summary>A contact by handle ("bob#tag"), unique name among contacts ("bob") or account id.</summary>
    /// <exception cref="ChatException">No such contact, or the name fits several.</exception>
    public Task<ContactRecord> GetContactAsync(string who, CancellationToken cancellationToken) => _core.Contacts.GetAsync(who, cancellationToken);

    /// <summary>The messages of the conversation with a contact, oldest first, in causal order.</summary>
    public Task<IReadOnlyList<MessageRecord>> GetHistoryAsync(string who, int limit, CancellationToken cancellationToken) =>
        _core.Conversations.GetHistoryAsync(who, limit, cancellationToken);

    /// <summary>Incoming messages not shown yet, by conversation in causal order, without marking them.</summary>
    public Task<IReadOnlyList<MessageRecord>> GetUnreadAsync(CancellationToken cancellationToken) => _core.Conversations.GetUnreadAsync(cancellationToken);

    /// <summary>
    /// One of our messages to <paramref name="who"/> and which of their devices have it delivered or read (docs/devices.md);
    /// the message's own state is the furthest any of them got.
    /// </summary>
    /// <exception cref="ChatException">No such contact, or no message of ours with that id in the conversation.</exception>
    public async Task<DeliveryDetail> GetDeliveryDetailAsync(string who, byte[] messageId, CancellationToken cancellationToken) =>
        await _core.SyncNotes.DetailAsync(await GetContactAsync(who, cancellationToken), messageId, cancellationToken);

    /// <summary>Marks messages as seen by the user; accepted contacts get read receipts, our other devices a note.</summary>
    public Task MarkReadAsync(IReadOnlyList<MessageRecord> messages, CancellationToken cancellationToken) => _core.Conversations.MarkReadAsync(messages, cancellationToken);

    /// <summary>Signal-style safety number for comparing keys with a contact out of band.</summary>
    public async Task<string> GetSafetyNumberAsync(string who, CancellationToken cancellationToken) =>
        _core.Contacts.SafetyNumber(await GetContactAsync(who, cancellationToken));

    /// <summary>Accepts a contact request: their waiting messages become chat, and they may reach our mailbox without proof of work.</summary>
    public async Task<ContactRecord> AcceptAsync(string who, CancellationToken cancellationToken)
    {
        var contact = await GetContactAsync(who, cancellationToken);
        return contact.State == ContactState.Accepted ? contact : await _core.Contacts.AcceptAsync(contact, cancellationToken);
    }

    /// <summary>Blocks a contact: nothing more from them is shown or acknowledged, and a waiting request is deleted.</summary>
    public async Task<ContactRecord> BlockAsync(string who, CancellationToken cancellationToken) =>
        await _core.Contacts.BlockAsync(await GetContactAsync(who, cancellationToken), cancellationToken);

    /// <summary>
    /// Sends <paramref name="text"/> to a contact, or to someone found in the directory by handle ("bob#tag") or by a
    /// name only one user holds. The message is encrypted and queued in one transaction before this returns; delivery
    /// goes on in the background (or in <see cref="FlushOutboxAsync"/>), and state changes are raised as events.
    /// The first message to someone new is a contact request.
    /// </summary>
    /// <exception cref="ChatException">The text is empty or too long, the recipient cannot be found or has no keys published, or is blocked.</exception>
    public Task<MessageRecord> SendAsync(string recipient, string text, CancellationToken cancellationToken) =>
        _core.Conversations.SendAsync(recipient, text, cancellationToken);

    /// <summary>Sends a reply: <paramref name="replyTo"/> is the id of the message of the conversation it quotes.</summary>
    /// <exception cref="ChatException">As <see cref="SendAsync(string, string, CancellationToken)"/>, or the message replied to is not in the conversation.</exception>
    public Task<MessageRecord> SendAsync(string recipient, string text, byte[]? replyTo, CancellationToken cancellationToken) =>
        _core.Conversations.SendAsync(recipient, text, null, cancellationToken, replyTo);

    /// <summary>Gives one of our messages to <paramref name="who"/> a new text (within 24 hours of sending it); both sides show it edited.</summary>
    public Task<MessageRecord> EditAsync(string who, byte[] messageId, string text, CancellationToken cancellationToken) =>
        _core.DirectActions.EditAsync(who, messageId, text, cancellationToken);

    /// <summary>Deletes one of our messages for everyone (within 24 hours of sending it): its text is erased here and on their devices.</summary>
    public Task<MessageRecord> DeleteForEveryoneAsync(string who, byte[] messageId, CancellationToken cancellationToken) =>
        _core.DirectActions.DeleteAsync(who, messageId, cancellationToken);

    /// <summary>Reacts to a message of the conversation with <paramref name="who"/>; an empty <paramref name="emoji"/> withdraws our reaction.</summary>
    public Task<MessageRecord> ReactAsync(string who, byte[] messageId, string emoji, CancellationToken cancellationToken) =>
        _core.DirectActions.ReactAsync(who, messageId, emoji, cancellationToken);

    /// <summary>Tells an accepted contact we are typing (or stopped); never stored nor sent through a mailbox. False when not sent.</summary>
    public async Task<bool> SendTypingAsync(string who, bool typing, CancellationToken cancellationToken) =>
        await _core.Live.SendTypingAsync(await GetContactAsync(who, cancellationToken), typing, cancellationToken);

    /// <summary>What accepted contacts share of their presence (online, last seen); empty when we do not share ours.</summary>
    public Task<IReadOnlyDictionary<Core.Identity.PeerId, ContactPresence>> GetPresenceAsync(CancellationToken cancellationToken) => _core.Live.GetPresenceAsync(cancellationToken);

    /// <summary>Whether presence and typing indicators are shared with accepted contacts (both are, unless turned off).</summary>
    public Task<ChatPrivacy> GetPrivacyAsync(CancellationToken cancellationToken) => _core.Live.GetPrivacyAsync(cancellationToken);

    public Task<ChatPrivacy> SetPrivacyAsync(ChatPrivacy privacy, CancellationToken cancellationToken) => _core.Live.SetPrivacyAsync(privacy, cancellationToken);

    /// <summary>Runs the room syncs receiving scheduled, then makes one attempt at every envelope due in the outbox; returns how many left it (delivered or given up).</summary>
    public async Task<int> FlushOutboxAsync(CancellationToken cancellationToken)
    {
        await _core.Rooms.SyncScheduledAsync(cancellationToken);
        return await _core.Outbox.FlushAsync(cancellationToken);
    }

    /// <summary>Envelopes still in the outbox (undelivered messages and receipts); with <paramref name="unsentOnly"/>, only those no node holds yet.</summary>
    public Task<int> CountOutboxAsync(CancellationToken cancellationToken, bool unsentOnly = false) => _core.Outbox.CountAsync(unsentOnly, cancellationToken);

    /// <summary>Fetches the mailbox, processes every envelope in it, acknowledges what arrived and deletes it from the mailbox.</summary>
    public Task<MailboxPass> FetchMailboxAsync(CancellationToken cancellationToken) => _core.Fetcher.FetchAsync(cancellationToken);

    /// <summary>
    /// Keeps the user's directory records and mailbox state current (presence, prekeys, one-time prekeys, the name
    /// claim, the mailbox policy) and forgets old seen-envelope ids. <paramref name="force"/> publishes everything now, as on start.
    /// </summary>
    public async Task<StartReport> RunMaintenanceOnceAsync(bool force, CancellationToken cancellationToken)
    {
        var report = await _core.Publisher.PublishDueAsync(force, cancellationToken);
        await _core.Receiver.ForgetOldEnvelopesAsync(cancellationToken);
        return report;
    }

    public Task<GroupInfo> CreateGroupAsync(string name, bool historyEnabled, CancellationToken cancellationToken) => _core.Rooms.CreateAsync(name, historyEnabled, cancellationToken);

    public Task<IReadOnlyList<GroupInfo>> GetGroupsAsync(CancellationToken cancellationToken) => _core.Rooms.ListAsync(cancellationToken);

    /// <summary>A room by name (unique among the user's rooms), id (base32, or its first characters) or invite link.</summary>
    public Task<GroupInfo> GetGroupAsync(string room, CancellationToken cancellationToken) => _core.Rooms.GetAsync(room, cancellationToken);

    /// <summary>An admin invites someone (a contact or a handle found in the directory); they join with <see cref="JoinGroupAsync"/>.</summary>
    public Task<GroupInfo> InviteToGroupAsync(string room, string who, CancellationToken cancellationToken) => _core.Rooms.InviteAsync(room, who, cancellationToken);

    /// <summary>
    /// Joins a room: accepts an invitation to it, or with an invite link (<c>parley://join/…</c>) asks the admin the link
    /// names to let us in (admins approve or deny; a welcome follows approval).
    /// </summary>
    public Task<GroupInfo> JoinGroupAsync(string roomOrLink, CancellationToken cancellationToken) => _core.Rooms.JoinAsync(roomOrLink, cancellationToken);

    public Task<GroupInfo> ApproveAsync(string room, string who, CancellationToken cancellationToken) => _core.Rooms.DecideRequestAsync(room, who, approve: true, cancellationToken);

    public Task<GroupInfo> DenyAsync(string room, string who, CancellationToken cancellationToken) => _core.Rooms.DecideRequestAsync(room, who, approve: false, cancellationToken);

    /// <summary>An admin removes a member; every remaining member then rotates its sender key.</summary>
    public Task<GroupInfo> KickAsync(string room, string who, CancellationToken cancellationToken) =>
        _core.Rooms.ChangeMemberAsync(room, who, m => MembershipChange.Remove(m.Account), includeTarget: true, cancellationToken);

    public Task<GroupInfo> PromoteAsync(string room, string who, CancellationToken cancellationToken) =>
        _core.Rooms.ChangeMemberAsync(room, who, m => MembershipChange.Promote(m.Account), includeTarget: false, cancellationToken);

    public Task<GroupInfo> DemoteAsync(string room, string who, CancellationToken cancellationToken) =>
        _core.Rooms.ChangeMemberAsync(room, who, m => MembershipChange.Demote(m.Account), includeTarget: false, cancellationToken);

    public Task<GroupInfo> LeaveGroupAsync(string room, CancellationToken cancellationToken) => _core.Rooms.LeaveAsync(room, cancellationToken);

    public Task<GroupInfo> RenameGroupAsync(string room, string name, CancellationToken cancellationToken) =>
        _core.Rooms.ChangeRoomAsync(room, MembershipChange.Rename(name.Trim()), cancellationToken);

    public Task<GroupInfo> SetGroupHistoryAsync(string room, bool enabled, CancellationToken cancellationToken) =>
        _core.Rooms.ChangeRoomAsync(room, MembershipChange.SetHistory(enabled), cancellationToken);

    /// <summary>Encrypts a message once for the room and queues a copy for every other member.</summary>
    public Task<GroupMessageRecord> SendToGroupAsync(string room, string text, CancellationToken cancellationToken) => _core.Rooms.SendAsync(room, text, cancellationToken);

    /// <summary>Sends a reply to a room message (<paramref name="replyTo"/>, its id).</summary>
    public Task<GroupMessageRecord> SendToGroupAsync(string room, string text, byte[]? replyTo, CancellationToken cancellationToken) =>
        _core.Rooms.SendAsync(room, text, default, null, cancellationToken, replyTo);

    /// <summary>Gives one of our room messages a new text (within 24 hours of sending it).</summary>
    public Task<GroupMessageRecord> EditInGroupAsync(string room, byte[] messageId, string text, CancellationToken cancellationToken) =>
        _core.RoomActions.EditAsync(room, messageId, text, cancellationToken);

    /// <summary>Deletes one of our room messages for every member (within 24 hours of sending it).</summary>
    public Task<GroupMessageRecord> DeleteInGroupForEveryoneAsync(string room, byte[] messageId, CancellationToken cancellationToken) =>
        _core.RoomActions.DeleteAsync(room, messageId, cancellationToken);

    /// <summary>Reacts to a room message; an empty <paramref name="emoji"/> withdraws our reaction.</summary>
    public Task<GroupMessageRecord> ReactInGroupAsync(string room, byte[] messageId, string emoji, CancellationToken cancellationToken) =>
        _core.RoomActions.ReactAsync(room, messageId, emoji, cancellationToken);

    /// <summary>The room's messages in the order every member shows them, and the gaps where messages are still missing.</summary>
    public Task<GroupHistory> GetGroupHistoryAsync(string room, int limit, CancellationToken cancellationToken) => _core.Rooms.GetHistoryAsync(room, limit, cancellationToken);

    public Task MarkGroupReadAsync(string room, CancellationToken cancellationToken) => _core.Rooms.MarkReadAsync(room, cancellationToken);

    /// <summary>
    /// Sends a file to a contact (docs/files.md): a copy is kept in the data folder and its manifest goes as a message;
    /// up to 1 MiB the chunks follow through the outbox (the mailboxes when the contact is away), a larger file waits
    /// for the contact to fetch it directly. <paramref name="thumbnail"/>: a small preview of an image (JPEG or
    /// WebP, at most 16 KiB; the node makes it), or null.
    /// </summary>
    /// <exception cref="ChatException">Not a contact who accepted us, an empty file or one over the limit, a full disk, a bad thumbnail.</exception>
    public Task<ChatFile> SendFileAsync(string recipient, string name, string? mediaType, Stream content, byte[]? thumbnail, CancellationToken cancellationToken) =>
        _core.Files.Sender.SendAsync(recipient, null, name, mediaType, content, thumbnail, cancellationToken);

    /// <summary>Sends a file to a room: its manifest is a room message; members fetch the chunks from whoever holds them.</summary>
    public Task<ChatFile> SendFileToGroupAsync(string room, string name, string? mediaType, Stream content, byte[]? thumbnail, CancellationToken cancellationToken) =>
        _core.Files.Sender.SendAsync(null, room, name, mediaType, content, thumbnail, cancellationToken);

    /// <summary>Files sent and received, newest first.</summary>
    public Task<IReadOnlyList<ChatFile>> GetFilesAsync(int limit, CancellationToken cancellationToken) => _core.Files.ListAsync(limit, cancellationToken);

    /// <summary>A file by id (hex, or its first characters).</summary>
    public Task<ChatFile> GetFileAsync(string id, CancellationToken cancellationToken) => _core.Files.GetAsync(id, cancellationToken);

    /// <summary>The file a message (1:1 or room) carried, or null.</summary>
    public Task<ChatFile?> GetFileOfMessageAsync(byte[] messageId, CancellationToken cancellationToken) => _core.Files.OfMessageAsync(messageId, cancellationToken);

    /// <summary>Reads a file held whole here (ours, or saved). Nothing is opened or run: the caller gets bytes.</summary>
    public Task<(ChatFile File, Stream Content)> OpenFileAsync(string id, CancellationToken cancellationToken) => _core.Files.OpenAsync(id, cancellationToken);

    /// <summary>Asks for a received file again: after raising the limit or freeing space, or to look for a source now.</summary>
    public Task<ChatFile> FetchFileAsync(string id, CancellationToken cancellationToken) => _core.Files.FetchAsync(id, cancellationToken);

    /// <summary>Fetches every file that is due and waits until those fetches end (the background loop does this by itself).</summary>
    public Task FetchFilesAsync(CancellationToken cancellationToken) => _core.Files.Fetcher.FetchAllAsync(cancellationToken);

    /// <summary>The largest file sent or fetched without asking.</summary>
    public Task<long> GetFileLimitAsync(CancellationToken cancellationToken) => _core.Files.Catalog.GetLimitAsync(cancellationToken);

    public Task SetFileLimitAsync(long bytes, CancellationToken cancellationToken) => _core.Files.Catalog.SetLimitAsync(bytes, cancellationToken);

    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        await _stopping.CancelAsync();
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
            _core.Channels.StopServing();
            _core.Files.Channels?.StopServing();
            await _core.Files.Fetcher.StopAsync();
            if (_core.Context.Options.PublishPresence)
            {
                await SignOffAsync();
                await _core.Publisher.PublishOfflineAsync();
            }
        }
        await _core.Live.DisposeAsync();
        await _core.Channels.DisposeAsync();
        _stopping.Dispose();
        _core.Outbox.Dispose();
        _core.RoomCache.Dispose();
        _core.Devices.Dispose();
        _core.Files.Dispose();
    }

    /// <summary>Accepted contacts learn we are online at start, and that we still are every <see cref="ChatOptions.PresenceInterval"/>.</summary>
    private async Task KeepPresenceAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _core.Live.AnnounceAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            ChatLog.BackgroundTaskFailed(_core.Context.Logger, e, _core.Context.Options.PresenceInterval);
        }
        await PeriodicAsync(_core.Context.Options.PresenceInterval, _core.Live.HeartbeatAsync, cancellationToken);
    }

    /// <summary>Contacts that saw us online learn we left; a moment at most, then stopping goes on.</summary>
    private async Task SignOffAsync()
    {
        using var patience = new CancellationTokenSource(_core.Context.Options.DirectTimeout);
        try
        {
            await _core.Live.SignOffAsync(patience.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            ChatLog.LiveNoteFailed(_core.Context.Logger, e.GetType().Name);
        }
    }

    private async Task PeriodicAsync<T>(TimeSpan interval, Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        while (true)
        {
            await Task.Delay(interval, _core.Context.Time, cancellationToken);
            try
            {
                await work(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                ChatLog.BackgroundTaskFailed(_core.Context.Logger, e, interval);
            }
        }
    }
}

/// <summary>What <see cref="ChatClient.StartAsync"/> achieved on the network.</summary>
public sealed record StartReport(int PresenceStoredAt, int PrekeysStoredAt, int NameStoredAt, int MailboxEnvelopes, int MailboxNodesAnswered);

/// <summary>One mailbox fetch: envelopes newly processed, and how many mailbox nodes answered of those asked.</summary>
public sealed record MailboxPass(int Processed, int NodesAnswered, int NodesAsked);
