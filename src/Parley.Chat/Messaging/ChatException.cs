namespace Parley.Chat.Messaging;

/// <summary>A chat operation cannot be done as asked; the message says why in words for the user.</summary>
public sealed class ChatException : Exception
{
    public ChatException(string message)
        : base(message)
    {
    }

    public ChatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public ChatException()
    {
    }
}
