namespace Parley.Chat.Groups;

/// <summary>Why a group message or a sender-key distribution was refused.</summary>
public enum GroupMessageFailure
{
    /// <summary>Not Parley's layout, or a field out of bounds.</summary>
    Malformed,

    /// <summary>For another room.</summary>
    WrongGroup,

    /// <summary>The sender has never been a member, as far as this member's log knows. May succeed once the log
    /// catches up (the engine keeps the ciphertext and retries after new membership entries).</summary>
    NotAMember,

    /// <summary>The sender was removed or left; its messages are refused from then on, including those of the epoch it
    /// was removed in, and chains from an earlier membership of an account added again.</summary>
    SenderRemoved,

    /// <summary>No chain for this sender, epoch and chain id: its distribution has not arrived (retry after it does),
    /// or it was never sent to us (as for a removed member).</summary>
    UnknownChain,

    /// <summary>The signature does not verify under the chain's signing key: forged, altered, or signed by someone else.</summary>
    BadSignature,

    /// <summary>The message key was already used or deleted.</summary>
    Replayed,

    /// <summary>Reading it would skip more than <see cref="GroupSession.MaxSkip"/> message keys.</summary>
    TooManySkipped,

    /// <summary>The AEAD tag does not verify.</summary>
    AuthenticationFailed,
}

/// <summary>A group message or distribution was refused; the session is unchanged.</summary>
public sealed class GroupMessageException : Exception
{
    public GroupMessageException()
        : this(GroupMessageFailure.Malformed, "the group message was refused")
    {
    }

    public GroupMessageException(string message)
        : this(GroupMessageFailure.Malformed, message)
    {
    }

    public GroupMessageException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = GroupMessageFailure.Malformed;
    }

    public GroupMessageException(GroupMessageFailure reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    public GroupMessageFailure Reason { get; }
}
