using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A member asks for messages of ours it misses.</summary>
internal sealed class FetchHandler(RoomMessages messages) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Fetch;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { HasLog: true } room || !room.Log.State.IsMember(input.Sender.AccountKey))
        {
            return false;
        }
        messages.AnswerFetch(input.Tx, room, input.Sender, input.Control.Fetch);
        return true;
    }
}
