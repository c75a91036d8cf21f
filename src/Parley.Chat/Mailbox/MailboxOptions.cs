namespace Parley.Chat.Mailbox;

/// <summary>Mailbox protocol parameters and limits. Every node of a network must agree on the difficulty and sizes.</summary>
public sealed class MailboxOptions
{
    public const string DefaultProtocolId = "/parley/mailbox/1.0.0";

    public string ProtocolId { get; init; } = DefaultProtocolId;

    /// <summary>Leading zero bits of a deposit stamp: 16 bits is about 20 ms of one core.</summary>
    public int DepositDifficulty { get; init; } = 16;

    /// <summary>How long an envelope is kept after its first deposit; also the life of tombstones, policies and prekeys.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromDays(30);

    /// <summary>How often the maintenance loop replicates held mailboxes to the current k closest and drops what expired.</summary>
    public TimeSpan ReplicationInterval { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>One whole exchange (open, request, response) on either side.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How far a signed timestamp may be from the node's clock.</summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Mailbox nodes per account.</summary>
    public int K { get; init; } = 20;

    /// <summary>Requests a client keeps in flight to different mailbox nodes.</summary>
    public int MaxParallelRequests { get; init; } = 8;

    /// <summary>Disabling maintenance is for tests that drive every step themselves.</summary>
    public bool RunMaintenance { get; init; } = true;

    public int MaxEnvelopeSize { get; init; } = 64 * 1024;

    /// <summary>Client requests, except <see cref="MaxPolicyRequestSize"/>.</summary>
    public int MaxRequestSize { get; init; } = 128 * 1024;

    /// <summary>A SetPolicy request: 10,000 token hashes take 340 KB.</summary>
    public int MaxPolicyRequestSize { get; init; } = 512 * 1024;

    /// <summary>Offer and Replicate requests between nodes.</summary>
    public int MaxReplicationBatchSize { get; init; } = 1024 * 1024;

    public int MaxEnvelopesPerMailbox { get; init; } = 2_000;

    public long MaxBytesPerMailbox { get; init; } = 32L * 1024 * 1024;

    /// <summary>Envelopes held per accepted-sender token.</summary>
    public int MaxEnvelopesPerToken { get; init; } = 500;

    /// <summary>Stamped envelopes (from senders the owner has not accepted) held per depositing peer and mailbox.</summary>
    public int MaxStampedPerDepositor { get; init; } = 20;

    /// <summary>Stamped envelopes held per mailbox, whoever deposited them.</summary>
    public int MaxStampedPerMailbox { get; init; } = 200;

    /// <summary>Everything the node stores for others: envelopes, tombstones, policies, prekeys.</summary>
    public long MaxStoreBytes { get; init; } = 1024L * 1024 * 1024;

    public int MaxFetchPageEnvelopes { get; init; } = 256;

    public int MaxFetchPageBytes { get; init; } = 4 * 1024 * 1024;

    public int MaxPolicyTokens { get; init; } = 10_000;

    /// <summary>Envelope ids in one delete request.</summary>
    public int MaxDeleteIds { get; init; } = 256;

    /// <summary>Most envelope ids a fetch may name as already had (4,096 ids fit well inside <see cref="MaxRequestSize"/>).</summary>
    public int MaxFetchHaveIds { get; init; } = 4096;

    /// <summary>Delete requests kept as tombstones per mailbox; beyond it the oldest are dropped.</summary>
    public int MaxTombstonesPerMailbox { get; init; } = 1_000;

    public int MaxPrekeysPerMailbox { get; init; } = 100;

    /// <summary>One-time prekeys one requesting peer may claim from a node per <see cref="PrekeyClaimWindow"/>.</summary>
    public int MaxPrekeyClaimsPerPeer { get; init; } = 10;

    public TimeSpan PrekeyClaimWindow { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>The largest response a client reads: a full fetch page and its framing.</summary>
    internal int MaxResponseSize => MaxFetchPageBytes + (64 * 1024);
}
