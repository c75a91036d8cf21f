using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Parley.Chat.Groups;
using Parley.Chat.Groups.Protos;
using Parley.Chat.Identity;
using Parley.Chat.Protos;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Messaging;

/// <summary>
/// Rooms (docs/groups.md section 6): the membership log, sender keys and timeline of each room the user is in, wired to
/// delivery. Membership entries, welcomes, sender-key distributions and history travel as <see cref="GroupControl"/>
/// over the pairwise sessions; room messages travel as one ciphertext per member through the outbox (directly or
/// through mailboxes). Every change of a room is saved in the same transaction as what it queues. Rooms are held in
/// memory once loaded, under one lock that receiving also takes.
/// </summary>
public sealed partial class ChatClient
{
    private const int MaxPendingGroupCiphertexts = 500;
    private const int MaxGroupPage = 10_000;

    private readonly SemaphoreSlim _roomsGate = new(1, 1);
    private readonly Dictionary<Id256, Room> _rooms = [];
    private readonly HashSet<(Id256 Group, PublicKey Sender, Id256 Epoch, uint Chain, uint First)> _requestedGaps = [];
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Id256, byte> _roomsToSync = new();

    /// <summary>A room was created or joined, or its membership changed.</summary>
    public event EventHandler<GroupEventArgs>? GroupChanged;

    /// <summary>A room message arrived (also from a history offer or a fetch of missing messages).</summary>
    public event EventHandler<GroupMessageEventArgs>? GroupMessageReceived;

    /// <summary>One of our room messages reached one more member (stored in its mailbox, or delivered).</summary>
    public event EventHandler<GroupMessageEventArgs>? GroupMessageChanged;

    public async Task<GroupInfo> CreateGroupAsync(string name, bool historyEnabled, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        var now = _time.GetUtcNow();
        GroupInfo info;
        await _roomsGate.WaitAsync(cancellationToken);
        try
        {
            MembershipLog log;
            try
            {
                log = MembershipLog.Create(_crypto, Account.SigningKey, Handle.ToString(), name.Trim(), historyEnabled, now.ToUnixTimeMilliseconds());
            }
            catch (MembershipException e)
            {
                throw new ChatException($"cannot create a room called '{name}': {e.Message}", e);
            }
            var session = new GroupSession(_crypto, Account.PublicKey, log.GroupId);
            session.Update(log.State);
            var room = new Room(new GroupRecord(log.GroupId.Span.ToArray(), log.LinkKey.ToArray(), Handle.ToString(), GroupStatus.Member, null, now), log, session, new GroupTimeline(log.GroupId));
            await _store.TransactAsync(tx =>
            {
                SaveRoom(tx, room, log.Entries.Select(e => e.Entry));
                return true;
            }, cancellationToken);
            _rooms[log.GroupId] = room;
            info = Info(room);
        }
        finally
        {
            _roomsGate.Release();
        }
        Raise(GroupChanged, new GroupEventArgs(info));
        return info;
    }

    public async Task<IReadOnlyList<GroupInfo>> GetGroupsAsync(CancellationToken cancellationToken)
    {
        await _roomsGate.WaitAsync(cancellationToken);
        try
        {
            return await _store.ReadAsync(r => r.GetGroups().Select(g => GetRoom(r, Id256.FromBytes(g.Id))).OfType<Room>().Select(Info).ToList(), cancellationToken);
        }
        finally
        {
            _roomsGate.Release();
        }
    }

    /// <summary>A room by name (unique among the user's rooms), id (base32, or its first characters) or invite link.</summary>
    public async Task<GroupInfo> GetGroupAsync(string room, CancellationToken cancellationToken) =>
        await WithRoomAsync(room, (_, r) => Info(r), cancellationToken);

    /// <summary>An admin invites someone (a contact or a handle found in the directory); they join with <see cref="JoinGroupAsync"/>.</summary>
    public async Task<GroupInfo> InviteToGroupAsync(string room, string who, CancellationToken cancellationToken)
    {
        var (account, display) = await ResolvePersonAsync(who, cancellationToken);
        var id = await FindRoomIdAsync(room, cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await PreparePeersAsync([.. members, (account, display)], cancellationToken);
        return await ChangeRoomAsync(id, (tx, r) =>
        {
            RequireAdmin(r);
            if (r.Log.State.IsMember(account))
            {
                throw new ChatException($"{display} is already in {r.Log.State.Name}");
            }
            var entry = Append(r, MembershipChange.Invite(account, display));
            Broadcast(tx, r, [entry], r.Log.State.Members.Select(m => m.Account), setups);
            SendWelcome(tx, r, account, setups);
        }, cancellationToken);
    }

    /// <summary>
    /// Joins a room: accepts an invitation to it, or with an invite link (<c>parley://join/…</c>) asks the admin the link
    /// names to let us in (admins approve or deny; a welcome follows approval).
    /// </summary>
    public async Task<GroupInfo> JoinGroupAsync(string roomOrLink, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(roomOrLink);
        if (roomOrLink.Trim().StartsWith(GroupInviteLink.Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return await RequestToJoinAsync(roomOrLink.Trim(), cancellationToken);
        }
        var id = await FindRoomIdAsync(roomOrLink, cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await PreparePeersAsync(members, cancellationToken);
        var info = await ChangeRoomAsync(id, (tx, r) =>
        {
            if (r.Record.Status == GroupStatus.Member)
            {
                return;
            }
            if (!r.HasLog)
            {
                throw new ChatException("you asked to join that room; an admin has to let you in");
            }
            if (!r.Log.State.Invitations.Any(i => i.Account.Equals(Account.PublicKey)))
            {
                throw new ChatException($"there is no invitation to {r.Log.State.Name} to accept");
            }
            var entry = Append(r, MembershipChange.Join(Handle.ToString()));
            r.Record = r.Record with { Status = GroupStatus.Member };
            Broadcast(tx, r, [entry], r.Log.State.Members.Select(m => m.Account), setups);
        }, cancellationToken);
        await SyncRoomAsync(id, cancellationToken);
        return info;
    }

    public Task<GroupInfo> ApproveAsync(string room, string who, CancellationToken cancellationToken) =>
        DecideRequestAsync(room, who, approve: true, cancellationToken);

    public Task<GroupInfo> DenyAsync(string room, string who, CancellationToken cancellationToken) =>
        DecideRequestAsync(room, who, approve: false, cancellationToken);

    /// <summary>An admin removes a member; every remaining member then rotates its sender key.</summary>
    public Task<GroupInfo> KickAsync(string room, string who, CancellationToken cancellationToken) =>
        MemberChangeAsync(room, who, m => MembershipChange.Remove(m.Account), includeTarget: true, cancellationToken);

    public Task<GroupInfo> PromoteAsync(string room, string who, CancellationToken cancellationToken) =>
        MemberChangeAsync(room, who, m => MembershipChange.Promote(m.Account), includeTarget: false, cancellationToken);

    public Task<GroupInfo> DemoteAsync(string room, string who, CancellationToken cancellationToken) =>
        MemberChangeAsync(room, who, m => MembershipChange.Demote(m.Account), includeTarget: false, cancellationToken);

    public async Task<GroupInfo> LeaveGroupAsync(string room, CancellationToken cancellationToken)
    {
        var id = await FindRoomIdAsync(room, cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await PreparePeersAsync(members, cancellationToken);
        var info = await ChangeRoomAsync(id, (tx, r) =>
        {
            if (r.Record.Status != GroupStatus.Member)
            {
                r.Record = r.Record with { Status = GroupStatus.Left };
                return;
            }
            var recipients = r.Log.State.Members.Select(m => m.Account).ToList();
            var entry = Append(r, MembershipChange.Leave());
            r.Record = r.Record with { Status = GroupStatus.Left };
            Broadcast(tx, r, [entry], recipients, setups);
        }, cancellationToken);
        await SyncRoomAsync(id, cancellationToken);
        return info;
    }

    public Task<GroupInfo> RenameGroupAsync(string room, string name, CancellationToken cancellationToken) =>
        AdminChangeAsync(room, MembershipChange.Rename(name.Trim()), cancellationToken);

    public Task<GroupInfo> SetGroupHistoryAsync(string room, bool enabled, CancellationToken cancellationToken) =>
        AdminChangeAsync(room, MembershipChange.SetHistory(enabled), cancellationToken);

    /// <summary>Encrypts a message once for the room and queues a copy for every other member.</summary>
    public async Task<GroupMessageRecord> SendToGroupAsync(string room, string text, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ChatException("an empty message is not sent");
        }
        if (Utf8Length(text) > _options.MaxTextBytes)
        {
            throw new ChatException($"the message is {Utf8Length(text)} bytes; at most {_options.MaxTextBytes} fit");
        }
        var id = await FindRoomIdAsync(room, cancellationToken);
        // Copies go to each member's mailbox when they are away (their keys and a mailbox token), and a member that
        // lacks our sender key gets it first, over its pairwise session.
        var setups = await PreparePeersAsync(await MembersAsync(id, cancellationToken), cancellationToken);
        var retry = false;
        var record = await TransactRoomAsync(id, tx =>
        {
            var r = GetRoom(tx, id) ?? throw new ChatException("no such room");
            if (r.Record.Status != GroupStatus.Member || !r.Log.State.IsMember(Account.PublicKey))
            {
                throw new ChatException($"you are not a member of {r.Log.State.Name}");
            }
            // Every member we write to must be able to read it: our chain goes out (at this very iteration) to those
            // who lack it, in this transaction and ahead of the message in each one's outbox.
            retry = !DistributeKeys(tx, r, setups);
            var now = _time.GetUtcNow();
            var (lamport, parents) = r.Timeline.NextClock();
            SentGroupMessage sent;
            try
            {
                sent = r.Session.Encrypt(text, lamport, parents, now.ToUnixTimeMilliseconds());
            }
            catch (InvalidOperationException e)
            {
                throw new ChatException($"cannot send to {r.Log.State.Name} yet: {e.Message}", e);
            }
            r.Timeline.Add(sent.Message);
            var recipients = r.Log.State.Members.Where(m => !m.Account.Equals(Account.PublicKey)).ToList();
            var message = Record(sent.Message, sent.Ciphertext, outgoing: true, recipients.Count, unread: false, fromHistory: false, now);
            tx.InsertGroupMessage(message);
            foreach (var member in recipients)
            {
                if (tx.GetContact(member.Account.ToPeerId()) is { } contact)
                {
                    QueueGroupEnvelope(tx, contact, sent.Ciphertext, message.Id);
                }
            }
            SaveRoom(tx, r, []);
            return message;
        }, cancellationToken);
        if (retry)
        {
            ScheduleRoomSync([id]);
        }
        WakeOutbox();
        return record;
    }

    /// <summary>The room's messages in the order every member shows them, and the gaps where messages are still missing.</summary>
    public async Task<GroupHistory> GetGroupHistoryAsync(string room, int limit, CancellationToken cancellationToken)
    {
        var id = await FindRoomIdAsync(room, cancellationToken);
        return await WithRoomAsync(id, (reader, r) => new GroupHistory(reader.GetGroupMessages(id.Span.ToArray(), Math.Clamp(limit, 1, MaxGroupPage)), r.Timeline.Gaps), cancellationToken);
    }

    public async Task MarkGroupReadAsync(string room, CancellationToken cancellationToken)
    {
        var id = await FindRoomIdAsync(room, cancellationToken);
        await _store.TransactAsync(tx =>
        {
            tx.MarkGroupRead(id.Span.ToArray());
            return true;
        }, cancellationToken);
    }

    private async Task<GroupInfo> RequestToJoinAsync(string linkText, CancellationToken cancellationToken)
    {
        GroupInviteLink link;
        try
        {
            link = GroupInviteLink.Parse(linkText);
        }
        catch (FormatException e)
        {
            throw new ChatException($"not a room link: {e.Message}", e);
        }
        var (admin, adminHandle) = await ResolvePersonAsync(link.AdminHandle, cancellationToken);
        var setups = await PreparePeersAsync([(admin, adminHandle)], cancellationToken);
        var info = await TransactRoomAsync(link.GroupId, tx =>
        {
            if (GetRoom(tx, link.GroupId) is { Record.Status: GroupStatus.Member } member)
            {
                return Info(member);
            }
            var room = new Room(
                new GroupRecord(link.GroupId.Span.ToArray(), link.LinkKey.ToArray(), link.AdminHandle, GroupStatus.Requested, null, _time.GetUtcNow()),
                new MembershipLog(_crypto, link.GroupId, link.LinkKey),
                new GroupSession(_crypto, Account.PublicKey, link.GroupId),
                new GroupTimeline(link.GroupId));
            _rooms[link.GroupId] = room;
            SaveRoom(tx, room, []);
            // The admin says where the log stands; the signed Request goes back on those heads.
            SendControl(tx, room.Id, admin, new GroupControl { HeadsRequest = true }, setups);
            return Info(room);
        }, cancellationToken);
        WakeOutbox();
        return info;
    }

    private async Task<GroupInfo> DecideRequestAsync(string room, string who, bool approve, CancellationToken cancellationToken)
    {
        var id = await FindRoomIdAsync(room, cancellationToken);
        var request = await WithRoomAsync(id, (_, r) => FindPerson(r.Log.State.Requests.Select(q => (q.Account, q.DisplayName)), who, "asking to join"), cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await PreparePeersAsync([.. members, request], cancellationToken);
        var info = await ChangeRoomAsync(id, (tx, r) =>
        {
            RequireAdmin(r);
            var entry = Append(r, approve ? MembershipChange.Approve(request.Account) : MembershipChange.Deny(request.Account));
            Broadcast(tx, r, [entry], r.Log.State.Members.Select(m => m.Account).Where(a => !a.Equals(request.Account)), setups);
            if (approve)
            {
                SendWelcome(tx, r, request.Account, setups);
            }
        }, cancellationToken);
        await SyncRoomAsync(id, cancellationToken);
        return info;
    }

    private async Task<GroupInfo> MemberChangeAsync(string room, string who, Func<GroupMember, MembershipChange> change, bool includeTarget, CancellationToken cancellationToken)
    {
        var id = await FindRoomIdAsync(room, cancellationToken);
        var target = await WithRoomAsync(id, (_, r) => FindPerson(r.Log.State.Members.Select(m => (m.Account, m.DisplayName)), who, "a member"), cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await PreparePeersAsync(members, cancellationToken);
        var info = await ChangeRoomAsync(id, (tx, r) =>
        {
            RequireAdmin(r);
            var member = r.Log.State.Member(target.Account) ?? throw new ChatException($"{target.DisplayName} is not a member");
            // The removed member is told too, so its client knows it is out.
            var recipients = r.Log.State.Members.Select(m => m.Account).ToList();
            var entry = Append(r, change(member));
            Broadcast(tx, r, [entry], includeTarget ? recipients : recipients.Where(a => r.Log.State.IsMember(a)), setups);
        }, cancellationToken);
        await SyncRoomAsync(id, cancellationToken);
        return info;
    }

    private async Task<GroupInfo> AdminChangeAsync(string room, MembershipChange change, CancellationToken cancellationToken)
    {
        var id = await FindRoomIdAsync(room, cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await PreparePeersAsync(members, cancellationToken);
        return await ChangeRoomAsync(id, (tx, r) =>
        {
            RequireAdmin(r);
            var entry = Append(r, change);
            Broadcast(tx, r, [entry], r.Log.State.Members.Select(m => m.Account), setups);
        }, cancellationToken);
    }

    /// <summary>Runs a change of one room under the lock and in one transaction; on failure the room is reloaded from the store next time.</summary>
    private async Task<GroupInfo> ChangeRoomAsync(Id256 id, Action<IChatTransaction, Room> change, CancellationToken cancellationToken)
    {
        var info = await TransactRoomAsync(id, tx =>
        {
            var room = GetRoom(tx, id) ?? throw new ChatException("no such room");
            change(tx, room);
            SaveRoom(tx, room, []);
            return Info(room);
        }, cancellationToken);
        Raise(GroupChanged, new GroupEventArgs(info));
        WakeOutbox();
        return info;
    }

    /// <summary>
    /// A write to room <paramref name="id"/> under the rooms' lock, in one transaction. The transaction may have changed
    /// the room held in memory; if it fails, that copy is dropped and the room is read again from the store next time.
    /// </summary>
    private async Task<T> TransactRoomAsync<T>(Id256 id, Func<IChatTransaction, T> write, CancellationToken cancellationToken)
    {
        await _roomsGate.WaitAsync(cancellationToken);
        try
        {
            return await _store.TransactAsync(write, cancellationToken);
        }
        catch
        {
            _rooms.Remove(id);
            throw;
        }
        finally
        {
            _roomsGate.Release();
        }
    }

    private async Task<T> WithRoomAsync<T>(Id256 id, Func<IChatReader, Room, T> read, CancellationToken cancellationToken)
    {
        await _roomsGate.WaitAsync(cancellationToken);
        try
        {
            return await _store.ReadAsync(r => read(r, GetRoom(r, id) ?? throw new ChatException("no such room")), cancellationToken);
        }
        finally
        {
            _roomsGate.Release();
        }
    }

    private async Task<T> WithRoomAsync<T>(string room, Func<IChatReader, Room, T> read, CancellationToken cancellationToken) =>
        await WithRoomAsync(await FindRoomIdAsync(room, cancellationToken), read, cancellationToken);

    private async Task<Id256> FindRoomIdAsync(string room, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(room);
        room = room.Trim();
        if (room.StartsWith(GroupInviteLink.Prefix, StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                return GroupInviteLink.Parse(room).GroupId;
            }
            catch (FormatException e)
            {
                throw new ChatException($"not a room link: {e.Message}", e);
            }
        }
        var rooms = await GetGroupsAsync(cancellationToken);
        var matches = rooms.Where(r => r.IdText.StartsWith(room, StringComparison.OrdinalIgnoreCase) && room.Length >= 6).ToList();
        if (matches.Count == 0)
        {
            matches = rooms.Where(r => string.Equals(r.Name, room, StringComparison.OrdinalIgnoreCase) && r.Status is not (GroupStatus.Left or GroupStatus.Removed)).ToList();
        }
        return matches.Count switch
        {
            1 => matches[0].Id,
            0 => throw new ChatException($"you are in no room called {room}"),
            _ => throw new ChatException($"several of your rooms are called {room}; use its id: {string.Join(", ", matches.Select(m => m.IdText[..10]))}"),
        };
    }

    /// <summary>The room's members other than us, for preparing keys before a change.</summary>
    private Task<List<(PublicKey Account, string DisplayName)>> MembersAsync(Id256 id, CancellationToken cancellationToken) =>
        WithRoomAsync(id, (_, r) => !r.HasLog ? [] : r.Log.State.Members.Where(m => !m.Account.Equals(Account.PublicKey)).Select(m => (m.Account, m.DisplayName)).ToList(), cancellationToken);

    /// <summary>Someone to invite: a contact, or a single match in the directory.</summary>
    private async Task<(PublicKey Account, string Display)> ResolvePersonAsync(string who, CancellationToken cancellationToken)
    {
        if (await _store.ReadAsync(r => FindContact(r, who), cancellationToken) is { } contact)
        {
            return (contact.AccountKey, contact.Handle.ToString());
        }
        var matches = await FindAsync(who, cancellationToken);
        return matches.Count switch
        {
            1 => (matches[0].Account, matches[0].Handle.ToString()),
            0 => throw new ChatException($"nobody called {who} was found"),
            _ => throw new ChatException($"several users are called {who}: {string.Join(", ", matches.Select(m => m.Handle))}; say which"),
        };
    }

    private static (PublicKey Account, string DisplayName) FindPerson(IEnumerable<(PublicKey Account, string DisplayName)> people, string who, string what)
    {
        var list = people.ToList();
        var matches = list.Where(p => string.Equals(GroupMemberInfo.Of(p.DisplayName, p.Account, false).Handle.ToString(), who.Trim(), StringComparison.OrdinalIgnoreCase) || p.Account.ToPeerId().ToString() == who.Trim()).ToList();
        if (matches.Count == 0)
        {
            matches = list.Where(p => string.Equals(GroupMemberInfo.Of(p.DisplayName, p.Account, false).Handle.Name, who.Trim(), StringComparison.OrdinalIgnoreCase)).ToList();
        }
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new ChatException($"nobody {what} matches {who}"),
            _ => throw new ChatException($"several people {what} are called {who}; give the handle"),
        };
    }

    /// <summary>
    /// Makes sure every account we are about to write to is a contact (a room peer if it was not one) and, unless
    /// <paramref name="sessions"/> is false, that a pairwise session can be started: the network part, done before
    /// any transaction. Accounts that cannot be reached (no keys in the directory) are left out with a warning.
    /// </summary>
    private async Task<Dictionary<PeerId, SessionSetup?>> PreparePeersAsync(IEnumerable<(PublicKey Account, string DisplayName)> peers, CancellationToken cancellationToken, bool sessions = true)
    {
        var setups = new Dictionary<PeerId, SessionSetup?>();
        var added = false;
        var others = peers.DistinctBy(p => p.Account).Where(p => !p.Account.Equals(Account.PublicKey)).ToList();
        // One read finds who is ready: in a large room nearly everyone is, and this runs after every change.
        var known = await _store.ReadAsync(
            r => others.Select(p => r.GetContact(p.Account.ToPeerId())).Select(c => (Contact: c, Ready: c is not null && (!sessions || r.HasSession(c.Account)))).ToList(),
            cancellationToken);
        for (var i = 0; i < others.Count; i++)
        {
            var (account, display) = others[i];
            var (contact, ready) = known[i];
            if (ready)
            {
                setups[contact!.Account] = null;
                continue;
            }
            try
            {
                if (contact is null)
                {
                    var bundle = await _directory.GetPrekeysAsync(account.ToPeerId(), cancellationToken)
                        ?? throw new ChatException($"{display} has no keys in the directory");
                    var peer = new ContactRecord(account.ToPeerId(), account, bundle.Identity.DhKey, GroupMemberInfo.Of(display, account, false).Handle.Name, ContactState.GroupPeer, null, RandomBytes(MailboxTokenLength), _time.GetUtcNow());
                    contact = await _store.TransactAsync(tx => tx.GetContact(peer.Account) ?? Put(tx, peer), cancellationToken);
                    added = true;
                }
                setups[contact.Account] = sessions ? await PrepareSessionAsync(contact, cancellationToken) : null;
            }
            catch (Exception e) when (e is ChatException or IOException)
            {
                _logger.LogWarning("cannot reach room member {Member}: {Reason}", display, e.Message);
            }
        }
        if (added)
        {
            await PublishMailboxPolicyAsync(cancellationToken);
        }
        return setups;

        static ContactRecord Put(IChatTransaction tx, ContactRecord contact)
        {
            tx.PutContact(contact);
            return contact;
        }
    }

    /// <summary>
    /// After a room changed: sends our sender key to members who lack it (a new chain after every removal), reads
    /// ciphertexts that were waiting for a chain, and offers history to members we let in.
    /// </summary>
    private async Task SyncRoomAsync(Id256 id, CancellationToken cancellationToken)
    {
        var members = await MembersAsync(id, cancellationToken);
        var setups = await PreparePeersAsync(members, cancellationToken);
        var events = new List<Action>();
        var retry = false;
        await TransactRoomAsync(id, tx =>
        {
            var room = GetRoom(tx, id);
            if (room is not { HasLog: true })
            {
                return false;
            }
            retry = !DistributeKeys(tx, room, setups);
            ReadPending(tx, room, events);
            OfferHistory(tx, room, setups);
            SaveRoom(tx, room, []);
            return true;
        }, cancellationToken);
        foreach (var raise in events)
        {
            raise();
        }
        if (retry)
        {
            ScheduleRoomSync([id]);
        }
        WakeOutbox();
    }

    /// <summary>
    /// Brings our sender keys in line with the room (a new chain after a removal) and queues our chain for every member
    /// that lacks it, at the iteration of the next message we send; false when some member could not be reached yet
    /// (no pairwise session: the next sync tries again).
    /// </summary>
    private bool DistributeKeys(IChatTransaction tx, Room room, Dictionary<PeerId, SessionSetup?>? setups)
    {
        var update = room.Session.Update(room.Log.State);
        foreach (var chain in update.Installed)
        {
            room.Timeline.ExpectChain(chain);
        }
        var complete = true;
        foreach (var outgoing in update.Outgoing)
        {
            if (!SendControl(tx, room.Id, outgoing.Recipient, new GroupControl { Distribution = ByteString.CopyFrom(outgoing.Payload) }, setups))
            {
                room.Session.DistributionNotSent(outgoing.Recipient);
                complete = false;
            }
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(outgoing.Payload);
        }
        return complete;
    }

    private async Task RaiseGroupMessageChangedAsync(List<GroupMessageRecord> messages, CancellationToken cancellationToken)
    {
        if (messages.Count == 0 || GroupMessageChanged is null)
        {
            return;
        }
        foreach (var group in messages.GroupBy(m => Id256.FromBytes(m.GroupId)))
        {
            var info = await WithRoomAsync(group.Key, (_, r) => Info(r), cancellationToken);
            foreach (var message in group)
            {
                Raise(GroupMessageChanged, new GroupMessageEventArgs(message, info));
            }
        }
    }

    /// <summary>Rooms whose change (an entry, a welcome, a sender key) needs network work: done by the next outbox pass.</summary>
    private void ScheduleRoomSync(IEnumerable<Id256> rooms)
    {
        foreach (var room in rooms)
        {
            _roomsToSync.TryAdd(room, 0);
        }
        WakeOutbox();
    }

    private async Task SyncScheduledRoomsAsync(CancellationToken cancellationToken)
    {
        foreach (var room in _roomsToSync.Keys)
        {
            if (!_roomsToSync.TryRemove(room, out _))
            {
                continue;
            }
            try
            {
                await SyncRoomAsync(room, cancellationToken);
            }
            catch (Exception e) when (e is ChatException or IOException or InvalidOperationException)
            {
                _logger.LogWarning("room sync failed; retried on the next change: {Reason}", e.Message);
            }
        }
    }

    /// <summary>Handles a room control message from <paramref name="sender"/> inside the receive transaction; rooms that need a sync afterwards go in <paramref name="followUps"/>.</summary>
    private void ApplyGroupControl(IChatTransaction tx, GroupControl control, ContactRecord sender, DateTimeOffset now, List<Action> events, HashSet<Id256> followUps)
    {
        if (control.MailboxToken.Length == MailboxTokenLength && !control.MailboxToken.Span.SequenceEqual(sender.TheirMailboxToken))
        {
            tx.PutContact(sender with { TheirMailboxToken = control.MailboxToken.ToByteArray() });
        }
        Id256 id;
        try
        {
            id = Id256.FromBytes(control.GroupId.Span);
        }
        catch (FormatException)
        {
            throw new RefusedException("room control without a room id");
        }
        var room = GetRoom(tx, id);
        switch (control.KindCase)
        {
            case GroupControl.KindOneofCase.Welcome:
                room = Welcome(tx, id, room, control.Welcome);
                if (room is not null)
                {
                    followUps.Add(id);
                    var info = Info(room);
                    events.Add(() => Raise(GroupChanged, new GroupEventArgs(info)));
                }
                break;
            case GroupControl.KindOneofCase.Entries when room is { HasLog: true }:
                var accepted = AddEntries(tx, room, control.Entries.Entries);
                if (accepted.Count > 0)
                {
                    // Admins pass on what they learn: an author only knows the members it knew, and a member who
                    // joined meanwhile would otherwise never hear of the entry.
                    if (room.Log.State.IsAdmin(Account.PublicKey))
                    {
                        Broadcast(tx, room, accepted, room.Log.State.Members.Select(m => m.Account).Where(a => !a.Equals(sender.AccountKey)), null);
                        // Someone who just came in knows the log only as its welcome had it: joins that crossed
                        // theirs never reached them. They get the whole log once.
                        foreach (var newcomer in accepted.Select(NewMember).OfType<PublicKey>().Where(a => !a.Equals(Account.PublicKey) && room.Log.State.IsMember(a)).Distinct())
                        {
                            Broadcast(tx, room, room.Log.Entries.Select(e => e.Entry), [newcomer], null);
                        }
                    }
                    followUps.Add(id);
                    var info = Info(room);
                    events.Add(() => Raise(GroupChanged, new GroupEventArgs(info)));
                }
                if (room.Log.MissingParents.Count > 0)
                {
                    var missing = new GroupEntryIds();
                    missing.Ids.AddRange(room.Log.MissingParents.Take(MembershipEntry.MaxParents).Select(p => ByteString.CopyFrom(p.Span)));
                    SendControl(tx, id, sender.AccountKey, new GroupControl { EntriesRequest = missing }, null);
                }
                break;
            case GroupControl.KindOneofCase.EntriesRequest when room is { HasLog: true } && room.Log.State.IsMember(sender.AccountKey):
                var found = new GroupEntries();
                foreach (var wanted in control.EntriesRequest.Ids.Take(MembershipEntry.MaxParents))
                {
                    if (wanted.Length == Id256.Size && room.Log.Find(Id256.FromBytes(wanted.Span)) is { } entry)
                    {
                        found.Entries.Add(ByteString.CopyFrom(entry.ToBytes()));
                    }
                }
                if (found.Entries.Count > 0)
                {
                    SendControl(tx, id, sender.AccountKey, new GroupControl { Entries = found }, null);
                }
                break;
            case GroupControl.KindOneofCase.Distribution when room is { HasLog: false }:
                if (room.EarlyDistributions.Count < GroupSession.MaxHeldDistributions)
                {
                    room.EarlyDistributions.Add((sender, control.Distribution));
                }
                break;
            case GroupControl.KindOneofCase.Distribution when room is not null:
                try
                {
                    var result = room.Session.ReceiveDistribution(sender.AccountKey, control.Distribution.Span, room.Log.State);
                    if (result.Chain is { } chain)
                    {
                        room.Timeline.ExpectChain(chain);
                    }
                    // Messages that waited for this chain are read now; a new chain changes nothing else, so no
                    // room sync (which visits every member) follows it.
                    ReadPending(tx, room, events);
                    SaveRoom(tx, room, []);
                }
                catch (GroupMessageException e)
                {
                    _logger.LogInformation("sender key from {Sender} for {Room} refused: {Reason}", sender.Handle, room.Log.State.Name, e.Message);
                }
                break;
            case GroupControl.KindOneofCase.HeadsRequest when room is { HasLog: true } && room.Log.State.IsAdmin(Account.PublicKey):
                var heads = new GroupHeads { NextLamport = room.Log.NextLamport };
                heads.Heads.AddRange(room.Log.NextParents.Select(h => ByteString.CopyFrom(h.Span)));
                SendControl(tx, id, sender.AccountKey, new GroupControl { Heads = heads }, null);
                break;
            case GroupControl.KindOneofCase.Heads when room is { Record.Status: GroupStatus.Requested }:
                SignRequest(tx, room, sender, control.Heads, now);
                break;
            case GroupControl.KindOneofCase.Request when room is { HasLog: true } && room.Log.State.IsAdmin(Account.PublicKey):
                var added = room.Log.Add(control.Request.Span);
                if (added.Status == AddStatus.Accepted)
                {
                    SaveRoom(tx, room, added.Accepted);
                    // Other admins see the request too, so any of them can answer it.
                    Broadcast(tx, room, added.Accepted, room.Log.State.Admins, null);
                    var info = Info(room);
                    events.Add(() => Raise(GroupChanged, new GroupEventArgs(info)));
                }
                else
                {
                    _logger.LogInformation("join request for {Room} refused: {Result}", room.Log.State.Name, added);
                }
                break;
            case GroupControl.KindOneofCase.History when room is { HasLog: true }:
                MergeHistory(tx, room, control.History.Span, now, events);
                break;
            case GroupControl.KindOneofCase.Fetch when room is { HasLog: true } && room.Log.State.IsMember(sender.AccountKey):
                AnswerFetch(tx, room, sender, control.Fetch);
                break;
            case GroupControl.KindOneofCase.Messages when room is { HasLog: true }:
                foreach (var ciphertext in control.Messages.Ciphertexts.Take(256))
                {
                    try
                    {
                        ReadGroupMessage(tx, room, ciphertext.ToByteArray(), now, events, keepIfUnreadable: false);
                    }
                    catch (RefusedException e)
                    {
                        _logger.LogInformation("a fetched room message from {Sender} refused: {Reason}", sender.Handle, e.Message);
                    }
                }
                SaveRoom(tx, room, []);
                break;
            default:
                _logger.LogDebug("ignoring room control {Kind} from {Sender}", control.KindCase, sender.Handle);
                break;
        }
    }

    /// <summary>A room message that arrived in an envelope of its own: read it now or keep it until its chain arrives.</summary>
    private async Task<ReceiveOutcome> ReceiveGroupEnvelopeAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        if (envelope.EnvelopeId.Length != EnvelopeIdLength)
        {
            return Refuse(envelope, "envelope id is not 16 bytes");
        }
        GroupCiphertext parsed;
        try
        {
            parsed = GroupCiphertext.Parse(envelope.GroupMessage.Span);
        }
        catch (FormatException e)
        {
            return Refuse(envelope, $"malformed room message: {e.Message}");
        }
        var now = _time.GetUtcNow();
        var events = new List<Action>();
        ReceiveOutcome outcome;
        await _roomsGate.WaitAsync(cancellationToken);
        try
        {
            outcome = await _store.TransactAsync(tx =>
            {
                if (!tx.MarkEnvelopeSeen(envelope.EnvelopeId.ToByteArray(), now))
                {
                    return new ReceiveOutcome(ReceiveStatus.Duplicate);
                }
                if (GetRoom(tx, parsed.GroupId) is not { } room)
                {
                    throw new RefusedException("a message for a room this user is not in");
                }
                if (tx.GetContact(parsed.Sender.ToPeerId()) is { State: ContactState.Blocked })
                {
                    return new ReceiveOutcome(ReceiveStatus.Dropped);
                }
                ReadGroupMessage(tx, room, envelope.GroupMessage.ToByteArray(), now, events, keepIfUnreadable: true);
                SaveRoom(tx, room, []);
                return new ReceiveOutcome(ReceiveStatus.Accepted);
            }, cancellationToken);
        }
        catch (RefusedException e)
        {
            _rooms.Remove(parsed.GroupId);
            return Refuse(envelope, e.Message);
        }
        finally
        {
            _roomsGate.Release();
        }
        foreach (var raise in events)
        {
            raise();
        }
        WakeOutbox();
        return outcome;
    }

    /// <summary>Decrypts and stores one room message; asks its sender for messages it shows are missing.</summary>
    /// <returns>False when it cannot be read yet (its chain or its sender's entry has not arrived).</returns>
    /// <exception cref="RefusedException">It can never be read: forged, from a removed member, for another room…</exception>
    private bool ReadGroupMessage(IChatTransaction tx, Room room, byte[] ciphertext, DateTimeOffset now, List<Action> events, bool keepIfUnreadable)
    {
        if (!room.HasLog)
        {
            if (keepIfUnreadable)
            {
                tx.AddGroupPending(room.Id.Span.ToArray(), ciphertext, now, MaxPendingGroupCiphertexts);
            }
            return false;
        }
        GroupMessage message;
        try
        {
            message = room.Session.Decrypt(ciphertext, room.Log.State);
        }
        catch (GroupMessageException e) when (e.Reason is GroupMessageFailure.UnknownChain or GroupMessageFailure.NotAMember)
        {
            // Its chain or its sender's Join may still be on the way: read it when they come.
            if (keepIfUnreadable)
            {
                tx.AddGroupPending(room.Id.Span.ToArray(), ciphertext, now, MaxPendingGroupCiphertexts);
            }
            return false;
        }
        catch (GroupMessageException e) when (e.Reason == GroupMessageFailure.Replayed)
        {
            return true;
        }
        catch (GroupMessageException e)
        {
            throw new RefusedException($"room message refused: {e.Message}");
        }
        if (!room.Timeline.Add(message))
        {
            return true;
        }
        var record = Record(message, ciphertext, outgoing: false, 0, unread: true, fromHistory: false, now);
        if (tx.InsertGroupMessage(record))
        {
            var info = Info(room);
            events.Add(() => Raise(GroupMessageReceived, new GroupMessageEventArgs(record, info)));
        }
        RequestMissing(tx, room, message.Sender);
        return true;
    }

    private void ReadPending(IChatTransaction tx, Room room, List<Action> events)
    {
        foreach (var (pendingId, ciphertext) in tx.GetGroupPending(room.Id.Span.ToArray()))
        {
            bool done;
            try
            {
                done = ReadGroupMessage(tx, room, ciphertext, _time.GetUtcNow(), events, keepIfUnreadable: false);
            }
            catch (RefusedException e)
            {
                _logger.LogInformation("dropping a waiting room message: {Reason}", e.Message);
                done = true;
            }
            if (done)
            {
                tx.DeleteGroupPending(pendingId);
            }
        }
    }

    /// <summary>Asks a sender for the messages of its chain that this member misses (once per gap).</summary>
    private void RequestMissing(IChatTransaction tx, Room room, PublicKey sender)
    {
        if (sender.Equals(Account.PublicKey))
        {
            return;
        }
        var fetch = new GroupFetch();
        foreach (var gap in room.Timeline.Gaps.Where(g => g.Sender.Equals(sender)))
        {
            if (_requestedGaps.Add((room.Id, gap.Sender, gap.Epoch, gap.ChainId, gap.FirstIteration)))
            {
                fetch.Gaps.Add(new GroupGap
                {
                    Sender = ByteString.CopyFrom(gap.Sender.ToProtobuf()),
                    Epoch = ByteString.CopyFrom(gap.Epoch.Span),
                    ChainId = gap.ChainId,
                    FirstIteration = gap.FirstIteration,
                    LastIteration = gap.LastIteration,
                });
            }
        }
        if (fetch.Gaps.Count > 0)
        {
            SendControl(tx, room.Id, sender, new GroupControl { Fetch = fetch }, null);
        }
    }

    private void AnswerFetch(IChatTransaction tx, Room room, ContactRecord asker, GroupFetch fetch)
    {
        var answer = new GroupMessages();
        foreach (var gap in fetch.Gaps.Take(16))
        {
            try
            {
                var sender = PublicKey.FromProtobuf(gap.Sender.Span);
                answer.Ciphertexts.AddRange(tx.GetGroupMessagesOfChain(room.Id.Span.ToArray(), sender, gap.Epoch.ToByteArray(), gap.ChainId, gap.FirstIteration, gap.LastIteration)
                    .Where(m => m.Ciphertext is not null)
                    .Select(m => ByteString.CopyFrom(m.Ciphertext)));
            }
            catch (FormatException)
            {
                // A malformed gap asks for nothing.
            }
        }
        if (answer.Ciphertexts.Count > 0)
        {
            SendControl(tx, room.Id, asker.AccountKey, new GroupControl { Messages = answer }, null);
        }
    }

    private void MergeHistory(IChatTransaction tx, Room room, ReadOnlySpan<byte> bytes, DateTimeOffset now, List<Action> events)
    {
        HistoryBundle bundle;
        try
        {
            bundle = HistoryBundle.Parse(bytes, room.Id, _crypto);
        }
        catch (FormatException e)
        {
            _logger.LogInformation("history offer for {Room} refused: {Reason}", room.Log.State.Name, e.Message);
            return;
        }
        var info = Info(room);
        foreach (var message in bundle.Messages)
        {
            if (room.Timeline.Add(message, fromHistory: true))
            {
                var record = Record(message, null, message.Sender.Equals(Account.PublicKey), 0, unread: false, fromHistory: true, now);
                if (tx.InsertGroupMessage(record))
                {
                    events.Add(() => Raise(GroupMessageReceived, new GroupMessageEventArgs(record, info)));
                }
            }
        }
    }

    /// <summary>Members we let in get the room's past messages, when the room keeps history.</summary>
    private void OfferHistory(IChatTransaction tx, Room room, Dictionary<PeerId, SessionSetup?> setups)
    {
        var state = room.Log.State;
        if (!state.HistoryEnabled || room.Timeline.Count == 0)
        {
            return;
        }
        foreach (var member in state.Members.Where(m => m.AddedByAccount.Equals(Account.PublicKey) && !m.Account.Equals(Account.PublicKey)))
        {
            var setting = $"history-offered/{room.IdText}/{member.Account.ToPeerId()}";
            if (tx.GetSetting(setting) is not null)
            {
                continue;
            }
            foreach (var bundle in HistoryBundle.Offer(state, room.Timeline.Messages))
            {
                SendControl(tx, room.Id, member.Account, new GroupControl { History = ByteString.CopyFrom(bundle) }, setups);
            }
            tx.PutSetting(setting, [1]);
        }
    }

    private Room? Welcome(IChatTransaction tx, Id256 id, Room? room, GroupWelcome welcome)
    {
        if (room is { Record.Status: GroupStatus.Member })
        {
            return AddEntries(tx, room, welcome.Entries).Count > 0 ? room : null;
        }
        if (welcome.LinkKey.Length == 0 || welcome.Entries.Count == 0)
        {
            return null;
        }
        var log = new MembershipLog(_crypto, id, welcome.LinkKey.Span);
        var accepted = new List<MembershipEntry>();
        foreach (var bytes in welcome.Entries.Take(MembershipLog.MaxPendingEntries))
        {
            var result = log.Add(bytes.Span);
            accepted.AddRange(result.Accepted);
        }
        var state = log.State;
        var status = state.IsMember(Account.PublicKey) ? GroupStatus.Member
            : state.Invitations.Any(i => i.Account.Equals(Account.PublicKey)) ? GroupStatus.Invited
            : (GroupStatus?)null;
        if (status is null)
        {
            _logger.LogInformation("ignoring a welcome to {Room} that neither invites nor admits us", state.Name);
            return null;
        }
        var adminHandle = string.IsNullOrEmpty(welcome.AdminHandle) ? room?.Record.AdminHandle ?? "" : welcome.AdminHandle;
        var fresh = new Room(
            new GroupRecord(id.Span.ToArray(), welcome.LinkKey.ToByteArray(), adminHandle, status.Value, null, _time.GetUtcNow()),
            log,
            room?.Session ?? new GroupSession(_crypto, Account.PublicKey, id),
            room?.Timeline ?? new GroupTimeline(id));
        _rooms[id] = fresh;
        foreach (var (from, distribution) in room?.EarlyDistributions ?? [])
        {
            try
            {
                if (fresh.Session.ReceiveDistribution(from.AccountKey, distribution.Span, state).Chain is { } chain)
                {
                    fresh.Timeline.ExpectChain(chain);
                }
            }
            catch (GroupMessageException e)
            {
                _logger.LogInformation("an early sender key from {Sender} refused: {Reason}", from.Handle, e.Message);
            }
        }
        SaveRoom(tx, fresh, accepted);
        return fresh;
    }

    /// <summary>Adds entries to the room's log and returns those newly accepted. Our own status follows the log (removed, left).</summary>
    private List<MembershipEntry> AddEntries(IChatTransaction tx, Room room, IEnumerable<ByteString> entries)
    {
        var changed = new List<MembershipEntry>();
        foreach (var bytes in entries.Take(MembershipLog.MaxPendingEntries))
        {
            var result = room.Log.Add(bytes.Span);
            switch (result.Status)
            {
                case AddStatus.Accepted:
                    StoreEntries(tx, room, result.Accepted);
                    changed.AddRange(result.Accepted);
                    break;
                case AddStatus.Pending:
                    // Kept so a restart still has it; its parents may come in a later message.
                    var pending = MembershipEntry.Parse(bytes.Span, _crypto);
                    tx.AddGroupEntry(room.Id.Span.ToArray(), pending.Id.Span.ToArray(), pending.ToBytes());
                    break;
                case AddStatus.Rejected:
                    _logger.LogInformation("membership entry for {Room} refused: {Result}", room.Log.State.Name, result);
                    break;
            }
        }
        var state = room.Log.State;
        if (room.Record.Status == GroupStatus.Member && !state.IsMember(Account.PublicKey) && state.Departures.ContainsKey(Account.PublicKey))
        {
            room.Record = room.Record with { Status = GroupStatus.Removed };
        }
        else if (room.Record.Status == GroupStatus.Invited && state.IsMember(Account.PublicKey))
        {
            room.Record = room.Record with { Status = GroupStatus.Member };
        }
        return changed;
    }

    private void SignRequest(IChatTransaction tx, Room room, ContactRecord admin, GroupHeads heads, DateTimeOffset now)
    {
        try
        {
            var link = new GroupInviteLink(room.Id, room.Record.LinkKey, room.Record.AdminHandle);
            var entry = MembershipEntry.SignRequest(_crypto, Account.SigningKey, link, Handle.ToString(), heads.Heads.Select(h => Id256.FromBytes(h.Span)).ToList(), heads.NextLamport, now.ToUnixTimeMilliseconds());
            SendControl(tx, room.Id, admin.AccountKey, new GroupControl { Request = ByteString.CopyFrom(entry.ToBytes()) }, null);
        }
        catch (Exception e) when (e is FormatException or MembershipException)
        {
            _logger.LogInformation("cannot sign a join request for a room: {Reason}", e.Message);
        }
    }

    /// <summary>The account an entry lets in, if it does.</summary>
    private static PublicKey? NewMember(MembershipEntry entry) => entry.Kind switch
    {
        MembershipKind.Join => entry.Author,
        MembershipKind.Approve => entry.Target,
        _ => null,
    };

    private MembershipEntry Append(Room room, MembershipChange change)
    {
        try
        {
            var entry = room.Log.Append(Account.SigningKey, change, _time.GetUtcNow().ToUnixTimeMilliseconds());
            room.PendingEntries.Add(entry);
            return entry;
        }
        catch (MembershipException e)
        {
            throw new ChatException(e.Message, e);
        }
    }

    private void RequireAdmin(Room room)
    {
        if (!room.HasLog || !room.Log.State.IsAdmin(Account.PublicKey))
        {
            if (!room.HasLog)
            {
                throw new ChatException("you are waiting to be let into that room");
            }
            throw new ChatException($"only an admin of {room.Log.State.Name} can do that");
        }
    }

    private void SendWelcome(IChatTransaction tx, Room room, PublicKey to, Dictionary<PeerId, SessionSetup?>? setups)
    {
        var welcome = new GroupWelcome { LinkKey = ByteString.CopyFrom(room.Log.LinkKey), AdminHandle = Handle.ToString() };
        welcome.Entries.AddRange(room.Log.Entries.Select(e => ByteString.CopyFrom(e.Entry.ToBytes())));
        SendControl(tx, room.Id, to, new GroupControl { Welcome = welcome }, setups);
    }

    private void Broadcast(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> entries, IEnumerable<PublicKey> recipients, Dictionary<PeerId, SessionSetup?>? setups)
    {
        var control = new GroupEntries();
        control.Entries.AddRange(entries.Select(e => ByteString.CopyFrom(e.ToBytes())));
        foreach (var recipient in recipients.Where(r => !r.Equals(Account.PublicKey)).Distinct())
        {
            SendControl(tx, room.Id, recipient, new GroupControl { Entries = control.Clone() }, setups);
        }
    }

    /// <summary>Encrypts a room control on the pairwise session with <paramref name="to"/> and queues it; false (and logged) when there is no way to reach them yet.</summary>
    private bool SendControl(IChatTransaction tx, Id256 room, PublicKey to, GroupControl control, Dictionary<PeerId, SessionSetup?>? setups)
    {
        var contact = tx.GetContact(to.ToPeerId());
        var setup = setups?.GetValueOrDefault(to.ToPeerId());
        if (contact is null || contact.State == ContactState.Blocked || (setup is null && !tx.HasSession(contact.Account)))
        {
            _logger.LogInformation("cannot send room control {Kind} to {Account} yet: no session", control.KindCase, to.ToPeerId());
            return false;
        }
        control.GroupId = ByteString.CopyFrom(room.Span);
        if (contact.OurMailboxToken is { } token)
        {
            control.MailboxToken = ByteString.CopyFrom(token);
        }
        Queue(tx, contact, new Content { Group = control }, null, setup);
        return true;
    }

    private void QueueGroupEnvelope(IChatTransaction tx, ContactRecord contact, byte[] ciphertext, byte[] messageId)
    {
        var now = _time.GetUtcNow();
        var envelope = new Envelope { EnvelopeId = ByteString.CopyFrom(RandomBytes(EnvelopeIdLength)), GroupMessage = ByteString.CopyFrom(ciphertext) };
        tx.PutOutbox(new OutboxItem(envelope.EnvelopeId.ToByteArray(), contact.Account, messageId, envelope.ToByteArray(), OutboxStage.Sending, 0, now, now));
    }

    /// <summary>The room, loaded from the store on first use: the log rebuilt (and so checked again) from its entries, the session and the timeline.</summary>
    private Room? GetRoom(IChatReader reader, Id256 id)
    {
        if (_rooms.TryGetValue(id, out var cached))
        {
            return cached;
        }
        var record = reader.GetGroup(id.Span.ToArray());
        if (record is null)
        {
            return null;
        }
        var log = new MembershipLog(_crypto, id, record.LinkKey);
        foreach (var entry in reader.GetGroupEntries(record.Id))
        {
            log.Add(entry);
        }
        var session = record.Session is { } state ? GroupSession.Deserialize(_crypto, state) : new GroupSession(_crypto, Account.PublicKey, id);
        var timeline = new GroupTimeline(id);
        foreach (var stored in reader.GetGroupMessages(record.Id, MaxGroupPage))
        {
            var body = GroupMessageBody.Parser.ParseFrom(stored.Body);
            timeline.Add(GroupMessage.Create(_crypto, id, Id256.FromBytes(stored.Epoch), stored.Sender, stored.ChainId, stored.Iteration, body), stored.FromHistory);
        }
        var room = new Room(record, log, session, timeline);
        _rooms[id] = room;
        return room;
    }

    private static void SaveRoom(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> newEntries)
    {
        StoreEntries(tx, room, newEntries.Concat(room.PendingEntries));
        room.PendingEntries.Clear();
        room.Record = room.Record with { Session = room.Session.Serialize() };
        tx.PutGroup(room.Record);
    }

    private static void StoreEntries(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> entries)
    {
        foreach (var entry in entries)
        {
            tx.AddGroupEntry(room.Id.Span.ToArray(), entry.Id.Span.ToArray(), entry.ToBytes());
        }
    }

    private static GroupMessageRecord Record(GroupMessage message, byte[]? ciphertext, bool outgoing, int recipients, bool unread, bool fromHistory, DateTimeOffset now) => new(
        message.Id.Span.ToArray(),
        message.GroupId.Span.ToArray(),
        message.Sender,
        message.Epoch.Span.ToArray(),
        message.ChainId,
        message.Iteration,
        message.Lamport,
        message.ToBody().ToByteArray(),
        ciphertext,
        message.Text,
        DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(message.TimestampMs, 0, 253_402_300_799_999)),
        now,
        outgoing,
        recipients,
        0,
        0,
        unread,
        fromHistory);

    private GroupInfo Info(Room room)
    {
        // Every message event carries the room's info; it changes only with the log or our status.
        if (room.CachedInfo is { } cached && cached.LogCount == room.Log.Count && cached.Info.Status == room.Record.Status)
        {
            return cached.Info;
        }
        var info = BuildInfo(room);
        room.CachedInfo = (room.Log.Count, info);
        return info;
    }

    private GroupInfo BuildInfo(Room room)
    {
        if (!room.HasLog)
        {
            return new GroupInfo(room.Id, "(waiting for an admin)", room.Record.Status, false, false, 0, [], [], [], [], null);
        }
        var state = room.Log.State;
        var isAdmin = state.IsAdmin(Account.PublicKey);
        return new GroupInfo(
            room.Id,
            state.Name,
            room.Record.Status,
            isAdmin,
            state.HistoryEnabled,
            state.Epoch.Number,
            state.Members.Select(m => GroupMemberInfo.Of(m.DisplayName, m.Account, m.IsAdmin)).ToList(),
            state.Requests.Select(r => GroupMemberInfo.Of(r.DisplayName, r.Account, false)).ToList(),
            state.Invitations.Select(i => GroupMemberInfo.Of(i.DisplayName, i.Account, false)).ToList(),
            state.Audit.Select(a => a.Describe()).ToList(),
            isAdmin ? room.Log.InviteLink(Handle.ToString()).Format() : null);
    }

    private sealed class Room(GroupRecord record, MembershipLog log, GroupSession session, GroupTimeline timeline)
    {
        public GroupRecord Record { get; set; } = record;

        public MembershipLog Log { get; } = log;

        public GroupSession Session { get; } = session;

        public GroupTimeline Timeline { get; } = timeline;

        /// <summary>Entries this member appended that the next save stores.</summary>
        public List<MembershipEntry> PendingEntries { get; } = [];

        public Id256 Id => Log.GroupId;

        /// <summary>False for a room we asked to join and have not been let into yet: no entries, so no state.</summary>
        public bool HasLog => Log.Count > 0;

        /// <summary>Sender keys that came before the welcome that lets us read them; handled once it arrives.</summary>
        public List<(ContactRecord From, ByteString Distribution)> EarlyDistributions { get; } = [];

        public string IdText => Base32.Encode(Id.Span);

        public (int LogCount, GroupInfo Info)? CachedInfo { get; set; }
    }
}
