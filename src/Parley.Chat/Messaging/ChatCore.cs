using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Actions;
using Parley.Chat.Channels;
using Parley.Chat.Contacts;
using Parley.Chat.Conversations;
using Parley.Chat.Delivery;
using Parley.Chat.Devices;
using Parley.Chat.Files;
using Parley.Chat.Identity;
using Parley.Chat.Inbound;
using Parley.Chat.Publishing;
using Parley.Chat.Rooms;
using Parley.Chat.Rooms.Controls;
using Parley.Chat.Sessions;

namespace Parley.Chat.Messaging;

/// <summary>The chat core's parts, composed once per user: each owns one concern and knows only those below it.</summary>
internal sealed class ChatCore
{
    public ChatCore(Account account, string name, ChatDependencies dependencies)
    {
        var logger = (dependencies.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<ChatClient>();
        Context = new ChatContext(account, name, dependencies.Store, dependencies.Time, dependencies.Crypto, dependencies.Options, logger);
        Channels = dependencies.Channels;
        var directory = dependencies.Directory;
        var mailboxes = dependencies.Mailbox;
        var directRoute = new DirectRoute(Context, directory, Channels);
        Direct = directRoute;
        Outbox = new Outbox(Context, directRoute, new MailboxRoute(Context, mailboxes));
        Fanout = new DeviceFanout(Context, directory, dependencies.Device);
        Outbox.Self = Fanout.Self;
        Sessions = new PairwiseSessions(Context, directory, mailboxes, Outbox, Fanout);
        SyncNotes = new DeviceSyncNotes(Context, Sessions, Fanout);
        Outbox.DirectlyDelivered = SyncNotes.Delivered;
        DeviceSessions = new DeviceSessions(Context, directory, mailboxes, Sessions, Fanout);
        Devices = new AccountDevices(Context, directory, dependencies.Device, dependencies.DeviceKey);
        Publisher = new DirectoryPublisher(Context, directory, mailboxes, Channels, Devices);
        Contacts = new ContactBook(Context, directory, Sessions, Outbox, Publisher, DeviceSessions);
        Conversations = new DirectConversations(Context, Contacts, Sessions, Outbox, DeviceSessions, SyncNotes);
        RoomCache = new RoomCache(Context);
        var messenger = new RoomMessenger(Context, Sessions, Outbox, Fanout, directory);
        var roomDevices = new RoomDevices(Context, Sessions, Outbox, Fanout, DeviceSessions, messenger);
        var membership = new RoomMembership(Context, RoomCache, messenger, new WelcomeParts(Context, messenger), directory, roomDevices);
        RoomMessages = new RoomMessages(Context, RoomCache, messenger, roomDevices);
        var history = new HistoryOffers(Context, RoomCache, messenger);
        Rooms = new RoomEngine(Context, RoomCache, membership, messenger, RoomMessages, history, Contacts, Outbox, roomDevices);
        Devices.Linked = async ct =>
        {
            await Publisher.PublishDeviceRecordsAsync(ct);
            await Rooms.SyncAllAsync(ct);
        };
        Devices.Removed = Rooms.RemoveDeviceAsync;
        RoomMessages.SyncNeeded = id => Rooms.ScheduleSync([id]);
        var entries = new EntriesHandler(RoomCache, membership, messenger, Context, roomDevices);
        RoomControls = new RoomControls(Context, RoomCache,
        [
            new WelcomeHandler(RoomCache, membership, Context.Events, directory),
            entries,
            new EntriesRequestHandler(messenger),
            new KeysHandler(RoomMessages, entries, directory, Context, roomDevices),
            new HeadsRequestHandler(messenger, account.PublicKey),
            new WelcomeRequestHandler(messenger, account.PublicKey),
            new HeadsHandler(membership),
            new JoinRequestHandler(RoomCache, messenger, Context),
            new HistoryHandler(history),
            new FetchHandler(RoomMessages),
            new MessagesHandler(RoomMessages, account.PublicKey),
        ]);
        Repair = new SessionRepair(Context, Sessions, Outbox);
        var directContent = new DirectContentHandler(Context);
        Files = new ChatFiles(Context, dependencies.FileStore ?? new EphemeralFileStore(), dependencies.FileChannels, Sessions, Outbox, directRoute, RoomCache, Conversations, Rooms, directContent);
        RoomMessages.FileRead = Files.Inbox.ApplyRoomManifest;
        DirectActions = new DirectActions(Context, directContent, Contacts, Sessions, Outbox);
        RoomActions = new RoomActions(Context, Rooms, RoomCache);
        Live = new LiveStatus(Context, Sessions, directRoute);
        Context.Events.ContactChanged += (_, e) => Live.OnContactChanged(e.Contact);
        Receiver = new EnvelopeReceiver(Context, Sessions, directContent, DirectActions, Live, RoomControls, RoomMessages, RoomCache, Rooms, Outbox, Repair, Files.Inbox, Fanout, new SentCopies(Context, directContent, DirectActions), SyncNotes);
        Fetcher = new MailboxFetcher(Context, mailboxes, Receiver, Sessions, Outbox, Devices);
        Outbox.RoomCopiesCounted = Rooms.RaiseCopiesCountedAsync;
    }

    public ChatContext Context { get; }

    public IPeerChannels Channels { get; }

    public DirectRoute Direct { get; }

    public Outbox Outbox { get; }

    public PairwiseSessions Sessions { get; }

    public DeviceFanout Fanout { get; }

    public DeviceSessions DeviceSessions { get; }

    public SessionRepair Repair { get; }

    public AccountDevices Devices { get; }

    public DirectoryPublisher Publisher { get; }

    public ContactBook Contacts { get; }

    public DirectConversations Conversations { get; }

    public RoomCache RoomCache { get; }

    public RoomMessages RoomMessages { get; }

    public RoomEngine Rooms { get; }

    public RoomControls RoomControls { get; }

    public DirectActions DirectActions { get; }

    public RoomActions RoomActions { get; }

    public LiveStatus Live { get; }

    public DeviceSyncNotes SyncNotes { get; }

    public EnvelopeReceiver Receiver { get; }

    public MailboxFetcher Fetcher { get; }

    public ChatFiles Files { get; }
}
