using Parley.Chat.Directory;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms.Controls;

/// <summary>
/// Sender keys: the sender's own chain, or chains an admin passes on (with the membership entries it passes on, taken
/// first). Each is installed and the messages that waited
/// for it are read; kept until the welcome when they came first. Members' directory records that come along are
/// handed to the directory, which checks them when they are first needed. An admin passes on what it gets at its
/// next sync.
/// </summary>
internal sealed class KeysHandler(RoomMessages messages, EntriesHandler entries, IUserDirectory directory, ChatContext context, RoomDevices devices) : IRoomControlHandler
{
    /// <summary>Bound on one member's records (a presence or prekey record is well under 4 KiB).</summary>
    private const int MaxRecordsSize = 16 * 1024;

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
        if (input.Control.Keys.Entries.Count > 0)
        {
            // The entries the keys go with first: a chain's owner is a member once its Join is in.
            entries.Take(input, input.Control.Keys.Entries);
        }
        var state = room.Log.State;
        var installed = new List<Google.Protobuf.ByteString>();
        foreach (var distribution in distributions)
        {
            try
            {
                // An owner's signature on a chain passed on is checked at the chain's first message (or before we
                // pass it on): after a removal a member gets every other member's new chain, few of which it may read.
                var result = room.Session.ReceiveDistribution(input.Sender.AccountKey, distribution.Span, state, deferOwnerCheck: true);
                if (result.Chain is { } chain)
                {
                    room.Timeline.ExpectChain(chain);
                }
                if (result.Status == DistributionStatus.Installed)
                {
                    installed.Add(distribution);
                }
            }
            catch (GroupMessageException e)
            {
                ChatLog.SenderKeyRefused(context.Logger, e.Message);
            }
        }
        var me = context.Account.PublicKey;
        foreach (var records in input.Control.Keys.Records)
        {
            PublicKey account;
            try
            {
                account = PublicKey.FromProtobuf(records.Account.Span);
            }
            catch (FormatException)
            {
                continue;
            }
            if (account.Equals(me) || !state.IsMember(account) || records.CalculateSize() > MaxRecordsSize)
            {
                continue;
            }
            directory.Remember(account.ToPeerId(), new PublishedRecords(
                records.Presence.Length == 0 ? null : records.Presence.ToByteArray(),
                records.Prekeys.Length == 0 ? null : records.Prekeys.ToByteArray()));
            room.MemberRecords[account] = records;
        }
        // Messages that waited for these chains are read now. A new chain changes nothing else for a member, so no
        // room sync (which visits every member) follows, except on an admin, which passes the chains on.
        messages.ReadPending(input.Tx, room, input.Events);
        RoomCache.Save(input.Tx, room, []);
        // Our other devices get the chains other members sent us as they came (docs/devices.md); ours they have from us.
        var forwarded = input.Sender.AccountKey.Equals(me) || devices.ForwardKeys(input.Tx, room, installed);
        if ((installed.Count > 0 && state.IsAdmin(me)) || !forwarded)
        {
            input.FollowUps.Add(input.Id);
        }
        return true;
    }
}
