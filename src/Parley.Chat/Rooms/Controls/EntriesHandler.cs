using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms.Controls;

/// <summary>Membership entries a member sent: added to the log; an admin passes them on; missing parents are asked for.</summary>
internal sealed class EntriesHandler(RoomCache rooms, RoomMembership membership, RoomMessenger messenger, Messaging.ChatContext context, RoomDevices devices) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Entries;

    public bool Handle(RoomControlInput input) => Take(input, input.Control.Entries.Entries);

    /// <summary>Adds entries that came in a control (of this kind, or with keys); false when we hold no log of the room.</summary>
    public bool Take(RoomControlInput input, IEnumerable<ByteString> entries)
    {
        if (input.Room is not { HasLog: true } room)
        {
            return false;
        }
        var tx = input.Tx;
        var me = context.Account.PublicKey;
        var before = room.Log.State;
        var accepted = membership.AddEntries(tx, room, entries);
        if (accepted.Count > 0)
        {
            // Admins pass on what they learn, at the sync that follows.
            if (room.Log.State.IsAdmin(me))
            {
                RoomMembership.QueuePassOn(tx, room, accepted);
                // Someone who just came in knows the log only as its welcome had it: joins that crossed theirs never
                // reached them. They get the whole log once.
                foreach (var newcomer in accepted.Select(RoomMembership.NewMember).OfType<PublicKey>().Where(a => !a.Equals(me) && room.Log.State.IsMember(a)).Distinct())
                {
                    messenger.Broadcast(tx, room, room.Log.Entries.Select(e => e.Entry), [newcomer], null);
                }
            }
            if (NeedsSync(tx, room, before, accepted))
            {
                input.FollowUps.Add(input.Id);
            }
            var info = rooms.Info(room);
            input.Events.Add(() => context.Events.OnGroupChanged(info));
        }
        if (room.Log.MissingParents.Count > 0)
        {
            var missing = new GroupEntryIds();
            missing.Ids.AddRange(room.Log.MissingParents.Take(MembershipEntry.MaxParents).Select(p => ByteString.CopyFrom(p.Span)));
            messenger.SendControl(tx, input.Id, input.Sender.AccountKey, new GroupControl { EntriesRequest = missing }, null);
        }
        return true;
    }

    /// <summary>
    /// Whether entries just added leave the room sync work (docs/groups.md, "Keys through the admins"): on an admin
    /// (passing on, relaying), when our chain must go out again or to someone new (a new epoch, other recipients of it:
    /// other admins, or a new member of a room without admins; our own membership changed), when we let in a member
    /// who is owed the history, when messages wait for a sender's entry, or when the account has other devices (the
    /// sync passes the new entries on to them: docs/devices.md, "Rooms"). A member's
    /// sync visits and saves its whole room, so the Joins of a burst (most entries) do not cost every member one each.
    /// </summary>
    private bool NeedsSync(IChatTransaction tx, Room room, GroupState before, List<MembershipEntry> accepted)
    {
        var me = context.Account.PublicKey;
        var state = room.Log.State;
        return state.IsAdmin(me)
            || state.Epoch.Id != before.Epoch.Id
            || state.IsMember(me) != before.IsMember(me)
            || !RoomMembership.KeyRecipients(state, me).ToHashSet().SetEquals(RoomMembership.KeyRecipients(before, me))
            || accepted.Any(e => RoomMembership.NewMember(e) is { } added && state.Member(added)?.AddedByAccount.Equals(me) == true)
            || tx.GetGroupPending(room.Id.Span.ToArray()).Count > 0
            || devices.Any(tx);
    }
}
