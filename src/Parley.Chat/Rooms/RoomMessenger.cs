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
internal sealed class RoomMessenger(ChatContext context, PairwiseSessions sessions, Outbox outbox, Devices.DeviceFanout fanout, Directory.IUserDirectory directory)
{
    /// <summary>
    /// What an envelope adds around a room control's payload (sender identity, session, prekey and ratchet headers,
    /// the tag, the control's own fields, a mailbox's sealing): well under this.
    /// </summary>
    private const int EnvelopeHeadroom = 2048;

    /// <summary>
    /// The most bytes of entries, keys or records one room control carries: its envelope must fit what a member's chat
    /// stream reads (<see cref="ChatOptions.MaxEnvelopeBytes"/>) and what a mailbox takes (MailboxOptions.MaxEnvelopeSize),
    /// 64 KiB both by default. A larger one is refused by both routes, and stays in the outbox until it expires.
    /// </summary>
    public int MaxControlPayload => context.Options.MaxEnvelopeBytes - EnvelopeHeadroom;

    /// <summary>
    /// Items, in order, in batches of at most <paramref name="maxSize"/> bytes on the wire, each item counted as a
    /// length-delimited field (tag, length, bytes); an item larger than that goes alone.
    /// </summary>
    public static List<List<T>> Batches<T>(IEnumerable<T> items, Func<T, int> length, int maxSize)
    {
        var batches = new List<List<T>> { new() };
        var size = 0;
        foreach (var item in items)
        {
            var itemLength = length(item);
            var itemSize = 1 + CodedOutputStream.ComputeLengthSize(itemLength) + itemLength;
            if (size > 0 && size + itemSize > maxSize)
            {
                batches.Add([]);
                size = 0;
            }
            size += itemSize;
            batches[^1].Add(item);
        }
        return batches;
    }

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

    /// <summary>
    /// Sends membership entries to each of <paramref name="recipients"/> but us, in as many messages as the size bound
    /// asks, in the order given (parents first, so that each message's entries are taken as it arrives).
    /// </summary>
    public void Broadcast(IChatTransaction tx, Room room, IEnumerable<MembershipEntry> entries, IEnumerable<PublicKey> recipients, IReadOnlyDictionary<PeerId, SessionSetup?>? setups)
    {
        var batches = Batches(entries.Select(e => ByteString.CopyFrom(e.ToBytes())), e => e.Length, MaxControlPayload);
        foreach (var recipient in recipients.Where(r => !r.Equals(context.Account.PublicKey)).Distinct())
        {
            foreach (var batch in batches)
            {
                var control = new GroupEntries();
                control.Entries.AddRange(batch);
                SendControl(tx, room.Id, recipient, new GroupControl { Entries = control }, setups);
            }
        }
    }

    /// <summary>
    /// The whole log, the link key and the admin's handle: what lets an invited or approved member in. A log larger
    /// than one message goes in parts, each naming the log's heads, so that the newcomer knows when it has all of it.
    /// </summary>
    public void SendWelcome(IChatTransaction tx, Room room, PublicKey to, IReadOnlyDictionary<PeerId, SessionSetup?>? setups)
    {
        foreach (var welcome in Welcome(room))
        {
            SendControl(tx, room.Id, to, new GroupControl { Welcome = welcome }, setups);
        }
    }

    /// <summary>The parts of a welcome with the room's whole log.</summary>
    public IEnumerable<GroupWelcome> Welcome(Room room)
    {
        var header = new GroupWelcome { LinkKey = ByteString.CopyFrom(room.Log.LinkKey), AdminHandle = context.Handle.ToString() };
        header.Heads.AddRange(room.Log.Heads.Select(h => ByteString.CopyFrom(h.Span)));
        if (directory.PublishedRecords(context.Account.Id) is { } own && (own.Presence is not null || own.Prekeys is not null))
        {
            header.SenderRecords = RoomMembership.Records(context.Account.PublicKey, own);
        }
        // Room for the header and for the part numbers (two varints of at most 5 bytes, each with its tag).
        var entriesRoom = MaxControlPayload - header.CalculateSize() - 12;
        var parts = Batches(room.Log.Entries.Select(e => ByteString.CopyFrom(e.Entry.ToBytes())), e => e.Length, entriesRoom);
        for (var i = 0; i < parts.Count; i++)
        {
            var welcome = header.Clone();
            welcome.Part = (uint)i;
            welcome.Parts = (uint)parts.Count;
            welcome.Entries.AddRange(parts[i]);
            yield return welcome;
        }
    }

    /// <summary>
    /// Queues a copy of a room message's ciphertext for one member: for a member whose account we know has linked
    /// devices, one for each of them, each naming them all so that the member's devices pass it on to any we left out
    /// (docs/devices.md); the first device's copy is the one counted for the member.
    /// </summary>
    public void SendCopy(IChatTransaction tx, ContactRecord member, byte[] ciphertext, byte[] messageId)
    {
        if (fanout.TargetsOf(tx, member.Account) is not { } devices)
        {
            outbox.PutRoomCopy(tx, member.Account, ciphertext, messageId);
            return;
        }
        var addressed = devices.Select(d => d.Device).ToList();
        foreach (var device in devices)
        {
            outbox.PutRoomCopy(tx, member.Account, ciphertext, device.IsFirst ? messageId : null, device.Device, addressed);
        }
    }
}
