using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>A member's sender key: installed, and the messages that waited for it read; kept until the welcome when it came first.</summary>
internal sealed class DistributionHandler(RoomMessages messages, ChatContext context) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Distribution;

    public bool Handle(RoomControlInput input)
    {
        switch (input.Room)
        {
            case null:
                return false;
            case { HasLog: false } early:
                if (early.EarlyDistributions.Count < GroupSession.MaxHeldDistributions)
                {
                    early.EarlyDistributions.Add((input.Sender, input.Control.Distribution));
                }
                return true;
        }
        var room = input.Room;
        try
        {
            var result = room.Session.ReceiveDistribution(input.Sender.AccountKey, input.Control.Distribution.Span, room.Log.State);
            if (result.Chain is { } chain)
            {
                room.Timeline.ExpectChain(chain);
            }
            // Messages that waited for this chain are read now; a new chain changes nothing else, so no room sync
            // (which visits every member) follows it.
            messages.ReadPending(input.Tx, room, input.Events);
            RoomCache.Save(input.Tx, room, []);
        }
        catch (GroupMessageException e)
        {
            ChatLog.SenderKeyRefused(context.Logger, e.Message);
        }
        return true;
    }
}
