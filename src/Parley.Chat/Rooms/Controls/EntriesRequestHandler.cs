using Parley.Chat.Groups;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A member misses entries (parents it has not seen): we send those we have.</summary>
internal sealed class EntriesRequestHandler(RoomMessenger messenger) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.EntriesRequest;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { HasLog: true } room || !room.Log.State.IsMember(input.Sender.AccountKey))
        {
            return false;
        }
        var found = input.Control.EntriesRequest.Ids.Take(MembershipEntry.MaxParents)
            .Where(wanted => wanted.Length == Id256.Size)
            .Select(wanted => room.Log.Find(Id256.FromBytes(wanted.Span)))
            .OfType<MembershipEntry>()
            .ToList();
        if (found.Count > 0)
        {
            messenger.Broadcast(input.Tx, room, found, [input.Sender.AccountKey], null);
        }
        return true;
    }
}
