using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A welcome: the room's log from the admin who invited or approved us.</summary>
internal sealed class WelcomeHandler(RoomCache rooms, RoomMembership membership, Messaging.ChatEventHub events) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Welcome;

    public bool Handle(RoomControlInput input)
    {
        if (membership.Welcome(input.Tx, input.Id, input.Room, input.Control.Welcome, input.Sender) is { } room)
        {
            input.FollowUps.Add(input.Id);
            var info = rooms.Info(room);
            input.Events.Add(() => events.OnGroupChanged(info));
        }
        return true;
    }
}
