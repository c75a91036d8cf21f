namespace Parley.Chat.Messaging;

/// <summary>Timing and limits of the chat core. Defaults are for real use; tests shorten the intervals.</summary>
public sealed class ChatOptions
{
    public const string ChatProtocolId = "/parley/chat/1.0.0";

    /// <summary>Longest message text, in UTF-8 bytes; an envelope must fit a mailbox's 64 KiB.</summary>
    public int MaxTextBytes { get; init; } = 16 * 1024;

    /// <summary>Largest request read on a chat stream.</summary>
    public int MaxEnvelopeBytes { get; init; } = 64 * 1024;

    /// <summary>How long a direct attempt may take (dial, send, acknowledgement) before the mailbox is used.</summary>
    public TimeSpan DirectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A chat stream with no request for this long is closed.</summary>
    public TimeSpan StreamIdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// How long a found presence record is used before it is looked up again. A delivery that fails drops it at once,
    /// so the time only bounds how late a change that breaks nothing is seen; a short one costs a DHT lookup per
    /// contact per period, which in a large room is most of the work.
    /// </summary>
    public TimeSpan PresenceCacheTime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long "no presence found" is believed: a contact who comes online is reached directly after this.</summary>
    public TimeSpan AbsentPresenceCacheTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First retry delay of an envelope nobody took; doubles per attempt up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often an envelope already in the recipient's mailbox is offered directly, in case they came back.</summary>
    public TimeSpan StoredRetryDelay { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Envelopes undelivered for this long leave the outbox (mailboxes drop them after 30 days too).</summary>
    public TimeSpan OutboxLifetime { get; init; } = TimeSpan.FromDays(30);

    /// <summary>How often the mailbox is fetched while the node runs (also on start).</summary>
    public TimeSpan MailboxPollInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often presence is republished, and how often listen addresses are checked for a change.</summary>
    public TimeSpan PresenceRepublishInterval { get; init; } = TimeSpan.FromMinutes(30);

    public TimeSpan AddressCheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often accepted contacts seen online are told we still are (when we share presence); a contact is shown online for 2.5 times this after its last note.</summary>
    public TimeSpan PresenceInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>A new signed prekey is made this often; the previous one keeps working for <see cref="SignedPrekeyGrace"/>.</summary>
    public TimeSpan SignedPrekeyRotation { get; init; } = TimeSpan.FromDays(7);

    public TimeSpan SignedPrekeyGrace { get; init; } = TimeSpan.FromDays(14);

    /// <summary>Name claims and prekey bundles are renewed this often.</summary>
    public TimeSpan RenewInterval { get; init; } = TimeSpan.FromDays(1);

    /// <summary>One-time prekeys are replenished to this many when fewer than half remain.</summary>
    public int OneTimePrekeyBatch { get; init; } = 40;

    /// <summary>Sessions kept per contact (a pair that both wrote first has two).</summary>
    public int MaxSessionsPerContact { get; init; } = 4;

    /// <summary>
    /// Session repair's rate limit, per contact: at most one "session reset needed" is sent to them, and at most one of
    /// theirs is acted on, in this time. Undecryptable envelopes keep coming while a reset is on its way (the sender
    /// retries), so a lost reset is asked for again after this long.
    /// </summary>
    public TimeSpan SessionResetInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether this client tells the directory where it is. A short-lived process (a one-shot command) does not: it
    /// would send others to an address that is gone in a moment.
    /// </summary>
    public bool PublishPresence { get; init; } = true;

    /// <summary>Whether the background loops (outbox, mailbox polling, republishing) run; tests drive them by hand.</summary>
    public bool RunBackgroundTasks { get; init; } = true;

    /// <summary>Files and images (docs/files.md).</summary>
    public Files.FileTransferOptions Files { get; init; } = new();
}
