using Google.Protobuf;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms.Controls;

/// <summary>Someone with an invite link asks an admin where the log stands, to sign a join request on it.</summary>
internal sealed class HeadsRequestHandler(RoomMessenger messenger, PublicKey me) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.HeadsRequest;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { HasLog: true } room || !room.Log.State.IsAdmin(me))
        {
            return false;
        }
        var heads = new GroupHeads { NextLamport = room.Log.NextLamport };
        heads.Heads.AddRange(room.Log.NextParents.Select(h => ByteString.CopyFrom(h.Span)));
        messenger.SendControl(input.Tx, input.Id, input.Sender.AccountKey, new GroupControl { Heads = heads }, null);
        return true;
    }
}
