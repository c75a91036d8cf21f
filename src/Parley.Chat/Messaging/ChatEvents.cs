namespace Parley.Chat.Messaging;

/// <summary>A message arrived, or one of ours changed delivery state.</summary>
public sealed class MessageEventArgs(MessageRecord message, ContactRecord contact) : EventArgs
{
    public MessageRecord Message { get; } = message;

    public ContactRecord Contact { get; } = contact;
}

/// <summary>A contact was added or changed state (a request arrived, was accepted or blocked).</summary>
public sealed class ContactEventArgs(ContactRecord contact) : EventArgs
{
    public ContactRecord Contact { get; } = contact;
}
