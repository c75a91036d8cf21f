using Google.Protobuf;
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
        var found = new GroupEntries();
        foreach (var wanted in input.Control.EntriesRequest.Ids.Take(MembershipEntry.MaxParents))
        {
            if (wanted.Length == Id256.Size && room.Log.Find(Id256.FromBytes(wanted.Span)) is { } entry)
            {
                found.Entries.Add(ByteString.CopyFrom(entry.ToBytes()));
            }
        }
        if (found.Entries.Count > 0)
        {
            messenger.SendControl(input.Tx, input.Id, input.Sender.AccountKey, new GroupControl { Entries = found }, null);
        }
        return true;
    }
}
