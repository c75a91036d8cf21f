using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A signed request to join, sent to us as an admin: added to the log and shown to the other admins.</summary>
internal sealed class JoinRequestHandler(RoomCache rooms, RoomMessenger messenger, ChatContext context) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Request;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { HasLog: true } room || !room.Log.State.IsAdmin(context.Account.PublicKey))
        {
            return false;
        }
        var added = room.Log.Add(input.Control.Request.Span);
        if (added.Status != AddStatus.Accepted)
        {
            ChatLog.JoinRequestRefused(context.Logger, added.ToString());
            return true;
        }
        RoomCache.Save(input.Tx, room, added.Accepted);
        // Other admins see the request too, so any of them can answer it.
        messenger.Broadcast(input.Tx, room, added.Accepted, room.Log.State.Admins, null);
        var info = rooms.Info(room);
        input.Events.Add(() => context.Events.OnGroupChanged(info));
        return true;
    }
}
