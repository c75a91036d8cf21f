using System.Collections.Concurrent;
using Parley.Chat.Actions;
using Parley.Chat.Contacts;
using Parley.Chat.Delivery;
using Parley.Chat.Groups;
using Parley.Chat.Groups.Protos;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Rooms.Controls;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms;

/// <summary>
/// Rooms (docs/groups.md section 6): what the user does with them (create, invite, join, approve, remove, leave, send),
/// each change saved in the same transaction as what it queues, and the syncs that follow a change (sender keys to
/// members who lack them, messages that waited, history for members we let in). Membership entries, welcomes, sender
/// keys and history travel as room controls over the pairwise sessions (handled by <see cref="RoomControls"/>); a room
/// message travels as one ciphertext, a copy per member through the outbox.
/// </summary>
internal sealed class RoomEngine(
    ChatContext context,
    RoomCache rooms,
    RoomMembership membership,
    RoomMessenger messenger,
    RoomMessages messages,
    HistoryOffers history,
    ContactBook contacts,
    Outbox outbox,
    RoomDevices devices)
{
    private readonly ConcurrentDictionary<Id256, byte> _toSync = new();
    private long _syncs;

    private PublicKey Me => context.Account.PublicKey;

    private string MyHandle => context.Handle.ToString();

    /// <summary>Room syncs run so far, each a visit and a save of its whole room (for the rooms benchmark and tests).</summary>
    public long SyncCount => Interlocked.Read(ref _syncs);

    public async Task<GroupInfo> CreateAsync(string name, bool historyEnabled, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        var now = context.Now;
        MembershipLog log;
        try
        {
            log = MembershipLog.Create(context.Crypto, context.Account.SigningKey, MyHandle, name.Trim(), historyEnabled, now.ToUnixTimeMilliseconds());
        }
        catch (MembershipException e)
        {
            throw new ChatException($"cannot create a room called '{name}': {e.Message}", e);
        }
        var linked = false;
        var info = await rooms.TransactAsync(log.GroupId, tx =>
        {
            var session = new GroupSession(context.Crypto, Me, log.GroupId);
            session.Update(log.State);
            var room = new Room(new GroupRecord(log.GroupId.Span.ToArray(), log.LinkKey.ToArray(), MyHandle, GroupStatus.Member, null, now), log, session, new GroupTimeline(log.GroupId));
            RoomCache.Save(tx, room, log.Entries.Select(e => e.Entry));
            rooms.Put(room);
            linked = devices.Any(tx);
            return rooms.Info(room);
        }, cancellationToken);
        context.Events.OnGroupChanged(info);
        if (linked)
        {
            // Our other devices get the new room at the sync.
            ScheduleSync([log.GroupId]);
        }
        return info;
    }

    public Task<IReadOnlyList<GroupInfo>> ListAsync(CancellationToken cancellationToken) => rooms.ListAsync(cancellationToken);

    public async Task<GroupInfo> GetAsync(string room, CancellationToken cancellationToken) =>
        await rooms.ReadAsync(await FindIdAsync(room, cancellationToken), (_, r) => rooms.Info(r), cancellationToken);

    /// <summary>An admin invites someone (a contact or a handle found in the directory); they join with <see cref="JoinAsync"/>.</summary>
    public async Task<GroupInfo> InviteAsync(string room, string who, CancellationToken cancellationToken)
    {
        var (account, display) = await contacts.ResolvePersonAsync(who, cancellationToken);
        var id = await FindIdAsync(room, cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await contacts.PreparePeersAsync([.. members, (account, display)], cancellationToken);
        return await ChangeAsync(id, (tx, r) =>
        {
            RoomMembership.RequireAdmin(r, Me);
            if (r.Log.State.IsMember(account))
            {
                throw new ChatException($"{display} is already in {r.Log.State.Name}");
            }
            var entry = membership.Append(r, MembershipChange.Invite(account, display));
            messenger.Broadcast(tx, r, [entry], r.Log.State.Members.Select(m => m.Account), setups);
            messenger.SendWelcome(tx, r, account, setups);
        }, cancellationToken);
    }

    /// <summary>
    /// Joins a room: accepts an invitation to it, or with an invite link (<c>parley://join/…</c>) asks the admin the link
    /// names to let us in (admins approve or deny; a welcome follows approval).
    /// </summary>
    public async Task<GroupInfo> JoinAsync(string roomOrLink, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(roomOrLink);
        if (roomOrLink.Trim().StartsWith(GroupInviteLink.Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return await RequestToJoinAsync(roomOrLink.Trim(), cancellationToken);
        }
        var id = await FindIdAsync(roomOrLink, cancellationToken);
        var setups = await contacts.PreparePeersAsync(await KeyPeersAsync(id, cancellationToken), cancellationToken);
        var info = await ChangeAsync(id, (tx, r) =>
        {
            if (r.Record.Status == GroupStatus.Member)
            {
                return;
            }
            if (!r.HasLog)
            {
                throw new ChatException("you asked to join that room; an admin has to let you in");
            }
            if (!r.Log.State.Invitations.Any(i => i.Account.Equals(Me)))
            {
                throw new ChatException($"there is no invitation to {r.Log.State.Name} to accept");
            }
            // The admins pass our Join on to the members, and our sender key with it.
            var recipients = RoomMembership.KeyRecipients(r.Log.State, Me).ToList();
            var entry = membership.Append(r, MembershipChange.Join(MyHandle));
            r.Record = r.Record with { Status = GroupStatus.Member };
            messenger.Broadcast(tx, r, [entry], recipients, setups);
        }, cancellationToken);
        await SyncAsync(id, cancellationToken);
        return info;
    }

    /// <summary>An admin lets in (or turns away) someone who asked with an invite link.</summary>
    public async Task<GroupInfo> DecideRequestAsync(string room, string who, bool approve, CancellationToken cancellationToken)
    {
        var id = await FindIdAsync(room, cancellationToken);
        var request = await rooms.ReadAsync(id, (_, r) => FindPerson(r.Log.State.Requests.Select(q => (q.Account, q.DisplayName)), who, "asking to join"), cancellationToken);
        var members = await MembersAsync(id, cancellationToken);
        var setups = await contacts.PreparePeersAsync([.. members, request], cancellationToken);
        var info = await ChangeAsync(id, (tx, r) =>
        {
            RoomMembership.RequireAdmin(r, Me);
            var entry = membership.Append(r, approve ? MembershipChange.Approve(request.Account) : MembershipChange.Deny(request.Account));
            messenger.Broadcast(tx, r, [entry], r.Log.State.Members.Select(m => m.Account).Where(a => !a.Equals(request.Account)), setups);
            if (approve)
            {
                messenger.SendWelcome(tx, r, request.Account, setups);
            }
        }, cancellationToken);
        await SyncAsync(id, cancellationToken);
        return info;
    }

    /// <summary>An admin changes a member (remove, promote, demote); after a removal every remaining member rotates its sender key.</summary>
    /// <param name="includeTarget">Whether the member the change is about is told too (a removed member learns it is out).</param>
    public async Task<GroupInfo> ChangeMemberAsync(string room, string who, Func<GroupMember, MembershipChange> change, bool includeTarget, CancellationToken cancellationToken)
    {
        var id = await FindIdAsync(room, cancellationToken);
        var target = await rooms.ReadAsync(id, (_, r) => FindPerson(r.Log.State.Members.Select(m => (m.Account, m.DisplayName)), who, "a member"), cancellationToken);
        var setups = await contacts.PreparePeersAsync(await MembersAsync(id, cancellationToken), cancellationToken);
        var info = await ChangeAsync(id, (tx, r) =>
        {
            RoomMembership.RequireAdmin(r, Me);
            var member = r.Log.State.Member(target.Account) ?? throw new ChatException($"{target.DisplayName} is not a member");
            var entry = membership.Append(r, change(member));
            // The members get it at the sync below, with our keys (a new chain after a removal): one message each.
            RoomMembership.QueuePassOn(tx, r, [entry]);
            if (includeTarget && !r.Log.State.IsMember(target.Account))
            {
                messenger.Broadcast(tx, r, [entry], [target.Account], setups);
            }
        }, cancellationToken);
        await SyncAsync(id, cancellationToken);
        return info;
    }

    /// <summary>An admin changes the room itself (name, history).</summary>
    public async Task<GroupInfo> ChangeRoomAsync(string room, MembershipChange change, CancellationToken cancellationToken)
    {
        var id = await FindIdAsync(room, cancellationToken);
        var setups = await contacts.PreparePeersAsync(await MembersAsync(id, cancellationToken), cancellationToken);
        return await ChangeAsync(id, (tx, r) =>
        {
            RoomMembership.RequireAdmin(r, Me);
            var entry = membership.Append(r, change);
            messenger.Broadcast(tx, r, [entry], r.Log.State.Members.Select(m => m.Account), setups);
        }, cancellationToken);
    }

    public async Task<GroupInfo> LeaveAsync(string room, CancellationToken cancellationToken)
    {
        var id = await FindIdAsync(room, cancellationToken);
        var setups = await contacts.PreparePeersAsync(await KeyPeersAsync(id, cancellationToken), cancellationToken);
        var info = await ChangeAsync(id, (tx, r) =>
        {
            if (r.Record.Status != GroupStatus.Member)
            {
                r.Record = r.Record with { Status = GroupStatus.Left };
                return;
            }
            // The admins pass it on, as every entry they learn.
            var recipients = RoomMembership.KeyRecipients(r.Log.State, Me).ToList();
            var entry = membership.Append(r, MembershipChange.Leave());
            r.Record = r.Record with { Status = GroupStatus.Left };
            messenger.Broadcast(tx, r, [entry], recipients, setups);
        }, cancellationToken);
        await SyncAsync(id, cancellationToken);
        return info;
    }

    /// <summary>
    /// A device of our account was linked (here, or this is the new device): every room we are in syncs at the next
    /// pass, so that our other devices get its log and our chain, and a new device sends its own chain to the members.
    /// </summary>
    public async Task SyncAllAsync(CancellationToken cancellationToken) =>
        ScheduleSync((await rooms.ListAsync(cancellationToken)).Where(r => r.Status == GroupStatus.Member).Select(r => r.Id));

    /// <summary>
    /// One of our devices was removed (docs/devices.md, "Rooms"): in every room we are a member of, our RemoveDevice
    /// entry starts a new epoch, so that every member's next chain, ours included, reaches only the devices still listed.
    /// It goes where our Leave would (the admins pass it on); our other devices get it at the sync.
    /// </summary>
    public async Task RemoveDeviceAsync(PublicKey device, CancellationToken cancellationToken)
    {
        foreach (var id in (await rooms.ListAsync(cancellationToken)).Where(r => r.Status == GroupStatus.Member).Select(r => r.Id))
        {
            var setups = await contacts.PreparePeersAsync(await KeyPeersAsync(id, cancellationToken), cancellationToken);
            await ChangeAsync(id, (tx, r) =>
            {
                if (r.Record.Status != GroupStatus.Member || !r.HasLog)
                {
                    return;
                }
                var recipients = RoomMembership.KeyRecipients(r.Log.State, Me).ToList();
                var entry = membership.Append(r, MembershipChange.RemoveDevice(device));
                if (r.Log.State.IsAdmin(Me))
                {
                    // The members get it at the sync below, ahead of our new chain: one message each.
                    RoomMembership.QueuePassOn(tx, r, [entry]);
                }
                else
                {
                    messenger.Broadcast(tx, r, [entry], recipients, setups);
                }
            }, cancellationToken);
            await SyncAsync(id, cancellationToken);
        }
    }

    /// <summary>Encrypts a message once for the room and queues a copy for every other member.</summary>
    public Task<GroupMessageRecord> SendAsync(string room, string text, CancellationToken cancellationToken) =>
        SendAsync(room, text, default, null, cancellationToken);

    /// <summary>
    /// Sends a message, with a file's manifest when <paramref name="file"/> is not empty; <paramref name="alsoStore"/>
    /// writes what goes with it in the same transaction.
    /// </summary>
    /// <param name="replyTo">The room message this one replies to (and quotes), if any.</param>
    public async Task<GroupMessageRecord> SendAsync(
        string room, string text, ReadOnlyMemory<byte> file, Action<IChatTransaction, GroupMessageRecord>? alsoStore, CancellationToken cancellationToken, byte[]? replyTo = null)
    {
        context.CheckOutgoingText(text);
        return await PostAsync(
            room,
            (tx, r, body) =>
            {
                if (replyTo is not null)
                {
                    if (!(tx.GetGroupMessage(replyTo) is { Kind: MessageKind.Text } quoted && quoted.GroupId.AsSpan().SequenceEqual(r.Id.Span)))
                    {
                        throw new ChatException("the message replied to is not in this room");
                    }
                    body.ReplyTo = Google.Protobuf.ByteString.CopyFrom(replyTo);
                }
                body.Text = text;
                body.File = Google.Protobuf.ByteString.CopyFrom(file.Span);
            },
            (tx, _, message) =>
            {
                alsoStore?.Invoke(tx, message);
                return MessageLedger.Decorate(tx, [message])[0];
            },
            cancellationToken);
    }

    /// <summary>
    /// Posts a message to the room: <paramref name="fill"/> gives the body its text or action (it may refuse), the
    /// message is encrypted once and a copy queued for every other member, and <paramref name="stored"/> runs in the
    /// same transaction once it is stored.
    /// </summary>
    public async Task<T> PostAsync<T>(
        string room, Action<IChatTransaction, Room, GroupMessageBody> fill, Func<IChatTransaction, Room, GroupMessageRecord, T> stored, CancellationToken cancellationToken)
    {
        var id = await FindIdAsync(room, cancellationToken);
        // Copies go to each member (their contact: where to reach them, the key their mailbox takes), and the members
        // we give our sender key to (the admins, who pass it on) get it first, over the pairwise session.
        await contacts.PrepareContactsAsync(await MembersAsync(id, cancellationToken), cancellationToken);
        var setups = await contacts.PreparePeersAsync(await KeyPeersAsync(id, cancellationToken), cancellationToken);
        await devices.PrepareAsync(cancellationToken);
        var retry = false;
        var record = await rooms.TransactAsync(id, tx =>
        {
            var r = rooms.Get(tx, id) ?? throw new ChatException("no such room");
            if (r.Record.Status != GroupStatus.Member || !r.Log.State.IsMember(Me))
            {
                throw new ChatException($"you are not a member of {r.Log.State.Name}");
            }
            // Our other devices have the room's log before our chain and the message.
            retry = !devices.SyncLog(tx, r);
            // Every member we write to must be able to read it: our chain goes out (at this very iteration) to those
            // who lack it, in this transaction and ahead of the message in each one's outbox; the members an admin
            // passes it on to keep the message until their key arrives.
            retry = !membership.DistributeKeys(tx, r, setups) || retry;
            var now = context.Now;
            var (lamport, parents) = r.Timeline.NextClock();
            var body = GroupMessage.Body(lamport, parents, now.ToUnixTimeMilliseconds(), "");
            fill(tx, r, body);
            SentGroupMessage sent;
            try
            {
                sent = r.Session.Encrypt(body);
            }
            catch (InvalidOperationException e)
            {
                throw new ChatException($"cannot send to {r.Log.State.Name} yet: {e.Message}", e);
            }
            r.Timeline.Add(sent.Message);
            var recipients = r.Log.State.Members.Where(m => !m.Account.Equals(Me)).ToList();
            var message = RoomMessages.Record(sent.Message, sent.Ciphertext, outgoing: true, recipients.Count, unread: false, fromHistory: false, now);
            tx.InsertGroupMessage(message);
            foreach (var member in recipients)
            {
                if (tx.GetContact(member.Account.ToPeerId()) is { } contact)
                {
                    messenger.SendCopy(tx, contact, sent.Ciphertext, message.Id);
                }
            }
            devices.CopyMessage(tx, r, sent.Ciphertext);
            var result = stored(tx, r, message);
            RoomCache.Save(tx, r, []);
            return result;
        }, cancellationToken);
        if (retry)
        {
            ScheduleSync([id]);
        }
        outbox.Wake();
        return record;
    }

    /// <summary>The room's messages in the order every member shows them, and the gaps where messages are still missing.</summary>
    public async Task<GroupHistory> GetHistoryAsync(string room, int limit, CancellationToken cancellationToken)
    {
        var id = await FindIdAsync(room, cancellationToken);
        return await rooms.ReadAsync(
            id,
            (reader, r) => new GroupHistory(MessageLedger.Decorate(reader, reader.GetGroupMessages(id.Span.ToArray(), Math.Clamp(limit, 1, RoomCache.MaxPage))), r.Timeline.Gaps),
            cancellationToken);
    }

    public async Task MarkReadAsync(string room, CancellationToken cancellationToken)
    {
        var id = await FindIdAsync(room, cancellationToken);
        await context.Store.TransactAsync(tx =>
        {
            tx.MarkGroupRead(id.Span.ToArray());
            return true;
        }, cancellationToken);
    }

    /// <summary>Rooms whose change (an entry, a welcome, a sender key) needs network work: done by the next <see cref="SyncScheduledAsync"/>.</summary>
    public void ScheduleSync(IEnumerable<Id256> ids)
    {
        foreach (var id in ids)
        {
            _toSync.TryAdd(id, 0);
        }
        outbox.Wake();
    }

    /// <summary>Runs the syncs that receiving scheduled; a failure is logged and retried on the room's next change.</summary>
    public async Task SyncScheduledAsync(CancellationToken cancellationToken)
    {
        foreach (var id in _toSync.Keys)
        {
            if (!_toSync.TryRemove(id, out _))
            {
                continue;
            }
            try
            {
                await SyncAsync(id, cancellationToken);
            }
            catch (Exception e) when (e is ChatException or IOException or InvalidOperationException)
            {
                ChatLog.RoomSyncFailed(context.Logger, e.GetType().Name);
            }
        }
    }

    /// <summary>Raises the events of our room messages whose copies were stored or delivered.</summary>
    public async Task RaiseCopiesCountedAsync(IReadOnlyList<GroupMessageRecord> changed, CancellationToken cancellationToken)
    {
        if (context.Events.GroupMessageChanged is null)
        {
            return;
        }
        foreach (var group in changed.GroupBy(m => Id256.FromBytes(m.GroupId)))
        {
            var info = await rooms.ReadAsync(group.Key, (_, r) => rooms.Info(r), cancellationToken);
            foreach (var message in group)
            {
                context.Events.OnGroupMessageChanged(message, info);
            }
        }
    }

    /// <summary>
    /// After a room changed: sends our sender key to members who lack it (a new chain after every removal), reads
    /// ciphertexts that were waiting for a chain, and offers history to members we let in.
    /// </summary>
    private async Task SyncAsync(Id256 id, CancellationToken cancellationToken)
    {
        var setups = await contacts.PreparePeersAsync(await KeyPeersAsync(id, cancellationToken), cancellationToken);
        await devices.PrepareAsync(cancellationToken);
        var events = new List<Action>();
        var retry = false;
        await rooms.TransactAsync(id, tx =>
        {
            if (rooms.Get(tx, id) is not { HasLog: true } room)
            {
                return false;
            }
            Interlocked.Increment(ref _syncs);
            // Our other devices have the room's log before our chain (a device linked since: all of it).
            retry = !devices.SyncLog(tx, room);
            retry = !membership.DistributeKeys(tx, room, setups, RoomMembership.TakePassOn(tx, room, Me)) || retry;
            messages.ReadPending(tx, room, events);
            history.Offer(tx, room, setups);
            RoomCache.Save(tx, room, []);
            return true;
        }, cancellationToken);
        foreach (var raise in events)
        {
            raise();
        }
        if (retry)
        {
            ScheduleSync([id]);
        }
        outbox.Wake();
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
        var (admin, adminHandle) = await contacts.ResolvePersonAsync(link.AdminHandle, cancellationToken);
        var setups = await contacts.PreparePeersAsync([(admin, adminHandle)], cancellationToken);
        var info = await rooms.TransactAsync(link.GroupId, tx =>
        {
            if (rooms.Get(tx, link.GroupId) is { Record.Status: GroupStatus.Member } member)
            {
                return rooms.Info(member);
            }
            var room = new Room(
                new GroupRecord(link.GroupId.Span.ToArray(), link.LinkKey.ToArray(), link.AdminHandle, GroupStatus.Requested, null, context.Now),
                new MembershipLog(context.Crypto, link.GroupId, link.LinkKey),
                new GroupSession(context.Crypto, Me, link.GroupId),
                new GroupTimeline(link.GroupId));
            rooms.Put(room);
            RoomCache.Save(tx, room, []);
            // The admin says where the log stands; the signed Request goes back on those heads.
            messenger.SendControl(tx, room.Id, admin, new GroupControl { HeadsRequest = true }, setups);
            return rooms.Info(room);
        }, cancellationToken);
        outbox.Wake();
        return info;
    }

    /// <summary>Runs a change of one room under the lock and in one transaction; on failure the room is reloaded from the store next time.</summary>
    private async Task<GroupInfo> ChangeAsync(Id256 id, Action<IChatTransaction, Room> change, CancellationToken cancellationToken)
    {
        var linked = false;
        var info = await rooms.TransactAsync(id, tx =>
        {
            var room = rooms.Get(tx, id) ?? throw new ChatException("no such room");
            change(tx, room);
            RoomCache.Save(tx, room, []);
            linked = devices.Any(tx);
            return rooms.Info(room);
        }, cancellationToken);
        context.Events.OnGroupChanged(info);
        if (linked)
        {
            // Our other devices get the change at the sync.
            ScheduleSync([id]);
        }
        outbox.Wake();
        return info;
    }

    /// <summary>A room by name (unique among the user's rooms), id (base32, or its first characters) or invite link.</summary>
    private async Task<Id256> FindIdAsync(string room, CancellationToken cancellationToken)
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
        var all = await rooms.ListAsync(cancellationToken);
        var matches = all.Where(r => r.IdText.StartsWith(room, StringComparison.OrdinalIgnoreCase) && room.Length >= 6).ToList();
        if (matches.Count == 0)
        {
            matches = all.Where(r => string.Equals(r.Name, room, StringComparison.OrdinalIgnoreCase) && r.Status is not (GroupStatus.Left or GroupStatus.Removed)).ToList();
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
        rooms.ReadAsync(id, (_, r) => !r.HasLog ? [] : r.Log.State.Members.Where(m => !m.Account.Equals(Me)).Select(m => (m.Account, m.DisplayName)).ToList(), cancellationToken);

    /// <summary>The members we send our sender key and our entries to (<see cref="RoomMembership.KeyRecipients"/>): those we need a pairwise session with.</summary>
    private Task<List<(PublicKey Account, string DisplayName)>> KeyPeersAsync(Id256 id, CancellationToken cancellationToken) =>
        rooms.ReadAsync(
            id,
            (_, r) =>
            {
                if (!r.HasLog)
                {
                    return [];
                }
                var state = r.Log.State;
                return RoomMembership.KeyRecipients(state, Me).Select(a => (a, state.Member(a)?.DisplayName ?? "")).ToList();
            },
            cancellationToken);

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
}
