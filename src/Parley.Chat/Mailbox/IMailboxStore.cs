using System.Security.Cryptography;

namespace Parley.Chat.Mailbox;

/// <summary>
/// What a mailbox node keeps for others. Every method is one atomic operation: quotas are checked and the write made
/// together, so concurrent deposits cannot overrun them. Expired items are never returned nor counted. The store takes
/// its clock from the <see cref="TimeProvider"/> it was made with; signatures and stamps are the service's business.
/// </summary>
public interface IMailboxStore
{
    /// <summary>
    /// Stores the envelope: Duplicate when it is held or its id is tombstoned; Refused when its token's hash is not in the
    /// mailbox's policy or a quota is full; otherwise Stored.
    /// </summary>
    Task<StoreOutcome> AddEnvelopeAsync(HeldEnvelope envelope, CancellationToken cancellationToken);

    /// <summary>Envelopes in the order they were stored, after <paramref name="cursor"/> (0: from the start), within both bounds but at least one.</summary>
    Task<EnvelopePage> GetEnvelopesAsync(byte[] mailboxId, long cursor, int maxCount, long maxBytes, CancellationToken cancellationToken);

    Task<IReadOnlyList<HeldEnvelope>> GetEnvelopesByIdAsync(byte[] mailboxId, IReadOnlyCollection<byte[]> envelopeIds, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the envelopes the tombstone names and keeps it (unless held already, or the store is full) so they are not
    /// stored again; beyond the per-mailbox bound the tombstones that expire first are dropped. Returns the envelopes deleted.
    /// </summary>
    Task<int> AddTombstoneAsync(Tombstone tombstone, CancellationToken cancellationToken);

    Task<IReadOnlyList<Tombstone>> GetTombstonesAsync(byte[] mailboxId, IReadOnlyCollection<byte[]> tombstoneIds, CancellationToken cancellationToken);

    /// <summary>
    /// Stored when the policy's sequence is higher than the held one's, or equal with the same token hashes (its expiry is
    /// then renewed); Refused when a newer or different policy of that sequence is held, or the store is full.
    /// </summary>
    Task<StoreOutcome> SetPolicyAsync(HeldPolicy policy, CancellationToken cancellationToken);

    Task<HeldPolicy?> GetPolicyAsync(byte[] mailboxId, CancellationToken cancellationToken);

    /// <summary>
    /// Adds prekeys up to the per-mailbox bound (ids already held are skipped). Refused unless
    /// <paramref name="uploadedAt"/> is later than the last upload accepted for this mailbox, so no upload is applied twice.
    /// </summary>
    Task<PrekeyUploadOutcome> AddPrekeysAsync(byte[] mailboxId, DateTimeOffset uploadedAt, IReadOnlyList<SignedOneTimePrekey> prekeys, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>Removes and returns one prekey, or null when none is held.</summary>
    Task<SignedOneTimePrekey?> TakePrekeyAsync(byte[] mailboxId, CancellationToken cancellationToken);

    /// <summary>What is held for one mailbox, as offered to other nodes in replication.</summary>
    Task<MailboxInventory> GetInventoryAsync(byte[] mailboxId, CancellationToken cancellationToken);

    /// <summary>Mailboxes holding envelopes, tombstones or a policy.</summary>
    Task<IReadOnlyList<byte[]>> GetMailboxIdsAsync(CancellationToken cancellationToken);

    /// <summary>Drops expired envelopes, tombstones, policies and prekeys; returns how many items went.</summary>
    Task<int> RemoveExpiredAsync(CancellationToken cancellationToken);
}

/// <summary>
/// An envelope as a mailbox node holds it, with what let it in, so that a replica can check it again. A null
/// <paramref name="Token"/> means it came with the stamp <paramref name="StampNonce"/>; <paramref name="Depositor"/> is the
/// peer id that deposited it.
/// </summary>
public sealed record HeldEnvelope(
    byte[] MailboxId,
    byte[] EnvelopeId,
    byte[] Envelope,
    DateTimeOffset StoredAt,
    DateTimeOffset ExpiresAt,
    byte[]? Token,
    ulong StampNonce,
    string Depositor)
{
    public bool IsStamped => Token is null;

    public byte[]? TokenHash() => Token is null ? null : SHA256.HashData(Token);
}

/// <summary>The owner's signed delete request (<paramref name="SignedRequest"/>: the DeleteRequest protobuf), kept until the envelopes would have expired.</summary>
public sealed record Tombstone(byte[] MailboxId, byte[] Id, IReadOnlyList<byte[]> EnvelopeIds, DateTimeOffset ExpiresAt, byte[] SignedRequest);

/// <summary>The owner's signed list of accepted-token hashes (<paramref name="SignedRequest"/>: the SetPolicyRequest protobuf).</summary>
public sealed record HeldPolicy(byte[] MailboxId, ulong Sequence, IReadOnlyList<byte[]> TokenHashes, DateTimeOffset ExpiresAt, byte[] SignedRequest);

public enum StoreStatus
{
    Stored,
    Duplicate,
    Refused,

    /// <summary>The deposit's token is not in this node's copy of the owner's policy (it may not have the policy yet).</summary>
    UnknownToken,
}

public sealed record StoreOutcome(StoreStatus Status, string? Reason = null)
{
    public static StoreOutcome Stored { get; } = new(StoreStatus.Stored);

    public static StoreOutcome Duplicate { get; } = new(StoreStatus.Duplicate);

    public static StoreOutcome Refused(string reason) => new(StoreStatus.Refused, reason);

    public static StoreOutcome UnknownToken { get; } = new(StoreStatus.UnknownToken, "token not accepted by the mailbox owner");
}

/// <summary>One page of envelopes; <paramref name="NextCursor"/> is null when nothing follows.</summary>
public sealed record EnvelopePage(IReadOnlyList<HeldEnvelope> Envelopes, long? NextCursor);

public sealed record MailboxInventory(IReadOnlyList<byte[]> EnvelopeIds, IReadOnlyList<byte[]> TombstoneIds, ulong? PolicySequence);

/// <summary><paramref name="Refusal"/> is set when the upload was refused as a whole.</summary>
public sealed record PrekeyUploadOutcome(int Accepted, int Held, string? Refusal = null);

/// <summary>What one mailbox and the whole store hold, for <see cref="MailboxQuota.RefusalFor"/>.</summary>
public sealed record MailboxUsage(int Envelopes, long Bytes, int WithSameToken, int StampedFromDepositor, int Stamped, long StoreBytes);

/// <summary>The deposit quotas, shared by every store so they all refuse alike.</summary>
public static class MailboxQuota
{
    /// <summary>Bytes a prekey takes in the store's accounting.</summary>
    public const int PrekeyBytes = 4 + SignedOneTimePrekey.KeyLength + SignedOneTimePrekey.SignatureLength;

    public static StoreOutcome StoreFull { get; } = StoreOutcome.Refused("this node's mailbox store is full");

    public static StoreOutcome PolicyHeld(ulong sequence) => StoreOutcome.Refused($"a policy with sequence {sequence} is held; send a higher sequence");

    /// <summary>Why <paramref name="envelope"/> may not be added given <paramref name="usage"/>, or null when it may.</summary>
    public static string? RefusalFor(HeldEnvelope envelope, MailboxUsage usage, MailboxOptions options)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(usage);
        ArgumentNullException.ThrowIfNull(options);
        var size = envelope.Envelope.Length;
        if (usage.StoreBytes + size > options.MaxStoreBytes)
        {
            return StoreFull.Reason;
        }
        if (usage.Envelopes >= options.MaxEnvelopesPerMailbox)
        {
            return $"mailbox full: {options.MaxEnvelopesPerMailbox} envelopes held";
        }
        if (usage.Bytes + size > options.MaxBytesPerMailbox)
        {
            return $"mailbox full: {options.MaxBytesPerMailbox} bytes held";
        }
        if (!envelope.IsStamped)
        {
            return usage.WithSameToken >= options.MaxEnvelopesPerToken ? $"quota: {options.MaxEnvelopesPerToken} envelopes held for this token" : null;
        }
        if (usage.StampedFromDepositor >= options.MaxStampedPerDepositor)
        {
            return $"quota: {options.MaxStampedPerDepositor} stamped envelopes held from this depositor";
        }
        return usage.Stamped >= options.MaxStampedPerMailbox ? $"quota: {options.MaxStampedPerMailbox} stamped envelopes held for this mailbox" : null;
    }
}
