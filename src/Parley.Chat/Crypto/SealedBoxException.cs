namespace Parley.Chat.Crypto;

/// <summary>A sealed box could not be opened: truncated, unknown version, not for this key, or altered.</summary>
public sealed class SealedBoxException : Exception
{
    public SealedBoxException()
        : base("the sealed box could not be opened")
    {
    }

    public SealedBoxException(string message)
        : base(message)
    {
    }

    public SealedBoxException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
