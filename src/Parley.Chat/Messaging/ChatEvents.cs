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

/// <summary>Which side of a session repair this user was on (docs/messaging.md, "Session repair").</summary>
public enum SessionResetKind
{
    /// <summary>A message from the contact could not be decrypted; they were asked to start a new session and resend.</summary>
    Requested,

    /// <summary>At the contact's request, a new session was started and what was still queued for them was sent again on it.</summary>
    Restarted,
}

/// <summary>A session with a contact was found broken and is being repaired; <see cref="Resent"/> messages were sent again.</summary>
public sealed class SessionResetEventArgs(ContactRecord contact, SessionResetKind kind, int resent) : EventArgs
{
    public ContactRecord Contact { get; } = contact;

    public SessionResetKind Kind { get; } = kind;

    /// <summary>How many of our queued messages were encrypted again on the new session (with <see cref="SessionResetKind.Restarted"/>).</summary>
    public int Resent { get; } = resent;

    /// <summary>What to tell the user, in plain words.</summary>
    public string Notice => Kind == SessionResetKind.Requested
        ? $"a message from {Contact.Handle} could not be decrypted (your copies of the session differ, as after restoring a backup); asked {Contact.Handle} for a new session"
        : $"your session with {Contact.Handle} was reset; {Resent} queued message{(Resent == 1 ? "" : "s")} resent";
}

/// <summary>An accepted contact started or stopped typing to us (ephemeral: never stored).</summary>
public sealed class TypingEventArgs(ContactRecord contact, bool typing) : EventArgs
{
    public ContactRecord Contact { get; } = contact;

    public bool Typing { get; } = typing;
}

/// <summary>An accepted contact came online, went offline, or stopped sharing it.</summary>
public sealed class PresenceEventArgs(ContactRecord contact, ContactPresence presence) : EventArgs
{
    public ContactRecord Contact { get; } = contact;

    public ContactPresence Presence { get; } = presence;
}

/// <summary>What an accepted contact lets us know of their presence: online now, or when last seen; null when they share nothing (or we do not).</summary>
public sealed record ContactPresence(bool Online, DateTimeOffset? LastSeen);

/// <summary>What this user shares with accepted contacts; each also decides what is shown of theirs (as in Signal and WhatsApp).</summary>
/// <param name="SharePresence">Online and last seen.</param>
/// <param name="ShareTyping">Typing indicators.</param>
public sealed record ChatPrivacy(bool SharePresence, bool ShareTyping);
