using Google.Protobuf;
using Parley.Chat.Delivery;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms;

/// <summary>
/// What a room sends: controls (membership entries, welcomes, sender keys, history, fetches) to one member over our
/// pairwise session with them, and a room message's one ciphertext as a copy per member through the outbox. All of it
/// inside the caller's transaction.
/// </summary>
internal sealed class RoomMessenger(ChatContext context, PairwiseSessions sessions, Outbox outbox)
{
    /// <summary>Encrypts a room control on the pairwise session with <paramref name="to"/> and queues it; false (and logged) when there is no way to reach them yet.</summary>
    public bool SendControl(IChatTransaction tx, Id256 room, PublicKey to, GroupControl control, IReadOnlyDictionary<PeerId, SessionSetup?>? setups)
    {
        var contact = tx.GetContact(to.ToPeerId());
        var setup = setups?.GetValueOrDefault(to.ToPeerId());
        if (contact is null || contact.State == ContactState.Blocked || (setup is null && !tx.HasSession(contact.Account)))
        {
            ChatLog.RoomControlUnsent(context.Logger, control.KindCase.ToString());
            return false;
        }
        control.GroupId = ByteString.CopyFrom(room.Span);
        if (contact.OurMailboxToken is { } token)
        {
            control.MailboxToken = ByteString.CopyFrom(token);
        }
        sessions.Queue(tx, contact, new Content { Group = control }, null, setup);
        return true;
    }

    /// <summary>Sends membership entries to each of <paramref name="recipients"/> but us.</summary>
    public void Broadcast(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> entries, IEnumerable<PublicKey> recipients, IReadOnlyDictionary<PeerId, SessionSetup?>? setups)
    {
        var control = new GroupEntries();
        control.Entries.AddRange(entries.Select(e => ByteString.CopyFrom(e.ToBytes())));
        foreach (var recipient in recipients.Where(r => !r.Equals(context.Account.PublicKey)).Distinct())
        {
            SendControl(tx, room.Id, recipient, new GroupControl { Entries = control.Clone() }, setups);
        }
    }

    /// <summary>The whole log, the link key and the admin's handle: what lets an invited or approved member in.</summary>
    public void SendWelcome(IChatTransaction tx, Room room, PublicKey to, IReadOnlyDictionary<PeerId, SessionSetup?>? setups)
    {
        var welcome = new GroupWelcome { LinkKey = ByteString.CopyFrom(room.Log.LinkKey), AdminHandle = context.Handle.ToString() };
        welcome.Entries.AddRange(room.Log.Entries.Select(e => ByteString.CopyFrom(e.Entry.ToBytes())));
        SendControl(tx, room.Id, to, new GroupControl { Welcome = welcome }, setups);
    }

    /// <summary>Queues a copy of a room message's ciphertext for one member.</summary>
    public void SendCopy(IChatTransaction tx, ContactRecord member, byte[] ciphertext, byte[] messageId) =>
        outbox.PutRoomCopy(tx, member.Account, ciphertext, messageId);
}
