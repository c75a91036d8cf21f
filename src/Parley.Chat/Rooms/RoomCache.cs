using Parley.Chat.Groups;
using Parley.Chat.Messaging;

namespace Parley.Chat.Rooms;

/// <summary>
/// The rooms' state and its lock: rooms are loaded from the store on first use and kept in memory, and every read or
/// change of a room runs under one lock. A change is written in one transaction; when that transaction fails, the
/// copy in memory (which the change may have altered) is dropped and read again from the store next time.
/// </summary>
internal sealed class RoomCache(ChatContext context) : IDisposable
{
    public const int MaxPage = 10_000;

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<Id256, Room> _rooms = [];

    /// <summary>The room, loaded from the store on first use: the log rebuilt (and so checked again) from its entries, the session and the timeline. Call under the lock.</summary>
    public Room? Get(IChatReader reader, Id256 id)
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
        var log = new MembershipLog(context.Crypto, id, record.LinkKey);
        foreach (var entry in reader.GetGroupEntries(record.Id))
        {
            log.Add(entry);
        }
        var session = record.Session is { } state ? GroupSession.Deserialize(context.Crypto, state) : new GroupSession(context.Crypto, context.Account.PublicKey, id);
        var timeline = new GroupTimeline(id);
        foreach (var stored in reader.GetGroupTimeline(record.Id, MaxPage))
        {
            var body = Groups.Protos.GroupMessageBody.Parser.ParseFrom(stored.Body);
            var epoch = Id256.FromBytes(stored.Epoch);
            timeline.Add(
                stored.Deleted
                    ? GroupMessage.Erased(Id256.FromBytes(stored.Id), id, epoch, stored.Sender, stored.ChainId, stored.Iteration, body)
                    : GroupMessage.Create(context.Crypto, id, epoch, stored.Sender, stored.ChainId, stored.Iteration, body),
                stored.FromHistory);
        }
        var room = new Room(record, log, session, timeline);
        _rooms[id] = room;
        return room;
    }

    /// <summary>Keeps a room created or replaced in memory. Call under the lock.</summary>
    public void Put(Room room) => _rooms[room.Id] = room;

    /// <summary>Writes the room's record, its session and the entries not stored yet, in the caller's transaction.</summary>
    public static void Save(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> newEntries)
    {
        StoreEntries(tx, room, newEntries.Concat(room.PendingEntries));
        room.PendingEntries.Clear();
        room.Record = room.Record with { Session = room.Session.Serialize() };
        tx.PutGroup(room.Record);
    }

    public static void StoreEntries(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> entries)
    {
        foreach (var entry in entries)
        {
            tx.AddGroupEntry(room.Id.Span.ToArray(), entry.Id.Span.ToArray(), entry.ToBytes());
        }
    }

    /// <summary>A write to room <paramref name="id"/> under the lock, in one transaction; if it fails, the room's copy in memory is dropped.</summary>
    public async Task<T> TransactAsync<T>(Id256 id, Func<IChatTransaction, T> write, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await context.Store.TransactAsync(write, cancellationToken);
        }
        catch
        {
            _rooms.Remove(id);
            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Work under the lock that may change any room (receiving a room control); if it fails, every room's copy in
    /// memory is dropped. A refusal (<see cref="EnvelopeRefusedException"/>) rolled its transaction back just the same.
    /// </summary>
    public async Task<T> LockedAsync<T>(Func<Task<T>> work, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await work();
        }
        catch
        {
            _rooms.Clear();
            throw;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<T> ReadAsync<T>(Id256 id, Func<IChatReader, Room, T> read, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await context.Store.ReadAsync(r => read(r, Get(r, id) ?? throw new ChatException("no such room")), cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Every room the store holds, as the user sees it.</summary>
    public async Task<IReadOnlyList<GroupInfo>> ListAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return await context.Store.ReadAsync(r => r.GetGroups().Select(g => Get(r, Id256.FromBytes(g.Id))).OfType<Room>().Select(Info).ToList(), cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The room as the user sees it; every message event carries it, so it is rebuilt only when the log or our status changed.</summary>
    public GroupInfo Info(Room room)
    {
        if (room.CachedInfo is { } cached && cached.LogCount == room.Log.Count && cached.Info.Status == room.Record.Status)
        {
            return cached.Info;
        }
        var info = BuildInfo(room);
        room.CachedInfo = (room.Log.Count, info);
        return info;
    }

    public void Dispose() => _gate.Dispose();

    private GroupInfo BuildInfo(Room room)
    {
        if (!room.HasLog)
        {
            return new GroupInfo(room.Id, "(waiting for an admin)", room.Record.Status, false, false, 0, [], [], [], [], null);
        }
        var state = room.Log.State;
        var me = context.Account.PublicKey;
        var isAdmin = state.IsAdmin(me);
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
            isAdmin ? room.Log.InviteLink(context.Handle.ToString()).Format() : null);
    }
}
