using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>The answer to our fetch: the messages we missed.</summary>
internal sealed class MessagesHandler(RoomMessages messages) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Messages;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { HasLog: true } room)
        {
            return false;
        }
        messages.ReadFetched(input.Tx, room, input.Control.Messages, input.Now, input.Events);
        return true;
    }
}
