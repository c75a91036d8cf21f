namespace Parley.Chat.Messaging;

/// <summary>
/// The chat core's events, raised by whichever part made the change and shown to callers as <see cref="ChatClient"/>'s
/// events. Raised after the change is committed; a failing handler is logged, not thrown.
/// </summary>
internal sealed class ChatEventHub(Microsoft.Extensions.Logging.ILogger logger)
{
    /// <summary>The object handlers see as the sender: the facade, once it is built.</summary>
    public object? Sender { get; set; }

    public EventHandler<MessageEventArgs>? MessageReceived { get; set; }

    public EventHandler<MessageEventArgs>? MessageStateChanged { get; set; }

    public EventHandler<ContactEventArgs>? ContactChanged { get; set; }

    public EventHandler<GroupEventArgs>? GroupChanged { get; set; }

    public EventHandler<GroupMessageEventArgs>? GroupMessageReceived { get; set; }

    public EventHandler<GroupMessageEventArgs>? GroupMessageChanged { get; set; }

    public EventHandler<SessionResetEventArgs>? SessionReset { get; set; }

    public EventHandler<Files.FileEventArgs>? FileChanged { get; set; }

    /// <summary>Told of each message whose delivery moved on: what a file it carries waits for follows from it.</summary>
    public Action<MessageRecord>? DeliveryMovedOn { get; set; }

    public EventHandler<MessageEventArgs>? MessageUpdated { get; set; }

    public EventHandler<GroupMessageEventArgs>? GroupMessageUpdated { get; set; }

    public EventHandler<TypingEventArgs>? TypingChanged { get; set; }

    public EventHandler<PresenceEventArgs>? PresenceChanged { get; set; }

    public void OnMessageReceived(MessageRecord message, ContactRecord contact) => Raise(MessageReceived, new MessageEventArgs(message, contact));

    /// <summary>An action of ours (an edit, a reaction) travels like a message but is shown only through its target: its delivery is no news.</summary>
    public void OnMessageStateChanged(MessageRecord message, ContactRecord contact)
    {
        if (message.Kind == MessageKind.Text)
        {
            Raise(MessageStateChanged, new MessageEventArgs(message, contact));
            DeliveryMovedOn?.Invoke(message);
        }
    }

    public void OnMessageUpdated(MessageRecord message, ContactRecord contact) => Raise(MessageUpdated, new MessageEventArgs(message, contact));

    public void OnGroupMessageUpdated(GroupMessageRecord message, GroupInfo group) => Raise(GroupMessageUpdated, new GroupMessageEventArgs(message, group));

    public void OnTypingChanged(ContactRecord contact, bool typing) => Raise(TypingChanged, new TypingEventArgs(contact, typing));

    public void OnPresenceChanged(ContactRecord contact, ContactPresence presence) => Raise(PresenceChanged, new PresenceEventArgs(contact, presence));

    public void OnContactChanged(ContactRecord contact) => Raise(ContactChanged, new ContactEventArgs(contact));

    public void OnGroupChanged(GroupInfo group) => Raise(GroupChanged, new GroupEventArgs(group));

    public void OnGroupMessageReceived(GroupMessageRecord message, GroupInfo group) => Raise(GroupMessageReceived, new GroupMessageEventArgs(message, group));

    public void OnGroupMessageChanged(GroupMessageRecord message, GroupInfo group)
    {
        if (message.Kind == MessageKind.Text)
        {
            Raise(GroupMessageChanged, new GroupMessageEventArgs(message, group));
        }
    }

    public void OnSessionReset(ContactRecord contact, SessionResetKind kind, int resent) => Raise(SessionReset, new SessionResetEventArgs(contact, kind, resent));

    public void OnFileChanged(Files.ChatFile file) => Raise(FileChanged, new Files.FileEventArgs(file));

    private void Raise<T>(EventHandler<T>? handler, T args)
    {
        try
        {
            handler?.Invoke(Sender, args);
        }
        catch (Exception e)
        {
            ChatLog.EventHandlerFailed(logger, e);
        }
    }
}
