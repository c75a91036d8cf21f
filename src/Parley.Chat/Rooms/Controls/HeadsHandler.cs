using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>The admin's answer to our heads request: we sign our join request on those heads.</summary>
internal sealed class HeadsHandler(RoomMembership membership) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Heads;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { Record.Status: GroupStatus.Requested } room)
        {
            return false;
        }
        membership.SignRequest(input.Tx, room, input.Sender, input.Control.Heads, input.Now);
        return true;
    }
}
