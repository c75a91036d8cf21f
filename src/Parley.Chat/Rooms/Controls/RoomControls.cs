using Parley.Chat.Contacts;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>Hands each room control that arrives to the handler of its kind.</summary>
internal sealed class RoomControls
{
    private readonly ChatContext _context;
    private readonly RoomCache _rooms;
    private readonly Dictionary<GroupControl.KindOneofCase, IRoomControlHandler> _handlers;

    public RoomControls(ChatContext context, RoomCache rooms, IEnumerable<IRoomControlHandler> handlers)
    {
        _context = context;
        _rooms = rooms;
        _handlers = handlers.ToDictionary(h => h.Kind);
    }

    /// <summary>Handles a room control from <paramref name="sender"/> inside the receive transaction; call under the rooms' lock.</summary>
    /// <exception cref="EnvelopeRefusedException">The control names no room, or its handler refused it.</exception>
    public void Apply(IChatTransaction tx, GroupControl control, ContactRecord sender, DateTimeOffset now, List<Action> events, HashSet<Id256> followUps)
    {
        if (control.MailboxToken.Length == ChatContext.MailboxTokenLength && !control.MailboxToken.Span.SequenceEqual(sender.TheirMailboxToken))
        {
            tx.PutContact(sender with { TheirMailboxToken = control.MailboxToken.ToByteArray() });
        }
        Id256 id;
        try
        {
            id = Id256.FromBytes(control.GroupId.Span);
        }
        catch (FormatException)
        {
            throw new EnvelopeRefusedException("room control without a room id");
        }
        var input = new RoomControlInput(tx, id, _rooms.Get(tx, id), control, sender, now, events, followUps);
        if (!_handlers.TryGetValue(control.KindCase, out var handler) || !handler.Handle(input))
        {
            ChatLog.RoomControlIgnored(_context.Logger, control.KindCase.ToString(), sender.Account);
        }
        NameFromRoom(tx, id, sender);
    }

    /// <summary>
    /// A room peer first heard of through a control (a welcome, a sender key) is stored before its name is known: it
    /// takes the name the room's log gives it, which stays known after it leaves the room.
    /// </summary>
    private void NameFromRoom(IChatTransaction tx, Id256 id, ContactRecord sender)
    {
        if (sender is not { State: ContactState.GroupPeer, Name: ContactBook.UnknownName } || _rooms.Get(tx, id) is not { HasLog: true } room ||
            RoomMembership.NameOf(room.Log.State, sender.AccountKey) is not { } name)
        {
            return;
        }
        var current = tx.GetContact(sender.Account) ?? sender;
        tx.PutContact(current with { Name = GroupMemberInfo.Of(name, sender.AccountKey, false).Handle.Name });
    }
}
