namespace Parley.Chat.Crypto;

/// <summary>Why a message (or a peer's key) was refused.</summary>
public enum RatchetFailure
{
    /// <summary>The header or message does not have Parley's layout, or a size is out of bounds.</summary>
    Malformed,

    /// <summary>A peer's X25519 key has the wrong length or is of low order.</summary>
    InvalidKey,

    /// <summary>The message key was already used or deleted: a replay, or a message older than the kept skipped keys.</summary>
    Replayed,

    /// <summary>Decrypting would mean skipping more than <see cref="RatchetSession.MaxSkip"/> message keys in one chain.</summary>
    TooManySkipped,

    /// <summary>The AEAD tag did not verify: forged, tampered, another session's message, or another associated data.</summary>
    AuthenticationFailed,
}

/// <summary>An X3DH or Double Ratchet input was refused. The session, if any, is unchanged.</summary>
public sealed class RatchetException : Exception
{
    public RatchetException()
        : this(RatchetFailure.Malformed, "the ratchet input was refused")
    {
    }

    public RatchetException(string message)
        : this(RatchetFailure.Malformed, message)
    {
    }

    public RatchetException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = RatchetFailure.Malformed;
    }

    public RatchetException(RatchetFailure reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    public RatchetFailure Reason { get; }
}
