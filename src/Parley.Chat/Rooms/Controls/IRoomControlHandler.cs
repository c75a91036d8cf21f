using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Rooms.Controls;

/// <summary>One room control that arrived over a pairwise session, handled inside the receive transaction.</summary>
/// <param name="Room">The room it names, or null when we hold no such room.</param>
/// <param name="Events">Events to raise after the commit.</param>
/// <param name="FollowUps">Rooms that need a sync (network work: sender keys, history) once the transaction is committed.</param>
internal sealed record RoomControlInput(
    IChatTransaction Tx,
    Id256 Id,
    Room? Room,
    GroupControl Control,
    ContactRecord Sender,
    DateTimeOffset Now,
    List<Action> Events,
    HashSet<Id256> FollowUps);

/// <summary>Handles one kind of room control (docs/groups.md section 6).</summary>
internal interface IRoomControlHandler
{
    GroupControl.KindOneofCase Kind { get; }

    /// <summary>Applies the control; false when it does not apply to the room as we hold it (then it is ignored).</summary>
    /// <exception cref="EnvelopeRefusedException">The control is invalid: the whole envelope is refused.</exception>
    bool Handle(RoomControlInput input);
}
