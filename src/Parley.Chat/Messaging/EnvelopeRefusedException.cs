namespace Parley.Chat.Messaging;

/// <summary>Thrown inside a receive transaction to roll it back and refuse the envelope; the message says why.</summary>
internal sealed class EnvelopeRefusedException(string message) : Exception(message);
