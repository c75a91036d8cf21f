using Parley.Core.Identity;

namespace Parley.Chat.Mailbox;

/// <summary>
/// What the chat core needs of the mailboxes that hold envelopes for offline users: deposit into someone's mailbox,
/// fetch and delete from our own, tell our mailbox which senders need no stamp, and hand out one-time prekeys.
/// <see cref="MailboxClient"/> does it over the mailbox protocol; tests use in-memory mailboxes (Parley.Testing).
/// </summary>
public interface IMailboxes
{
    /// <summary>Deposits a sealed envelope for <paramref name="recipient"/>.</summary>
    Task<DepositResult> DepositAsync(PublicKey recipient, byte[] envelopeId, byte[] envelope, DepositAuthorization authorization, CancellationToken cancellationToken);

    /// <summary>Every envelope waiting in the owner's mailbox, deduplicated by envelope id.</summary>
    Task<MailboxFetchResult> FetchAsync(IdentityKey owner, CancellationToken cancellationToken);

    /// <summary>Deletes the envelopes from the owner's mailbox; returns how many places confirmed.</summary>
    Task<int> DeleteAsync(IdentityKey owner, IReadOnlyList<byte[]> envelopeIds, CancellationToken cancellationToken);

    /// <summary>Publishes the owner's policy (hashes of the tokens that may deposit without a stamp); returns the places that hold it.</summary>
    Task<int> SetPolicyAsync(IdentityKey owner, ulong sequence, IReadOnlyList<byte[]> tokenHashes, CancellationToken cancellationToken);

    /// <summary>Uploads one-time prekeys for others to claim; returns how many were accepted.</summary>
    Task<int> UploadOneTimePrekeysAsync(IdentityKey owner, IReadOnlyList<SignedOneTimePrekey> prekeys, CancellationToken cancellationToken);

    /// <summary>One of the account's one-time prekeys, verified against the account; null when none is left.</summary>
    Task<SignedOneTimePrekey?> ClaimOneTimePrekeyAsync(PublicKey account, CancellationToken cancellationToken);
}
