using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A history bundle from the member who let us in.</summary>
internal sealed class HistoryHandler(HistoryOffers history) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.History;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { HasLog: true } room)
        {
            return false;
        }
        history.Merge(input.Tx, room, input.Control.History.Span, input.Now, input.Events);
        return true;
    }
}
