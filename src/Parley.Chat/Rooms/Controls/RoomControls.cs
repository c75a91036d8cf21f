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
    }
}
