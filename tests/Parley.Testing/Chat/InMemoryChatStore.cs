using Parley.Chat.Messaging;
using Parley.Core.Identity;

namespace Parley.Testing.Chat;

/// <summary>
/// <see cref="IChatStore"/> in memory, for the chat core's unit tests; it passes the same contract tests as the SQLite
/// store. A transaction works on a copy of the state that replaces the state only when the work returns, so a throw
/// rolls everything back. One lock serializes every transaction and read. Times are kept to the millisecond, as stored.
/// </summary>
public sealed partial class InMemoryChatStore : IChatStore
{
    private const int MaxHeads = 4;
    private const int MessageIdLength = 16;
    private const int MaxChainAnswer = 256;

    private readonly Lock _gate = new();
    private State _state = new();

    public Task<T> TransactAsync<T>(Func<IChatTransaction, T> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            var copy = _state.Copy();
            var result = work(new Transaction(copy));
            _state = copy;
            return Task.FromResult(result);
        }
    }

    public Task<T> ReadAsync<T>(Func<IChatReader, T> read, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(read);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            // A reader that tried to write would change the state: it gets a copy it cannot commit.
            return Task.FromResult(read(new Transaction(_state.Copy())));
        }
    }

    /// <summary>A copy of everything stored now, as a backup of the data folder would be.</summary>
    public InMemoryChatStore Snapshot()
    {
        lock (_gate)
        {
            return new InMemoryChatStore { _state = _state.Copy() };
        }
    }

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);

    private static DateTimeOffset Ms(DateTimeOffset time) => DateTimeOffset.FromUnixTimeMilliseconds(time.ToUnixTimeMilliseconds());

    private static int CompareBytes(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);

    /// <summary>Display order of a conversation: Lamport clock, then sender, then id.</summary>
    private static int CompareMessages(MessageRecord a, MessageRecord b)
    {
        var order = a.Lamport.CompareTo(b.Lamport);
        order = order != 0 ? order : string.CompareOrdinal(a.Sender.ToString(), b.Sender.ToString());
        return order != 0 ? order : CompareBytes(a.Id, b.Id);
    }

    private static int CompareGroupMessages(GroupMessageRecord a, GroupMessageRecord b)
    {
        var order = a.Lamport.CompareTo(b.Lamport);
        order = order != 0 ? order : CompareBytes(a.Sender.ToProtobuf(), b.Sender.ToProtobuf());
        return order != 0 ? order : CompareBytes(a.Id, b.Id);
    }

    private sealed class State
    {
        public AccountRecord? Account { get; set; }

        public List<(string Key, byte[] Certificate, long AddedMs)> Devices { get; init; } = [];

        public Dictionary<string, ContactRecord> Contacts { get; init; } = [];

        public Dictionary<(string Contact, string Session), SessionRecord> Sessions { get; init; } = [];

        public Dictionary<(uint Id, bool OneTime), PrekeyRecord> Prekeys { get; init; } = [];

        public Dictionary<string, long> Seen { get; init; } = [];

        public Dictionary<string, MessageRecord> Messages { get; init; } = [];

        public Dictionary<string, (ulong Lamport, List<byte[]> Heads)> Conversations { get; init; } = [];

        public Dictionary<string, OutboxItem> Outbox { get; init; } = [];

        public Dictionary<string, byte[]> Settings { get; init; } = [];

        public Dictionary<string, List<DeviceDelivery>> DeviceDeliveries { get; init; } = [];

        public Dictionary<string, GroupRecord> Groups { get; init; } = [];

        public Dictionary<string, List<(string Id, byte[] Entry)>> GroupEntries { get; init; } = [];

        public Dictionary<string, GroupMessageRecord> GroupMessages { get; init; } = [];

        public List<(long Id, string Group, byte[] Ciphertext)> GroupPending { get; init; } = [];

        public long NextPendingId { get; set; } = 1;

        public Dictionary<string, Parley.Chat.Files.FileRecord> Files { get; init; } = [];

        /// <summary>A copy whose collections can change without touching this one (records and byte arrays are never changed in place).</summary>
        public State Copy() => new()
        {
            Account = Account,
            Devices = [.. Devices],
            Contacts = new(Contacts),
            Sessions = new(Sessions),
            Prekeys = new(Prekeys),
            Seen = new(Seen),
            Messages = new(Messages),
            Conversations = Conversations.ToDictionary(c => c.Key, c => (c.Value.Lamport, c.Value.Heads.ToList())),
            Outbox = new(Outbox),
            Settings = new(Settings),
            DeviceDeliveries = DeviceDeliveries.ToDictionary(d => d.Key, d => d.Value.ToList()),
            Groups = new(Groups),
            GroupEntries = GroupEntries.ToDictionary(g => g.Key, g => g.Value.ToList()),
            GroupMessages = new(GroupMessages),
            GroupPending = [.. GroupPending],
            NextPendingId = NextPendingId,
            Files = new(Files),
        };
    }

    private sealed partial class Transaction(State state) : IChatTransaction
    {
        public AccountRecord? GetAccount() => state.Account;

        public void PutAccount(AccountRecord account) => state.Account = account with { CreatedAt = Ms(account.CreatedAt) };

        public IReadOnlyList<byte[]> GetDeviceCertificates() => state.Devices.OrderBy(d => d.AddedMs).Select(d => d.Certificate).ToList();

        public void DeleteDevice(byte[] deviceKey) => state.Devices.RemoveAll(d => d.Key == Hex(deviceKey));

        public void PutDevice(byte[] deviceKey, byte[] certificate, DateTimeOffset addedAt)
        {
            var key = Hex(deviceKey);
            var index = state.Devices.FindIndex(d => d.Key == key);
            if (index >= 0)
            {
                state.Devices[index] = state.Devices[index] with { Certificate = certificate };
            }
            else
            {
                state.Devices.Add((key, certificate, addedAt.ToUnixTimeMilliseconds()));
            }
        }

        public ContactRecord? GetContact(PeerId account) => state.Contacts.GetValueOrDefault(account.ToString());

        public IReadOnlyList<ContactRecord> GetContacts() =>
            state.Contacts.Values.OrderBy(c => c.Name, StringComparer.Ordinal).ThenBy(c => c.Account.ToString(), StringComparer.Ordinal).ToList();

        public IReadOnlyList<ContactRecord> GetContactsNamed(string name) =>
            state.Contacts.Values.Where(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase)).OrderBy(c => c.Account.ToString(), StringComparer.Ordinal).ToList();

        public void PutContact(ContactRecord contact)
        {
            var key = contact.Account.ToString();
            // The creation time is the first one, as the SQLite store keeps it.
            var created = state.Contacts.TryGetValue(key, out var existing) ? existing.CreatedAt : Ms(contact.CreatedAt);
            state.Contacts[key] = contact with { CreatedAt = created };
        }

        public bool HasSession(PeerId contact)
        {
            var key = contact.ToString();
            return state.Sessions.Keys.Any(k => k.Contact == key);
        }

        public SessionRecord? GetSession(PeerId contact, byte[] sessionId) => state.Sessions.GetValueOrDefault((contact.ToString(), Hex(sessionId)));

        public IReadOnlyList<SessionRecord> GetSessions(PeerId contact)
        {
            var key = contact.ToString();
            return state.Sessions.Where(s => s.Key.Contact == key).Select(s => s.Value)
                .OrderByDescending(s => s.LastReceivedAt).ThenByDescending(s => s.CreatedAt).ToList();
        }

        public void PutSession(SessionRecord session)
        {
            var key = (session.Contact.ToString(), Hex(session.SessionId));
            var created = state.Sessions.TryGetValue(key, out var existing) ? existing.CreatedAt : Ms(session.CreatedAt);
            state.Sessions[key] = session with { LastReceivedAt = Ms(session.LastReceivedAt), CreatedAt = created };
        }

        public void DeleteSession(PeerId contact, byte[] sessionId) => state.Sessions.Remove((contact.ToString(), Hex(sessionId)));

        public PrekeyRecord? GetPrekey(uint id, bool oneTime) => state.Prekeys.GetValueOrDefault((id, oneTime));

        public IReadOnlyList<PrekeyRecord> GetPrekeys(bool oneTime) =>
            state.Prekeys.Values.Where(p => p.OneTime == oneTime).OrderBy(p => p.CreatedAt).ThenBy(p => p.Id).ToList();

        public void PutPrekey(PrekeyRecord prekey) => state.Prekeys[(prekey.Id, prekey.OneTime)] = prekey with { CreatedAt = Ms(prekey.CreatedAt) };

        public void DeletePrekey(uint id, bool oneTime) => state.Prekeys.Remove((id, oneTime));

        public bool MarkEnvelopeSeen(byte[] envelopeId, DateTimeOffset at) => state.Seen.TryAdd(Hex(envelopeId), at.ToUnixTimeMilliseconds());

        public void ForgetSeenEnvelopes(DateTimeOffset before)
        {
            var cutoff = before.ToUnixTimeMilliseconds();
            foreach (var old in state.Seen.Where(s => s.Value < cutoff).Select(s => s.Key).ToList())
            {
                state.Seen.Remove(old);
            }
        }

        public MessageRecord? GetMessage(byte[] messageId) => state.Messages.GetValueOrDefault(Hex(messageId));

        public IReadOnlyList<DeviceDelivery> GetDeviceDeliveries(byte[] messageId) =>
            state.DeviceDeliveries.TryGetValue(Hex(messageId), out var deliveries) ? deliveries.ToList() : [];

        public void PutDeviceDelivery(byte[] messageId, DeviceDelivery delivery)
        {
            var deliveries = state.DeviceDeliveries.TryGetValue(Hex(messageId), out var known) ? known : state.DeviceDeliveries[Hex(messageId)] = [];
            var index = deliveries.FindIndex(d => d.Device == delivery.Device);
            if (index < 0)
            {
                deliveries.Add(delivery with { At = Ms(delivery.At) });
            }
            else if (deliveries[index].State < delivery.State)
            {
                deliveries[index] = delivery with { At = Ms(delivery.At) };
            }
        }

        public IReadOnlyList<MessageRecord> GetMessages(byte[] conversationId, int limit)
        {
            var all = state.Messages.Values.Where(m => m.Kind == MessageKind.Text && m.ConversationId.AsSpan().SequenceEqual(conversationId)).ToList();
            all.Sort(CompareMessages);
            return all.Skip(Math.Max(0, all.Count - limit)).ToList();
        }

        public IReadOnlyList<MessageRecord> GetActions(byte[] targetId)
        {
            var actions = state.Messages.Values.Where(m => m.Kind != MessageKind.Text && m.Target is { } target && target.AsSpan().SequenceEqual(targetId)).ToList();
            actions.Sort(CompareMessages);
            return actions;
        }

        public IReadOnlyList<MessageRecord> GetActionsSince(byte[] conversationId, ulong lamport, int limit)
        {
            var actions = state.Messages.Values.Where(m => m.Kind != MessageKind.Text && m.Lamport >= lamport && m.ConversationId.AsSpan().SequenceEqual(conversationId)).ToList();
            actions.Sort(CompareMessages);
            return actions.Take(limit).ToList();
        }

        public IReadOnlyList<MessageRecord> GetUnread(int limit)
        {
            var unread = state.Messages.Values.Where(m => m.Unread).ToList();
            unread.Sort((a, b) => CompareBytes(a.ConversationId, b.ConversationId) is var order && order != 0 ? order : CompareMessages(a, b));
            return unread.Take(limit).ToList();
        }

        public bool InsertMessage(MessageRecord message)
        {
            if (message.Parents.Any(p => p.Length < MessageIdLength))
            {
                throw new ArgumentException("parent ids are 16 bytes", nameof(message));
            }
            return state.Messages.TryAdd(Hex(message.Id), message with
            {
                Parents = message.Parents.Select(p => p[..MessageIdLength]).ToList(),
                SentAt = Ms(message.SentAt),
                LocalAt = Ms(message.LocalAt),
                EditedAt = message.EditedAt is { } edited ? Ms(edited) : null,
                Reactions = [],
                Quote = null,
            });
        }

        public void UpdateMessageState(byte[] messageId, DeliveryState newState, int storedCount)
        {
            if (state.Messages.TryGetValue(Hex(messageId), out var message))
            {
                state.Messages[Hex(messageId)] = message with { State = newState, StoredCount = storedCount };
            }
        }

        public MessageRecord? AdvanceMessageState(byte[] messageId, DeliveryState newState)
        {
            if (!state.Messages.TryGetValue(Hex(messageId), out var message) || message.State >= newState)
            {
                return null;
            }
            var advanced = message with { State = newState };
            state.Messages[Hex(messageId)] = advanced;
            return advanced;
        }

        public void MarkRead(byte[] messageId)
        {
            if (state.Messages.TryGetValue(Hex(messageId), out var message))
            {
                state.Messages[Hex(messageId)] = message with { Unread = false };
            }
        }

        public void EditMessage(byte[] messageId, string text, DateTimeOffset editedAt)
        {
            if (state.Messages.TryGetValue(Hex(messageId), out var message))
            {
                state.Messages[Hex(messageId)] = message with { Text = text, EditedAt = Ms(editedAt) };
            }
        }

        public void EraseMessage(byte[] messageId)
        {
            if (state.Messages.TryGetValue(Hex(messageId), out var message))
            {
                state.Messages[Hex(messageId)] = message with { Text = "", Deleted = true };
            }
        }

        public void DeleteMessages(byte[] conversationId)
        {
            foreach (var id in state.Messages.Where(m => m.Value.ConversationId.AsSpan().SequenceEqual(conversationId)).Select(m => m.Key).ToList())
            {
                state.Messages.Remove(id);
                state.DeviceDeliveries.Remove(id);
            }
        }

        public (ulong Lamport, IReadOnlyList<byte[]> Heads) GetConversationClock(byte[] conversationId) =>
            state.Conversations.TryGetValue(Hex(conversationId), out var clock) ? (clock.Lamport, clock.Heads.ToList()) : (0, []);

        public void AdvanceConversation(byte[] conversationId, PeerId? contact, ulong lamport, byte[] messageId)
        {
            var key = Hex(conversationId);
            if (!state.Conversations.TryGetValue(key, out var clock))
            {
                state.Conversations[key] = (lamport, [messageId]);
                return;
            }
            if (lamport > clock.Lamport)
            {
                state.Conversations[key] = (lamport, [messageId]);
            }
            else if (lamport == clock.Lamport && clock.Heads.Count < MaxHeads)
            {
                clock.Heads.Add(messageId);
            }
        }

        public IReadOnlyList<OutboxItem> GetOutbox(DateTimeOffset dueBy, int limit) =>
            state.Outbox.Values.Where(i => i.NextAttemptAt <= dueBy).OrderBy(i => i.NextAttemptAt).ThenBy(i => i.CreatedAt).Take(limit).ToList();

        public OutboxItem? GetOutboxItem(byte[] envelopeId) => state.Outbox.GetValueOrDefault(Hex(envelopeId));

        public IReadOnlyList<OutboxItem> GetOutboxFor(PeerId recipient) =>
            state.Outbox.Values.Where(i => i.Recipient == recipient).OrderBy(i => i.CreatedAt).ToList();

        public int CountOutbox(OutboxStage? stage = null) => state.Outbox.Values.Count(i => stage is null || i.Stage == stage);

        public void PutOutbox(OutboxItem item) =>
            state.Outbox[Hex(item.EnvelopeId)] = item with { NextAttemptAt = Ms(item.NextAttemptAt), CreatedAt = Ms(item.CreatedAt) };

        public void DeleteOutbox(byte[] envelopeId) => state.Outbox.Remove(Hex(envelopeId));

        public void DeleteOutboxForMessage(byte[] messageId)
        {
            foreach (var id in state.Outbox.Where(i => i.Value.MessageId is { } m && m.AsSpan().SequenceEqual(messageId)).Select(i => i.Key).ToList())
            {
                state.Outbox.Remove(id);
            }
        }

        public byte[]? GetSetting(string name) => state.Settings.GetValueOrDefault(name);

        public void PutSetting(string name, byte[] value) => state.Settings[name] = value;

        public IReadOnlyList<GroupRecord> GetGroups() => state.Groups.Values.OrderBy(g => g.CreatedAt).ToList();

        public GroupRecord? GetGroup(byte[] groupId) => state.Groups.GetValueOrDefault(Hex(groupId));

        public void PutGroup(GroupRecord group)
        {
            var key = Hex(group.Id);
            var created = state.Groups.TryGetValue(key, out var existing) ? existing.CreatedAt : Ms(group.CreatedAt);
            state.Groups[key] = group with { CreatedAt = created };
        }

        public IReadOnlyList<byte[]> GetGroupEntries(byte[] groupId) =>
            state.GroupEntries.TryGetValue(Hex(groupId), out var entries) ? entries.Select(e => e.Entry).ToList() : [];

        public void AddGroupEntry(byte[] groupId, byte[] entryId, byte[] entry)
        {
            var key = Hex(groupId);
            if (!state.GroupEntries.TryGetValue(key, out var entries))
            {
                state.GroupEntries[key] = entries = [];
            }
            var id = Hex(entryId);
            if (!entries.Any(e => e.Id == id))
            {
                entries.Add((id, entry));
            }
        }

        public IReadOnlyList<GroupMessageRecord> GetGroupMessages(byte[] groupId, int limit) => GroupMessagesNewestLast(groupId, limit, textsOnly: true);

        public IReadOnlyList<GroupMessageRecord> GetGroupTimeline(byte[] groupId, int limit) => GroupMessagesNewestLast(groupId, limit, textsOnly: false);

        public IReadOnlyList<GroupMessageRecord> GetGroupActions(byte[] targetId)
        {
            var actions = state.GroupMessages.Values.Where(m => m.Kind != MessageKind.Text && m.Target is { } target && target.AsSpan().SequenceEqual(targetId)).ToList();
            actions.Sort(CompareGroupMessages);
            return actions;
        }

        public IReadOnlyList<GroupMessageRecord> GetGroupActionsSince(byte[] groupId, ulong lamport, int limit)
        {
            var actions = state.GroupMessages.Values.Where(m => m.Kind != MessageKind.Text && m.Lamport >= lamport && m.GroupId.AsSpan().SequenceEqual(groupId)).ToList();
            actions.Sort(CompareGroupMessages);
            return actions.Take(limit).ToList();
        }

        public void EditGroupMessage(byte[] messageId, string text, DateTimeOffset editedAt)
        {
            if (state.GroupMessages.TryGetValue(Hex(messageId), out var message))
            {
                state.GroupMessages[Hex(messageId)] = message with { Text = text, EditedAt = Ms(editedAt) };
            }
        }

        public void EraseGroupMessage(byte[] messageId, byte[] erasedBody)
        {
            if (state.GroupMessages.TryGetValue(Hex(messageId), out var message))
            {
                state.GroupMessages[Hex(messageId)] = message with { Text = "", Body = erasedBody, Ciphertext = null, Deleted = true };
            }
        }

        private List<GroupMessageRecord> GroupMessagesNewestLast(byte[] groupId, int limit, bool textsOnly)
        {
            var all = state.GroupMessages.Values.Where(m => (!textsOnly || m.Kind == MessageKind.Text) && m.GroupId.AsSpan().SequenceEqual(groupId)).ToList();
            all.Sort(CompareGroupMessages);
            return all.Skip(Math.Max(0, all.Count - limit)).ToList();
        }

        public GroupMessageRecord? GetGroupMessage(byte[] messageId) => state.GroupMessages.GetValueOrDefault(Hex(messageId));

        public IReadOnlyList<GroupMessageRecord> GetGroupMessagesOfChain(byte[] groupId, PublicKey sender, byte[] epoch, uint chainId, uint first, uint last) =>
            state.GroupMessages.Values
                .Where(m => m.GroupId.AsSpan().SequenceEqual(groupId) && m.Sender.Equals(sender) && m.Epoch.AsSpan().SequenceEqual(epoch)
                    && m.ChainId == chainId && m.Iteration >= first && m.Iteration <= last)
                .OrderBy(m => m.Iteration)
                .Take(MaxChainAnswer)
                .ToList();

        public bool InsertGroupMessage(GroupMessageRecord message) =>
            state.GroupMessages.TryAdd(Hex(message.Id), message with
            {
                SentAt = Ms(message.SentAt),
                LocalAt = Ms(message.LocalAt),
                EditedAt = message.EditedAt is { } edited ? Ms(edited) : null,
                Reactions = [],
                Quote = null,
            });

        public void CountGroupCopy(byte[] messageId, bool delivered)
        {
            if (state.GroupMessages.TryGetValue(Hex(messageId), out var message))
            {
                state.GroupMessages[Hex(messageId)] = delivered
                    ? message with { Delivered = Math.Min(message.Recipients, message.Delivered + 1) }
                    : message with { Stored = Math.Min(message.Recipients, message.Stored + 1) };
            }
        }

        public void MarkGroupRead(byte[] groupId)
        {
            foreach (var message in state.GroupMessages.Values.Where(m => m.Unread && m.GroupId.AsSpan().SequenceEqual(groupId)).ToList())
            {
                state.GroupMessages[Hex(message.Id)] = message with { Unread = false };
            }
        }

        public IReadOnlyList<(long Id, byte[] Ciphertext)> GetGroupPending(byte[] groupId)
        {
            var key = Hex(groupId);
            return state.GroupPending.Where(p => p.Group == key).OrderBy(p => p.Id).Select(p => (p.Id, p.Ciphertext)).ToList();
        }

        public void AddGroupPending(byte[] groupId, byte[] ciphertext, DateTimeOffset at, int maxPerGroup)
        {
            var key = Hex(groupId);
            state.GroupPending.Add((state.NextPendingId++, key, ciphertext));
            var kept = state.GroupPending.Where(p => p.Group == key).OrderByDescending(p => p.Id).Take(maxPerGroup).Select(p => p.Id).ToHashSet();
            state.GroupPending.RemoveAll(p => p.Group == key && !kept.Contains(p.Id));
        }

        public void DeleteGroupPending(long id) => state.GroupPending.RemoveAll(p => p.Id == id);
    }
}
