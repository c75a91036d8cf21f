using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A newcomer misses a part of the welcome we sent it: we send it the whole welcome again, from the log as it is now.</summary>
internal sealed class WelcomeRequestHandler(RoomMessenger messenger, PublicKey me) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.WelcomeRequest;

    public bool Handle(RoomControlInput input)
    {
        var asker = input.Sender.AccountKey;
        if (input.Room is not { HasLog: true } room || !room.Log.State.IsAdmin(me) ||
            !(room.Log.State.IsMember(asker) || room.Log.State.Invitations.Any(i => i.Account.Equals(asker))))
        {
            return false;
        }
        messenger.SendWelcome(input.Tx, room, asker, null);
        return true;
    }
}
