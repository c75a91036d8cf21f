using Google.Protobuf;
using Parley.Chat.Delivery;
using Parley.Chat.Devices;
using Parley.Chat.Directory;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms;

/// <summary>
/// A room on every device of our account (docs/devices.md, "Rooms"): our other devices get, over the sessions between
/// our own devices, the room's log (the whole log once, as a welcome, then the entries they lack), our sender chain
/// (each device has its own), the chains other members send us, a copy of every message we send, and the messages
/// other members sent us but not them. For a single-device account each call reads one setting and does nothing else.
/// </summary>
internal sealed class RoomDevices(ChatContext context, PairwiseSessions sessions, Outbox outbox, DeviceFanout fanout, DeviceSessions deviceSessions, RoomMessenger messenger)
{
    /// <summary>Messages held per room for our other devices until they have its log.</summary>
    private const int MaxHeldMessages = 500;

    /// <summary>Starts a session with each of our other devices that has none (X3DH), before a room's transaction sends them something.</summary>
    public Task PrepareAsync(CancellationToken cancellationToken) => deviceSessions.PrepareOwnAsync(cancellationToken);

    /// <summary>
    /// The keys of our other devices that can be sent a room's keys and messages now: all of them once each has a
    /// session with us and has been sent the room's log; empty until then (and for a single-device account).
    /// </summary>
    public IReadOnlyList<PublicKey> Ready(IChatReader reader, Room room) =>
        room.SentToOwnDevices.Count > 0 && Reachable(reader) is { } devices ? devices : [];

    /// <summary>True when the account has other devices.</summary>
    public bool Any(IChatReader reader) => fanout.OwnOtherDevices(reader).Count > 0;

    /// <summary>
    /// Sends our other devices the room's entries they lack: the whole log as a welcome and the chains we hold the first
    /// time (since this device started: what was sent is kept in memory, and duplicates cost nothing but bytes), then
    /// the new entries, then the chains held for them (<see cref="ForwardKeys"/>). False when some device cannot be reached yet (no
    /// session: run <see cref="PrepareAsync"/> and sync again).
    /// </summary>
    public bool SyncLog(IChatTransaction tx, Room room)
    {
        if (!room.HasLog)
        {
            return true;
        }
        if (Reachable(tx) is not { } devices)
        {
            return false;
        }
        if (devices.Count == 0)
        {
            return true;
        }
        var entries = room.Log.Entries.Select(e => e.Entry).Where(e => !room.SentToOwnDevices.Contains(e.Id)).ToList();
        if (entries.Count > 0 && room.SentToOwnDevices.Count == 0)
        {
            foreach (var welcome in messenger.Welcome(room))
            {
                Send(tx, room.Id, new GroupControl { Welcome = welcome });
            }
            // The chains we read the room with, from where we stand: a device new to the room reads on from there.
            var chains = room.Session.CurrentChains(room.Log.State);
            SendKeys(tx, room.Id, chains.Select(c => ByteString.CopyFrom(c)).ToList());
            foreach (var chain in chains)
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(chain);
            }
        }
        else if (entries.Count > 0)
        {
            foreach (var batch in RoomMessenger.Batches(entries.Select(e => ByteString.CopyFrom(e.ToBytes())), e => e.Length, messenger.MaxControlPayload))
            {
                var control = new GroupEntries();
                control.Entries.AddRange(batch);
                Send(tx, room.Id, new GroupControl { Entries = control });
            }
        }
        room.SentToOwnDevices.UnionWith(entries.Select(e => e.Id));
        if (room.KeysForOwnDevices.Count > 0)
        {
            SendKeys(tx, room.Id, room.KeysForOwnDevices);
            room.KeysForOwnDevices.Clear();
        }
        if (room.MessagesForOwnDevices.Count > 0)
        {
            var own = fanout.OwnOtherDevices(tx);
            foreach (var (ciphertext, to) in room.MessagesForOwnDevices)
            {
                SendMessage(tx, room.Id, ciphertext, own.Where(d => to.Contains(d.Device)).ToList());
            }
            room.MessagesForOwnDevices.Clear();
        }
        return true;
    }

    /// <summary>
    /// A room message another member sent this device (docs/devices.md, "Rooms"): passed on, over the sessions between
    /// our devices, to our other devices its sender did not send a copy to (<paramref name="addressed"/>, as its copy
    /// names them; none: it went to our account route alone), since a member that has not yet learned of one of our
    /// devices reaches only the devices it knows. Of the devices it did reach, the first in our list passes it on, so
    /// that they do not all send the same copy; a device that gets it twice reads it once (its key is used up). Held
    /// until our devices have the room's log; false then (a sync sends it).
    /// </summary>
    public bool PassOn(IChatTransaction tx, Room room, byte[] ciphertext, IEnumerable<ByteString> addressed)
    {
        var own = DeviceFanout.OwnDevices(tx);
        if (own.Count < 2)
        {
            return true;
        }
        var reached = addressed.Take(DirectoryRecordValidator.MaxDevices).Select(DeviceId).OfType<PeerId>().ToHashSet();
        var passer = own.FirstOrDefault(d => reached.Contains(d.Device))?.Device ?? fanout.ThisDevice.DeviceId;
        var missing = own.Where(d => d.Device != fanout.ThisDevice.DeviceId && !reached.Contains(d.Device)).ToList();
        if (passer != fanout.ThisDevice.DeviceId || missing.Count == 0)
        {
            return true;
        }
        if (Ready(tx, room).Count == 0)
        {
            if (room.MessagesForOwnDevices.Count < MaxHeldMessages)
            {
                room.MessagesForOwnDevices.Add((ciphertext, missing.Select(d => d.Device).ToHashSet()));
            }
            return false;
        }
        SendMessage(tx, room.Id, ciphertext, missing);
        return true;
    }

    /// <summary>Our own chain for the devices <see cref="Ready"/> returned.</summary>
    public void SendOwnChain(IChatTransaction tx, Room room, byte[] distribution) => SendKeys(tx, room.Id, [ByteString.CopyFrom(distribution)]);

    /// <summary>
    /// Chains other members sent us, passed on to our other devices as they came (from the iteration they came at, so
    /// that the devices read what we read). Held in memory until the devices have the room's log; false then (a sync
    /// sends them).
    /// </summary>
    public bool ForwardKeys(IChatTransaction tx, Room room, IReadOnlyList<ByteString> distributions)
    {
        if (distributions.Count == 0 || !Any(tx))
        {
            return true;
        }
        if (Ready(tx, room).Count == 0)
        {
            room.KeysForOwnDevices.AddRange(distributions.Take(GroupSession.MaxHeldDistributions - room.KeysForOwnDevices.Count));
            return false;
        }
        SendKeys(tx, room.Id, distributions);
        return true;
    }

    /// <summary>A copy of a room message we sent, for each of our other devices that has the room: they show it as sent by us.</summary>
    public void CopyMessage(IChatTransaction tx, Room room, byte[] ciphertext)
    {
        if (room.SentToOwnDevices.Count == 0)
        {
            return;
        }
        foreach (var device in fanout.OwnOtherDevices(tx))
        {
            // Not counted as one of the message's copies: those are the members'.
            outbox.PutRoomCopy(tx, context.Account.Id, ciphertext, null, device.Device);
        }
    }

    /// <summary>
    /// RemoveDevice entries among <paramref name="entries"/>: the device is out of its account's list for us from now on
    /// (<see cref="DeviceFanout.MarkRemoved"/>), before the new epoch's keys go out. The account's signature is what
    /// counts, so a void entry (its author had left the room) still says it.
    /// </summary>
    public void Removed(IChatTransaction tx, IEnumerable<MembershipEntry> entries)
    {
        foreach (var entry in entries.Where(e => e.Kind == MembershipKind.RemoveDevice))
        {
            fanout.MarkRemoved(tx, entry.Author.ToPeerId(), entry.Target!);
        }
    }

    /// <summary>The keys of our other devices if each has a session with us; null when some has none yet.</summary>
    private List<PublicKey>? Reachable(IChatReader reader)
    {
        var own = fanout.OwnOtherDevices(reader);
        if (own.Count == 0)
        {
            return [];
        }
        var existing = reader.GetSessions(context.Account.Id);
        return own.All(d => existing.Any(d.Owns)) ? own.Select(d => d.Key).ToList() : null;
    }

    private void SendKeys(IChatTransaction tx, Id256 room, IReadOnlyCollection<ByteString> distributions)
    {
        if (distributions.Count == 0)
        {
            return;
        }
        foreach (var batch in RoomMessenger.Batches(distributions, d => d.Length, messenger.MaxControlPayload))
        {
            var keys = new GroupKeys();
            keys.Distributions.AddRange(batch);
            Send(tx, room, new GroupControl { Keys = keys });
        }
    }

    private void SendMessage(IChatTransaction tx, Id256 room, byte[] ciphertext, IReadOnlyList<DeviceTarget> devices)
    {
        var messages = new GroupMessages();
        messages.Ciphertexts.Add(ByteString.CopyFrom(ciphertext));
        var control = new GroupControl { GroupId = ByteString.CopyFrom(room.Span), Messages = messages };
        sessions.QueueToDevices(tx, fanout.Self(), devices, new Content { Group = control }.ToByteArray(), null, null);
    }

    private static PeerId? DeviceId(ByteString bytes)
    {
        try
        {
            return PeerId.FromBytes(bytes.Span);
        }
        catch (FormatException)
        {
            // Names none of our devices.
            return null;
        }
    }

    private void Send(IChatTransaction tx, Id256 room, GroupControl control)
    {
        control.GroupId = ByteString.CopyFrom(room.Span);
        sessions.Queue(tx, fanout.Self(), new Content { Group = control }, null, null);
    }
}
