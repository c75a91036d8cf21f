using Parley.Chat.Directory;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A welcome: the room's log from the admin who invited or approved us.</summary>
internal sealed class WelcomeHandler(RoomCache rooms, RoomMembership membership, Messaging.ChatEventHub events, IUserDirectory directory) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Welcome;

    public bool Handle(RoomControlInput input)
    {
        // The admin's own records, so that our answer reaches it without a directory lookup; only the sender's own
        // (the records are signed by their account, and checked when used as a record found in the directory is).
        if (input.Control.Welcome.SenderRecords is { } records && records.Account.Span.SequenceEqual(input.Sender.AccountKey.ToProtobuf()))
        {
            directory.Remember(input.Sender.Account, new PublishedRecords(
                records.Presence.Length == 0 ? null : records.Presence.ToByteArray(),
                records.Prekeys.Length == 0 ? null : records.Prekeys.ToByteArray()));
        }
        if (membership.Welcome(input.Tx, input.Id, input.Room, input.Control.Welcome, input.Sender) is { } room)
        {
            input.FollowUps.Add(input.Id);
            var info = rooms.Info(room);
            input.Events.Add(() => events.OnGroupChanged(info));
        }
        return true;
    }
}
