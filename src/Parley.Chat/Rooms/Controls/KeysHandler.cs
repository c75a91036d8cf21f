using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>
/// Sender keys: the sender's own chain, or chains an admin passes on. Each is installed and the messages that waited
/// for it are read; kept until the welcome when they came first. An admin passes on what it gets at its next sync.
/// </summary>
internal sealed class KeysHandler(RoomMessages messages, ChatContext context) : IRoomControlHandler
{
    public GroupControl.KindOneofCase Kind => GroupControl.KindOneofCase.Keys;

    public bool Handle(RoomControlInput input)
    {
        var distributions = input.Control.Keys.Distributions;
        switch (input.Room)
        {
            case null:
                return false;
            case { HasLog: false } early:
                foreach (var distribution in distributions.Take(GroupSession.MaxHeldDistributions - early.EarlyDistributions.Count))
                {
                    early.EarlyDistributions.Add((input.Sender, distribution));
                }
                return true;
        }
        var room = input.Room;
        var state = room.Log.State;
        var installed = false;
        foreach (var distribution in distributions)
        {
            try
            {
                var result = room.Session.ReceiveDistribution(input.Sender.AccountKey, distribution.Span, state);
                if (result.Chain is { } chain)
                {
                    room.Timeline.ExpectChain(chain);
                }
                installed |= result.Status == DistributionStatus.Installed;
            }
            catch (GroupMessageException e)
            {
                ChatLog.SenderKeyRefused(context.Logger, e.Message);
            }
        }
        // Messages that waited for these chains are read now. A new chain changes nothing else for a member, so no
        // room sync (which visits every member) follows, except on an admin, which passes the chains on.
        messages.ReadPending(input.Tx, room, input.Events);
        RoomCache.Save(input.Tx, room, []);
        if (installed && state.IsAdmin(context.Account.PublicKey))
        {
            input.FollowUps.Add(input.Id);
        }
        return true;
    }
}
