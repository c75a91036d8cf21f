namespace Parley.Chat.Crypto;

/// <summary>The passphrase does not open the protected bytes (or they were altered: the two cannot be told apart).</summary>
public sealed class WrongPassphraseException : Exception
{
    public WrongPassphraseException()
        : base("wrong passphrase, or the protected data was altered")
    {
    }

    public WrongPassphraseException(string message)
        : base(message)
    {
    }

    public WrongPassphraseException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
