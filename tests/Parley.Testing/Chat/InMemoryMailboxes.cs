using System.Security.Cryptography;
using Parley.Chat.Mailbox;
using Parley.Core.Identity;

namespace Parley.Testing.Chat;

/// <summary>
/// Mailboxes in memory, shared by every user of a test (they play the mailbox nodes): envelopes per recipient, each
/// owner's policy of token hashes (a deposit with an unknown token is refused; a stamp is always taken), and one-time
/// prekeys handed out once. <see cref="Reachable"/> off makes every call fail as an unreachable network does.
/// </summary>
public sealed class InMemoryMailboxes(TimeProvider time) : IMailboxes
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, Dictionary<string, MailboxEnvelope>> _boxes = [];
    private readonly Dictionary<PeerId, HashSet<string>> _policies = [];
    private readonly Dictionary<PeerId, Queue<SignedOneTimePrekey>> _prekeys = [];

    public bool Reachable { get; set; } = true;

    /// <summary>The largest sealed envelope a deposit takes, as <see cref="MailboxClient"/> checks it.</summary>
    public int MaxEnvelopeSize { get; set; } = new MailboxOptions().MaxEnvelopeSize;

    /// <summary>Envelopes waiting for <paramref name="account"/>.</summary>
    public int Waiting(PeerId account)
    {
        lock (_gate)
        {
            return _boxes.GetValueOrDefault(account)?.Count ?? 0;
        }
    }

    public Task<DepositResult> DepositAsync(PublicKey recipient, byte[] envelopeId, byte[] envelope, DepositAuthorization authorization, CancellationToken cancellationToken)
    {
        CheckReachable();
        if (envelope.Length is 0 || envelope.Length > MaxEnvelopeSize)
        {
            throw new ArgumentException($"an envelope is 1 to {MaxEnvelopeSize} bytes", nameof(envelope));
        }
        var owner = recipient.ToPeerId();
        lock (_gate)
        {
            if (authorization is DepositAuthorization.Token token
                && !(_policies.GetValueOrDefault(owner)?.Contains(Convert.ToHexString(SHA256.HashData(token.Value))) ?? false))
            {
                return Task.FromResult(new DepositResult(0, 1, ["unknown token"]));
            }
            if (!_boxes.TryGetValue(owner, out var box))
            {
                _boxes[owner] = box = [];
            }
            box.TryAdd(Convert.ToHexString(envelopeId), new MailboxEnvelope(envelopeId, envelope, time.GetUtcNow()));
            return Task.FromResult(new DepositResult(1, 1, []));
        }
    }

    public Task<MailboxFetchResult> FetchAsync(IdentityKey owner, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            var envelopes = _boxes.GetValueOrDefault(owner.PeerId)?.Values.OrderBy(e => e.StoredAt).ToList() ?? [];
            return Task.FromResult(new MailboxFetchResult(envelopes, 1, 1, envelopes.Count));
        }
    }

    public Task<int> DeleteAsync(IdentityKey owner, IReadOnlyList<byte[]> envelopeIds, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            if (_boxes.TryGetValue(owner.PeerId, out var box))
            {
                foreach (var id in envelopeIds)
                {
                    box.Remove(Convert.ToHexString(id));
                }
            }
            return Task.FromResult(1);
        }
    }

    public Task<int> SetPolicyAsync(IdentityKey owner, ulong sequence, IReadOnlyList<byte[]> tokenHashes, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            _policies[owner.PeerId] = tokenHashes.Select(Convert.ToHexString).ToHashSet();
            return Task.FromResult(1);
        }
    }

    public Task<int> UploadOneTimePrekeysAsync(IdentityKey owner, IReadOnlyList<SignedOneTimePrekey> prekeys, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            if (!_prekeys.TryGetValue(owner.PeerId, out var queue))
            {
                _prekeys[owner.PeerId] = queue = new();
            }
            foreach (var prekey in prekeys)
            {
                queue.Enqueue(prekey);
            }
            return Task.FromResult(prekeys.Count);
        }
    }

    public Task<SignedOneTimePrekey?> ClaimOneTimePrekeyAsync(PublicKey account, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            return Task.FromResult(_prekeys.GetValueOrDefault(account.ToPeerId()) is { Count: > 0 } queue ? queue.Dequeue() : null);
        }
    }

    private void CheckReachable()
    {
        if (!Reachable)
        {
            throw new IOException("no mailbox node answered");
        }
    }
}
