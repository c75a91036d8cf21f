namespace Parley.Chat.Messaging;

/// <summary>Thrown inside a receive transaction to roll it back and refuse the envelope; the message says why.</summary>
/// <param name="sessionUnreadable">
/// The envelope is well formed but its session cannot decrypt it (gone, or at another point than the sender's, as after
/// a restored backup): session repair asks the sender for a new session.
/// </param>
internal sealed class EnvelopeRefusedException(string message, bool sessionUnreadable = false) : Exception(message)
{
    public bool SessionUnreadable { get; } = sessionUnreadable;
}
