namespace Parley.Chat.Groups;

/// <summary>What a membership entry does. The values are the wire values (<c>MembershipKindProto</c>).</summary>
public enum MembershipKind
{
    /// <summary>The root: the author creates the room and is its first admin.</summary>
    Create = 1,

    /// <summary>An admin invites an account; it becomes a member when it signs a <see cref="Join"/>.</summary>
    Invite = 2,

    /// <summary>An invited account accepts the invitation.</summary>
    Join = 3,

    /// <summary>An account holding the room's link asks to join.</summary>
    Request = 4,

    /// <summary>An admin accepts a request; the requester becomes a member.</summary>
    Approve = 5,

    /// <summary>An admin refuses a request.</summary>
    Deny = 6,

    /// <summary>An admin removes a member (a new epoch) or withdraws an invitation.</summary>
    Remove = 7,

    /// <summary>A member leaves (a new epoch).</summary>
    Leave = 8,

    /// <summary>An admin makes a member an admin.</summary>
    Promote = 9,

    /// <summary>An admin takes admin rights from an admin.</summary>
    Demote = 10,

    /// <summary>An admin renames the room.</summary>
    Rename = 11,

    /// <summary>An admin turns history for new members on or off.</summary>
    SetHistory = 12,

    /// <summary>A member removed one of its account's devices (docs/devices.md): the target is the device key, and a
    /// new epoch begins, so that every member's new chain reaches only the devices still listed.</summary>
    RemoveDevice = 13,
}

/// <summary>Why a membership entry was rejected by <see cref="MembershipLog.Add(MembershipEntry)"/>, or why a kept entry is void.</summary>
public enum MembershipFailure
{
    /// <summary>The bytes are not a well-formed entry, or a field is missing, not allowed for its kind, or out of bounds.</summary>
    Malformed,

    /// <summary>The encoding is larger than <see cref="MembershipEntry.MaxEncodedLength"/>.</summary>
    Oversized,

    /// <summary>The signature does not verify under the author's key.</summary>
    ForgedSignature,

    /// <summary>The entry belongs to another room.</summary>
    WrongGroup,

    /// <summary>The Lamport clock is not 1 + the largest of its parents'.</summary>
    BadClock,

    /// <summary>The log already has a different Create entry.</summary>
    SecondCreate,

    /// <summary>A Request whose proof of holding the room's link does not verify, or a Create committing to another link key.</summary>
    BadLinkProof,

    /// <summary>The author does not hold the right the kind needs (admin, member, invitee, non-member).</summary>
    NotAuthorized,

    /// <summary>The target is not in the state the kind needs (not a member, already a member, no pending request, ...).</summary>
    InvalidTarget,

    /// <summary>Too many entries are waiting for their parents; this one was not held.</summary>
    TooManyPending,
}

/// <summary>An entry refused, or a change that cannot be made, with the reason.</summary>
public sealed class MembershipException : Exception
{
    public MembershipException()
        : this(MembershipFailure.Malformed, "the membership change was refused")
    {
    }

    public MembershipException(string message)
        : this(MembershipFailure.Malformed, message)
    {
    }

    public MembershipException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = MembershipFailure.Malformed;
    }

    public MembershipException(MembershipFailure reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    public MembershipFailure Reason { get; }
}
