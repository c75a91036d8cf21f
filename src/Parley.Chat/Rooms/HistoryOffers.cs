using Google.Protobuf;
using Parley.Chat.Actions;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms;

/// <summary>
/// A room's past messages for members it lets in, when the room keeps history: the member who let someone in offers
/// them once (signed bundles over the pairwise session), and a newcomer merges the bundles it gets into its timeline.
/// </summary>
internal sealed class HistoryOffers(ChatContext context, RoomCache rooms, RoomMessenger messenger)
{
    /// <summary>Offers the room's history to each member we let in who has not had it yet.</summary>
    public void Offer(IChatTransaction tx, Room room, IReadOnlyDictionary<PeerId, SessionSetup?> setups)
    {
        var state = room.Log.State;
        var me = context.Account.PublicKey;
        if (!state.HistoryEnabled || room.Timeline.Count == 0)
        {
            return;
        }
        foreach (var member in state.Members.Where(m => m.AddedByAccount.Equals(me) && !m.Account.Equals(me)))
        {
            var setting = $"history-offered/{room.IdText}/{member.Account.ToPeerId()}";
            if (tx.GetSetting(setting) is not null)
            {
                continue;
            }
            foreach (var bundle in HistoryBundle.Offer(state, room.Timeline.Messages))
            {
                messenger.SendControl(tx, room.Id, member.Account, new GroupControl { History = ByteString.CopyFrom(bundle) }, setups);
            }
            tx.PutSetting(setting, [1]);
        }
    }

    /// <summary>Adds the messages of a history bundle we were offered that we do not have.</summary>
    public void Merge(IChatTransaction tx, Room room, ReadOnlySpan<byte> bytes, DateTimeOffset now, List<Action> events)
    {
        HistoryBundle bundle;
        try
        {
            bundle = HistoryBundle.Parse(bytes, room.Id, context.Crypto);
        }
        catch (FormatException e)
        {
            ChatLog.HistoryRefused(context.Logger, e.Message);
            return;
        }
        var info = rooms.Info(room);
        foreach (var message in bundle.Messages)
        {
            if (room.Timeline.Add(message, fromHistory: true))
            {
                var record = RoomMessages.Record(message, null, message.Sender.Equals(context.Account.PublicKey), 0, unread: false, fromHistory: true, now);
                if (tx.InsertGroupMessage(record) && MessageLedger.Stored(tx, room, record, info, context.Events) is { } show)
                {
                    events.Add(show);
                }
            }
        }
    }
}
