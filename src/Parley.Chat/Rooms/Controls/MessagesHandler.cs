using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>
/// The answer to our fetch: the messages we missed; or, from another device of ours, messages other members sent it
/// and not us (docs/devices.md, "Rooms"), kept until their chains arrive if they cannot be read yet.
/// </summary>
internal sealed class MessagesHandler(RoomMessages messages, Core.Identity.PublicKey me) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Messages;

    public bool Handle(RoomControlInput input)
    {
        if (input.Room is not { HasLog: true } room)
        {
            return false;
        }
        messages.ReadFetched(input.Tx, room, input.Control.Messages, input.Now, input.Events, keepIfUnreadable: input.Sender.AccountKey.Equals(me));
        return true;
    }
}
