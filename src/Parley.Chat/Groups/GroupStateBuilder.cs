using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// Replays membership entries in log order and holds the resulting state. <see cref="Check"/> is the rights table
/// (docs/groups.md section 1): the same function decides whether an entry is rejected (checked against the state
/// at its parents) and whether a kept entry is void (checked at its place in the log order).
/// </summary>
internal sealed class GroupStateBuilder(ICryptoProvider crypto, Id256 groupId)
{
    private static readonly byte[] EpochDomain = "parley-group-epoch:"u8.ToArray();

    private readonly Dictionary<PublicKey, MemberRecord> _members = [];
    private readonly Dictionary<PublicKey, PendingInvitation> _invitations = [];
    private readonly Dictionary<PublicKey, PendingRequest> _requests = [];
    private readonly Dictionary<PublicKey, Id256> _departures = [];
    private readonly List<GroupChange> _audit = [];
    private string _name = "";
    private bool _history;
    private GroupEpoch? _epoch;
    private int _adminCount;

    public bool HasCreate => _epoch is not null;

    /// <summary>Null when <paramref name="entry"/> may be applied here; otherwise why not.</summary>
    public (MembershipFailure Reason, string Detail)? Check(MembershipEntry entry)
    {
        if (entry.Kind == MembershipKind.Create)
        {
            return HasCreate ? (MembershipFailure.SecondCreate, "the room already has a Create entry") : null;
        }
        if (!HasCreate)
        {
            return (MembershipFailure.NotAuthorized, "the entry does not descend from the room's Create entry");
        }
        var author = entry.Author;
        var target = entry.Target;
        var authorIsAdmin = _members.TryGetValue(author, out var authorRecord) && authorRecord.IsAdmin;
        var needsAdmin = entry.Kind is MembershipKind.Invite or MembershipKind.Approve or MembershipKind.Deny or MembershipKind.Remove
            or MembershipKind.Promote or MembershipKind.Demote or MembershipKind.Rename or MembershipKind.SetHistory;
        if (needsAdmin && !authorIsAdmin)
        {
            return (MembershipFailure.NotAuthorized, $"{entry.Kind} needs an admin, and {NameOf(author)} is not one");
        }
        return entry.Kind switch
        {
            MembershipKind.Invite when _members.ContainsKey(target!) => Invalid($"{NameOf(target!)} is already a member"),
            MembershipKind.Join when _members.ContainsKey(author) => Invalid($"{NameOf(author)} is already a member"),
            MembershipKind.Join when !_invitations.ContainsKey(author) =>
                (MembershipFailure.NotAuthorized, $"{NameOf(author)} has no pending invitation"),
            MembershipKind.Request when _members.ContainsKey(author) =>
                (MembershipFailure.NotAuthorized, $"{NameOf(author)} is already a member"),
            MembershipKind.Approve or MembershipKind.Deny when !_requests.ContainsKey(target!) =>
                Invalid($"{NameOf(target!)} has no pending request"),
            MembershipKind.Remove when target == author => Invalid("an admin leaves with Leave, not by removing itself"),
            MembershipKind.Remove when !_members.ContainsKey(target!) && !_invitations.ContainsKey(target!) =>
                Invalid($"{NameOf(target!)} is neither a member nor invited"),
            MembershipKind.Leave or MembershipKind.RemoveDevice when !_members.ContainsKey(author) =>
                (MembershipFailure.NotAuthorized, $"{NameOf(author)} is not a member"),
            MembershipKind.Promote when !_members.TryGetValue(target!, out var member) || member.IsAdmin =>
                Invalid($"{NameOf(target!)} is not a member without admin rights"),
            MembershipKind.Demote when !_members.TryGetValue(target!, out var member) || !member.IsAdmin =>
                Invalid($"{NameOf(target!)} is not an admin"),
            MembershipKind.Demote when _adminCount == 1 => Invalid("the room would be left without an admin"),
            _ => null,
        };

        static (MembershipFailure, string) Invalid(string detail) => (MembershipFailure.InvalidTarget, detail);
    }

    /// <summary>Applies <paramref name="entry"/>, or records it as void; returns the void reason, if any.</summary>
    public (MembershipFailure Reason, string Detail)? Apply(MembershipEntry entry)
    {
        var failure = Check(entry);
        // Create, Request and Join name their own author; the names are read before the entry changes them.
        var authorName = entry.Kind is MembershipKind.Create or MembershipKind.Request or MembershipKind.Join && entry.MemberName is not null
            ? entry.MemberName
            : NameOf(entry.Author);
        var targetName = entry.Kind == MembershipKind.Invite ? entry.MemberName : entry.Target is null ? null : NameOf(entry.Target);
        if (failure is null)
        {
            Effect(entry);
        }
        _audit.Add(new GroupChange(
            entry.Id,
            entry.Kind,
            entry.Author,
            authorName,
            entry.Target,
            targetName,
            entry.RoomName,
            entry.History,
            entry.Lamport,
            entry.TimestampMs,
            failure?.Reason,
            failure?.Detail));
        return failure;
    }

    public GroupState Snapshot()
    {
        var members = _members.Values
            .OrderBy(m => m.AddedLamport)
            .ThenBy(m => m.AddedBy)
            .Select(m => new GroupMember(m.Account, m.DisplayName, m.IsAdmin, m.AddedBy, m.AddedByAccount))
            .ToArray();
        return new GroupState(
            groupId,
            _name,
            _history,
            _epoch ?? throw new InvalidOperationException("the log has no Create entry yet"),
            members,
            [.. _invitations.Values.OrderBy(i => i.Entry)],
            [.. _requests.Values.OrderBy(r => r.Entry)],
            new Dictionary<PublicKey, Id256>(_departures),
            [.. _audit]);
    }

    private void Effect(MembershipEntry entry)
    {
        var author = entry.Author;
        var target = entry.Target;
        switch (entry.Kind)
        {
            case MembershipKind.Create:
                _name = entry.RoomName!;
                _history = entry.History!.Value;
                AddMember(author, entry.MemberName!, entry, author, isAdmin: true);
                Span<byte> first = stackalloc byte[32];
                crypto.Sha256(new CanonicalWriter(EpochDomain).Raw(groupId.Span).Raw(entry.Id.Span).ToArray(), first);
                _epoch = new GroupEpoch(0, Id256.FromBytes(first), entry.Id);
                break;
            case MembershipKind.Invite:
                _invitations[target!] = new PendingInvitation(target!, entry.MemberName!, author, entry.Id);
                break;
            case MembershipKind.Join:
                var invitation = _invitations[author];
                AddMember(author, entry.MemberName ?? invitation.DisplayName, entry, invitation.InvitedBy, isAdmin: false);
                break;
            case MembershipKind.Request:
                _requests[author] = new PendingRequest(author, entry.MemberName!, entry.Id);
                break;
            case MembershipKind.Approve:
                AddMember(target!, _requests[target!].DisplayName, entry, author, isAdmin: false);
                break;
            case MembershipKind.Deny:
                _requests.Remove(target!);
                break;
            case MembershipKind.Remove when _members.ContainsKey(target!):
            case MembershipKind.Leave:
                Depart(target ?? author, entry);
                break;
            case MembershipKind.Remove:
                _invitations.Remove(target!);
                break;
            case MembershipKind.Promote:
                _members[target!].IsAdmin = true;
                _adminCount++;
                break;
            case MembershipKind.Demote:
                _members[target!].IsAdmin = false;
                _adminCount--;
                break;
            case MembershipKind.Rename:
                _name = entry.RoomName!;
                break;
            case MembershipKind.SetHistory:
                _history = entry.History!.Value;
                break;
            case MembershipKind.RemoveDevice:
                NextEpoch(entry);
                break;
            default:
                throw new InvalidOperationException($"unhandled kind {entry.Kind}");
        }
    }

    private void AddMember(PublicKey account, string name, MembershipEntry entry, PublicKey addedBy, bool isAdmin)
    {
        _members[account] = new MemberRecord(account, name, entry.Id, entry.Lamport, addedBy) { IsAdmin = isAdmin };
        _adminCount += isAdmin ? 1 : 0;
        _invitations.Remove(account);
        _requests.Remove(account);
        _departures.Remove(account);
    }

    private void Depart(PublicKey account, MembershipEntry entry)
    {
        if (_members.Remove(account, out var record) && record.IsAdmin)
        {
            _adminCount--;
        }
        _departures[account] = entry.Id;
        NextEpoch(entry);
    }

    /// <summary>Every effective Remove, Leave and RemoveDevice starts an epoch: its id chains the entries that began them.</summary>
    private void NextEpoch(MembershipEntry entry)
    {
        var previous = _epoch!;
        Span<byte> next = stackalloc byte[32];
        crypto.Sha256(new CanonicalWriter(EpochDomain).Raw(previous.Id.Span).Raw(entry.Id.Span).ToArray(), next);
        _epoch = new GroupEpoch(previous.Number + 1, Id256.FromBytes(next), entry.Id);
    }

    /// <summary>The best name known for an account: member, invitee, requester, or its peer id.</summary>
    private string NameOf(PublicKey account) =>
        _members.TryGetValue(account, out var member) ? member.DisplayName
        : _invitations.TryGetValue(account, out var invitation) ? invitation.DisplayName
        : _requests.TryGetValue(account, out var request) ? request.DisplayName
        : account.ToPeerId().ToString();

    private sealed class MemberRecord(PublicKey account, string displayName, Id256 addedBy, ulong addedLamport, PublicKey addedByAccount)
    {
        public PublicKey Account { get; } = account;

        public string DisplayName { get; } = displayName;

        public Id256 AddedBy { get; } = addedBy;

        public ulong AddedLamport { get; } = addedLamport;

        public PublicKey AddedByAccount { get; } = addedByAccount;

        public bool IsAdmin { get; set; }
    }
}
