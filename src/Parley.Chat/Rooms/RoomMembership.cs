using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms;

/// <summary>
/// A room's membership as this member changes and follows it: appending our own signed entries, adding entries others
/// sent (our status follows: invited, member, removed), taking a welcome, signing a join request, and keeping our
/// sender keys in line with the members (a new chain after a removal, sent to whoever lacks it).
/// </summary>
internal sealed class RoomMembership(ChatContext context, RoomCache rooms, RoomMessenger messenger, WelcomeParts welcomes, IUserDirectory directory, RoomDevices devices)
{
    private PublicKey Me => context.Account.PublicKey;

    /// <summary>Signs and appends our own entry; the next save stores it.</summary>
    /// <exception cref="ChatException">The log does not allow it (not an admin, not a member…).</exception>
    public MembershipEntry Append(Room room, MembershipChange change)
    {
        try
        {
            var entry = room.Log.Append(context.Account.SigningKey, change, context.Now.ToUnixTimeMilliseconds());
            room.PendingEntries.Add(entry);
            return entry;
        }
        catch (MembershipException e)
        {
            throw new ChatException(e.Message, e);
        }
    }

    /// <exception cref="ChatException">We are not an admin of the room.</exception>
    public static void RequireAdmin(Room room, PublicKey me)
    {
        if (!room.HasLog)
        {
            throw new ChatException("you are waiting to be let into that room");
        }
        if (!room.Log.State.IsAdmin(me))
        {
            throw new ChatException($"only an admin of {room.Log.State.Name} can do that");
        }
    }

    /// <summary>The account an entry lets in, if it does.</summary>
    public static PublicKey? NewMember(MembershipEntry entry) => entry.Kind switch
    {
        MembershipKind.Join => entry.Author,
        MembershipKind.Approve => entry.Target,
        _ => null,
    };

    /// <summary>The name the room's log gives an account: as a member, invitee or requester, or in the entries about it (after it left).</summary>
    public static string? NameOf(GroupState state, PublicKey account) =>
        state.Member(account)?.DisplayName
        ?? state.Invitations.FirstOrDefault(i => i.Account.Equals(account))?.DisplayName
        ?? state.Requests.FirstOrDefault(r => r.Account.Equals(account))?.DisplayName
        ?? state.Audit.LastOrDefault(c => account.Equals(c.Target) && c.TargetName is not null)?.TargetName
        ?? state.Audit.LastOrDefault(c => c.Author.Equals(account))?.AuthorName;

    /// <summary>Adds entries to the room's log and returns those newly accepted. Our own status follows the log (removed, left).</summary>
    public List<MembershipEntry> AddEntries(IChatTransaction tx, Room room, IEnumerable<ByteString> entries)
    {
        var changed = new List<MembershipEntry>();
        foreach (var bytes in entries.Take(MembershipLog.MaxPendingEntries))
        {
            var result = room.Log.Add(bytes.Span);
            switch (result.Status)
            {
                case AddStatus.Accepted:
                    RoomCache.StoreEntries(tx, room, result.Accepted);
                    devices.Removed(tx, result.Accepted);
                    changed.AddRange(result.Accepted);
                    break;
                case AddStatus.Pending:
                    // Kept so a restart still has it; its parents may come in a later message.
                    var pending = MembershipEntry.Parse(bytes.Span, context.Crypto);
                    tx.AddGroupEntry(room.Id.Span.ToArray(), pending.Id.Span.ToArray(), pending.ToBytes());
                    break;
                case AddStatus.Rejected:
                    ChatLog.EntryRefused(context.Logger, result.ToString());
                    break;
            }
        }
        var state = room.Log.State;
        if (room.Record.Status == GroupStatus.Member && !state.IsMember(Me) && state.Departures.ContainsKey(Me))
        {
            room.Record = room.Record with { Status = GroupStatus.Removed };
        }
        else if (room.Record.Status == GroupStatus.Invited && state.IsMember(Me))
        {
            room.Record = room.Record with { Status = GroupStatus.Member };
        }
        if (changed.Count > 0 && room.Session.HeldDistributionCount > 0)
        {
            // A chain an admin passed on ahead of its owner's entry (an Approve waiting for the Request it follows) is
            // the owner's from now on: installed now, since the owner's messages may come before our next sync, and a
            // message whose chain is held waits for that sync, which nothing may bring.
            foreach (var chain in room.Session.InstallHeld(state))
            {
                room.Timeline.ExpectChain(chain);
            }
            RoomCache.Save(tx, room, []);
        }
        return changed;
    }

    /// <summary>
    /// Takes a welcome (or one part of it) from <paramref name="sender"/>: the room's log as the admin has it. Returns
    /// the room when it changed, else null: also while parts of the welcome are still to come.
    /// </summary>
    public Room? Welcome(IChatTransaction tx, Id256 id, Room? room, GroupWelcome part, ContactRecord sender)
    {
        if (room is { Record.Status: GroupStatus.Member })
        {
            return AddEntries(tx, room, part.Entries).Count > 0 ? room : null;
        }
        if (part.LinkKey.Length == 0 || part.Entries.Count == 0 || welcomes.Add(tx, id, part, sender) is not { } welcome)
        {
            return null;
        }
        var log = new MembershipLog(context.Crypto, id, welcome.LinkKey.Span);
        var accepted = new List<MembershipEntry>();
        foreach (var bytes in welcome.Entries)
        {
            accepted.AddRange(log.Add(bytes.Span).Accepted);
        }
        if (!WelcomeParts.IsComplete(log, welcome))
        {
            // Every part came, yet the log lacks some of the heads they name: not shown as the room.
            ChatLog.WelcomeIgnored(context.Logger);
            return null;
        }
        var state = log.State;
        var status = state.IsMember(Me) ? GroupStatus.Member
            : state.Invitations.Any(i => i.Account.Equals(Me)) ? GroupStatus.Invited
            : (GroupStatus?)null;
        if (status is null)
        {
            ChatLog.WelcomeIgnored(context.Logger);
            return null;
        }
        var adminHandle = string.IsNullOrEmpty(welcome.AdminHandle) ? room?.Record.AdminHandle ?? "" : welcome.AdminHandle;
        var fresh = new Room(
            new GroupRecord(id.Span.ToArray(), welcome.LinkKey.ToByteArray(), adminHandle, status.Value, null, context.Now),
            log,
            room?.Session ?? new GroupSession(context.Crypto, Me, id),
            room?.Timeline ?? new GroupTimeline(id));
        rooms.Put(fresh);
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
                ChatLog.SenderKeyRefused(context.Logger, e.Message);
            }
        }
        RoomCache.Save(tx, fresh, accepted);
        return fresh;
    }

    /// <summary>Signs our request to join on the heads the admin gave, and sends it to that admin.</summary>
    public void SignRequest(IChatTransaction tx, Room room, ContactRecord admin, GroupHeads heads, DateTimeOffset now)
    {
        try
        {
            var link = new GroupInviteLink(room.Id, room.Record.LinkKey, room.Record.AdminHandle);
            var parents = heads.Heads.Select(h => Id256.FromBytes(h.Span)).ToList();
            var entry = MembershipEntry.SignRequest(context.Crypto, context.Account.SigningKey, link, context.Handle.ToString(), parents, heads.NextLamport, now.ToUnixTimeMilliseconds());
            messenger.SendControl(tx, room.Id, admin.AccountKey, new GroupControl { Request = ByteString.CopyFrom(entry.ToBytes()) }, null);
        }
        catch (Exception e) when (e is FormatException or MembershipException)
        {
            ChatLog.JoinRequestUnsigned(context.Logger, e.Message);
        }
    }

    /// <summary>
    /// Entries an admin passes on to the members (an author only knows the members it knew, and a member who joined
    /// meanwhile would otherwise never hear of the entry): kept with the room in this transaction and sent at the next
    /// sync, so that a burst of joins costs each member one message.
    /// </summary>
    public static void QueuePassOn(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> entries)
    {
        var queued = tx.GetSetting(PassOnSetting(room)) ?? [];
        tx.PutSetting(PassOnSetting(room), [.. queued, .. entries.SelectMany(e => e.Id.Span.ToArray())]);
    }

    /// <summary>
    /// The entries <see cref="QueuePassOn"/> kept, for every member but their authors: <see cref="DistributeKeys"/> sends
    /// them with the keys, in one message per member.
    /// </summary>
    public static Dictionary<PublicKey, List<MembershipEntry>> TakePassOn(IChatTransaction tx, Room room, PublicKey me)
    {
        var passOn = new Dictionary<PublicKey, List<MembershipEntry>>();
        if (tx.GetSetting(PassOnSetting(room)) is not { Length: > 0 } queued)
        {
            return passOn;
        }
        var entries = queued.Chunk(Id256.Size).Select(id => room.Log.Find(Id256.FromBytes(id))).OfType<MembershipEntry>().ToList();
        foreach (var member in room.Log.State.Members.Select(m => m.Account).Where(a => !a.Equals(me)))
        {
            var theirs = entries.Where(e => !e.Author.Equals(member)).ToList();
            if (theirs.Count > 0)
            {
                passOn[member] = theirs;
            }
        }
        tx.PutSetting(PassOnSetting(room), []);
        return passOn;
    }

    /// <summary>
    /// Who gets our sender key from us, and so who we need a pairwise session with to keep it in line: an admin (or
    /// anyone in a room without admins) sends to every member; any other member to the admins, who pass it on.
    /// </summary>
    public static IEnumerable<PublicKey> KeyRecipients(GroupState state, PublicKey me) =>
        state.IsAdmin(me) || state.Admins.Count == 0 ? state.Members.Select(m => m.Account).Where(a => !a.Equals(me)) : state.Admins.Where(a => !a.Equals(me));

    /// <summary>
    /// Brings our sender keys in line with the room (a new chain after a removal) and queues our chain, at the
    /// iteration of the next message we send, for the <see cref="KeyRecipients"/> that lack it; an admin adds the
    /// other members' chains each recipient lacks. Directory records go along (ours with our chain; an admin's
    /// others' too), so that members reach each other without looking each other up. All of it in as few messages
    /// per recipient as the size bound allows, with the entries an admin passes on (<paramref name="passOn"/>, from
    /// <see cref="TakePassOn"/>) ahead of the keys. False when some recipient could not be reached yet (no pairwise
    /// session: the next sync tries again).
    /// </summary>
    public bool DistributeKeys(IChatTransaction tx, Room room, IReadOnlyDictionary<PeerId, SessionSetup?>? setups, IReadOnlyDictionary<PublicKey, List<MembershipEntry>>? passOn = null)
    {
        var state = room.Log.State;
        var isAdmin = state.IsAdmin(Me);
        var recipients = KeyRecipients(state, Me).ToHashSet();
        // Our other devices get our chain from us directly, once they have the room's log (docs/devices.md).
        var ownDevices = devices.Ready(tx, room);
        var update = room.Session.Update(state, context.Account.SigningKey, recipients.Contains, ownDevices);
        foreach (var chain in update.Installed)
        {
            room.Timeline.ExpectChain(chain);
        }
        var toOwnDevices = update.Outgoing.Where(o => ownDevices.Contains(o.Recipient)).ToList();
        if (toOwnDevices.Count > 0)
        {
            devices.SendOwnChain(tx, room, toOwnDevices[0].Payload);
        }
        foreach (var distribution in toOwnDevices)
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(distribution.Payload);
        }
        var relayed = isAdmin ? room.Session.Relay(state) : [];
        var own = directory.PublishedRecords(context.Account.Id);
        if (own.Presence is not null || own.Prekeys is not null)
        {
            room.MemberRecords[Me] = Records(Me, own);
        }
        var complete = ownDevices.Count > 0 || !devices.Any(tx);
        var byRecipient = update.Outgoing.Except(toOwnDevices).Select(o => (o.Recipient, Own: true, o.Payload)).Concat(relayed.Select(o => (o.Recipient, Own: false, o.Payload))).ToLookup(o => o.Recipient);
        foreach (var recipient in state.Members.Select(m => m.Account).Where(a => !a.Equals(Me)))
        {
            var distributions = byRecipient[recipient].ToList();
            var sendsOwn = distributions.Any(d => d.Own);
            // Our records go with our chain; an admin passes on every member's records once per recipient.
            var records = room.MemberRecords
                .Where(r => !r.Key.Equals(recipient) && (isAdmin || (sendsOwn && r.Key.Equals(Me))) && !room.RecordsPassedOn.Contains((r.Key, recipient)))
                .ToList();
            var entries = passOn?.GetValueOrDefault(recipient) ?? [];
            if (distributions.Count == 0 && entries.Count == 0 && (records.Count == 0 || !recipients.Contains(recipient)))
            {
                continue;
            }
            var sent = true;
            foreach (var keys in KeysMessages(entries, distributions.Select(d => d.Payload), records.Select(r => r.Value)))
            {
                sent &= messenger.SendControl(tx, room.Id, recipient, new GroupControl { Keys = keys }, setups);
            }
            if (sent)
            {
                room.RecordsPassedOn.UnionWith(records.Select(r => (r.Key, recipient)));
            }
            else
            {
                if (sendsOwn)
                {
                    room.Session.DistributionNotSent(recipient);
                }
                room.Session.RelayNotSent(recipient);
                complete = false;
            }
            foreach (var (_, _, payload) in distributions)
            {
                System.Security.Cryptography.CryptographicOperations.ZeroMemory(payload);
            }
        }
        return complete;
    }

    private static string PassOnSetting(Room room) => $"room-pass-on/{room.IdText}";

    /// <summary>A member's directory records as they travel.</summary>
    public static GroupMemberRecords Records(PublicKey account, PublishedRecords records)
    {
        var wire = new GroupMemberRecords { Account = ByteString.CopyFrom(account.ToProtobuf()) };
        if (records.Presence is { } presence)
        {
            wire.Presence = ByteString.CopyFrom(presence);
        }
        if (records.Prekeys is { } prekeys)
        {
            wire.Prekeys = ByteString.CopyFrom(prekeys);
        }
        return wire;
    }

    /// <summary>Entries, keys and records, in that order, in as few messages as the size bound allows.</summary>
    private IEnumerable<GroupKeys> KeysMessages(IEnumerable<MembershipEntry> entries, IEnumerable<byte[]> distributions, IEnumerable<GroupMemberRecords> records)
    {
        var items = entries.Select(e => ByteString.CopyFrom(e.ToBytes())).Select(e => (Length: e.Length, Add: (Action<GroupKeys>)(keys => keys.Entries.Add(e))))
            .Concat(distributions.Select(d => (Length: d.Length, Add: (Action<GroupKeys>)(keys => keys.Distributions.Add(ByteString.CopyFrom(d))))))
            .Concat(records.Select(r => (Length: r.CalculateSize(), Add: (Action<GroupKeys>)(keys => keys.Records.Add(r)))));
        foreach (var batch in RoomMessenger.Batches(items, i => i.Length, messenger.MaxControlPayload))
        {
            var keys = new GroupKeys();
            foreach (var item in batch)
            {
                item.Add(keys);
            }
            yield return keys;
        }
    }
}
