using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>A member: who, how shown, whether admin, and the entry that made them a member (and its author).</summary>
/// <param name="AddedBy">The Create, Join or Approve entry that began this membership; sender-key chains are bound to it.</param>
/// <param name="AddedByAccount">Who let them in: the creator, the inviter, or the approving admin.</param>
public sealed record GroupMember(PublicKey Account, string DisplayName, bool IsAdmin, Id256 AddedBy, PublicKey AddedByAccount);

/// <summary>An invitation not yet accepted by a Join.</summary>
public sealed record PendingInvitation(PublicKey Account, string DisplayName, PublicKey InvitedBy, Id256 Entry);

/// <summary>A request not yet approved or denied.</summary>
public sealed record PendingRequest(PublicKey Account, string DisplayName, Id256 Entry);

/// <summary>
/// The epoch: which sender keys are current. It changes on every effective Remove, Leave and RemoveDevice. Its id
/// chains them in log order (docs/groups.md section 2), so every member that has the same log has the same epoch.
/// </summary>
/// <param name="Number">How many removals, leaves and device removals took effect before it (0 for the room's first epoch).</param>
/// <param name="StartedBy">The Create, Remove, Leave or RemoveDevice entry that began it.</param>
public sealed record GroupEpoch(ulong Number, Id256 Id, Id256 StartedBy);

/// <summary>One line of the audit list: who changed what, in log order; void entries are kept, with the reason.</summary>
public sealed record GroupChange(
    Id256 Entry,
    MembershipKind Kind,
    PublicKey Author,
    string AuthorName,
    PublicKey? Target,
    string? TargetName,
    string? RoomName,
    bool? History,
    ulong Lamport,
    long TimestampMs,
    MembershipFailure? VoidReason,
    string? VoidDetail)
{
    public bool IsVoid => VoidReason is not null;

    /// <summary>A one-line description for people, e.g. "alice removed carol" or "bob promoted carol (void: ...)".</summary>
    public string Describe()
    {
        var text = Kind switch
        {
            MembershipKind.Create => $"{AuthorName} created the room \"{RoomName}\"",
            MembershipKind.Invite => $"{AuthorName} invited {TargetName}",
            MembershipKind.Join => $"{AuthorName} joined",
            MembershipKind.Request => $"{AuthorName} asked to join",
            MembershipKind.Approve => $"{AuthorName} approved {TargetName}",
            MembershipKind.Deny => $"{AuthorName} denied {TargetName}",
            MembershipKind.Remove => $"{AuthorName} removed {TargetName}",
            MembershipKind.Leave => $"{AuthorName} left",
            MembershipKind.Promote => $"{AuthorName} made {TargetName} an admin",
            MembershipKind.Demote => $"{AuthorName} took admin rights from {TargetName}",
            MembershipKind.Rename => $"{AuthorName} renamed the room to \"{RoomName}\"",
            MembershipKind.SetHistory => $"{AuthorName} turned history for new members {(History == true ? "on" : "off")}",
            MembershipKind.RemoveDevice => $"{AuthorName} removed a device (new keys)",
            _ => $"{AuthorName}: {Kind}",
        };
        return IsVoid ? $"{text} (void: {VoidDetail})" : text;
    }
}

/// <summary>
/// The room as the membership log says it is after replaying every entry in log order (docs/groups.md section 1).
/// An immutable snapshot: <see cref="MembershipLog.State"/> makes a new one after each change.
/// </summary>
public sealed class GroupState
{
    private readonly Dictionary<PublicKey, GroupMember> _members;

    internal GroupState(
        Id256 groupId,
        string name,
        bool historyEnabled,
        GroupEpoch epoch,
        IReadOnlyList<GroupMember> members,
        IReadOnlyList<PendingInvitation> invitations,
        IReadOnlyList<PendingRequest> requests,
        IReadOnlyDictionary<PublicKey, Id256> departures,
        IReadOnlyList<GroupChange> audit)
    {
        GroupId = groupId;
        Name = name;
        HistoryEnabled = historyEnabled;
        Epoch = epoch;
        Members = members;
        Invitations = invitations;
        Requests = requests;
        Departures = departures;
        Audit = audit;
        _members = members.ToDictionary(m => m.Account);
        Admins = [.. members.Where(m => m.IsAdmin).Select(m => m.Account)];
    }

    public Id256 GroupId { get; }

    public string Name { get; }

    /// <summary>Whether members offer past messages to new members.</summary>
    public bool HistoryEnabled { get; }

    public GroupEpoch Epoch { get; }

    /// <summary>Members in the order they were added (log order of the entry that added them).</summary>
    public IReadOnlyList<GroupMember> Members { get; }

    public IReadOnlyList<PublicKey> Admins { get; }

    public IReadOnlyList<PendingInvitation> Invitations { get; }

    public IReadOnlyList<PendingRequest> Requests { get; }

    /// <summary>Accounts that are not members now because an effective Remove or Leave ended their membership, with
    /// that entry. An account added again is listed only as a member.</summary>
    public IReadOnlyDictionary<PublicKey, Id256> Departures { get; }

    /// <summary>Every entry of the log in log order, void ones included.</summary>
    public IReadOnlyList<GroupChange> Audit { get; }

    public GroupMember? Member(PublicKey account) => _members.GetValueOrDefault(account);

    public bool IsMember(PublicKey account) => _members.ContainsKey(account);

    public bool IsAdmin(PublicKey account) => _members.TryGetValue(account, out var member) && member.IsAdmin;
}
