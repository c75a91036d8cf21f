namespace Parley.Chat.Mailbox;

/// <summary>
/// The mailbox store of a node without a data folder (a throwaway node, the simulator, tests): held in memory and lost
/// when the process ends. One lock makes every operation atomic. A node with a data folder uses SqliteMailboxStore.
/// </summary>
public sealed class EphemeralMailboxStore : IMailboxStore
{
    private readonly object _gate = new();
    private readonly Dictionary<string, Box> _boxes = [];
    private readonly MailboxOptions _options;
    private readonly TimeProvider _time;
    private long _nextSequence;
    private long _storeBytes;

    public EphemeralMailboxStore(MailboxOptions? options = null, TimeProvider? time = null)
    {
        _options = options ?? new MailboxOptions();
        _time = time ?? TimeProvider.System;
    }

    public Task<StoreOutcome> AddEnvelopeAsync(HeldEnvelope envelope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var box = GetOrAdd(envelope.MailboxId);
            RemoveExpired(box, now);
            var id = Key(envelope.EnvelopeId);
            if (box.Envelopes.ContainsKey(id) || box.Tombstoned.ContainsKey(id))
            {
                return Task.FromResult(StoreOutcome.Duplicate);
            }
            var tokenHash = envelope.TokenHash();
            if (tokenHash is not null && !(box.PolicyHashes?.Contains(Key(tokenHash)) ?? false))
            {
                DropIfEmpty(envelope.MailboxId, box);
                return Task.FromResult(StoreOutcome.UnknownToken);
            }
            var held = box.Envelopes.Values.Select(e => e.Envelope).ToList();
            var usage = new MailboxUsage(
                held.Count,
                held.Sum(e => (long)e.Envelope.Length),
                tokenHash is null ? 0 : held.Count(e => e.Token is not null && e.Token.AsSpan().SequenceEqual(envelope.Token)),
                held.Count(e => e.IsStamped && e.Depositor == envelope.Depositor),
                held.Count(e => e.IsStamped),
                _storeBytes);
            if (MailboxQuota.RefusalFor(envelope, usage, _options) is { } refusal)
            {
                DropIfEmpty(envelope.MailboxId, box);
                return Task.FromResult(StoreOutcome.Refused(refusal));
            }
            var sequence = ++_nextSequence;
            box.Envelopes[id] = (sequence, envelope);
            box.BySequence[sequence] = envelope;
            _storeBytes += envelope.Envelope.Length;
            return Task.FromResult(StoreOutcome.Stored);
        }
    }

    public Task<EnvelopePage> GetEnvelopesAsync(byte[] mailboxId, long cursor, int maxCount, long maxBytes, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var page = new List<HeldEnvelope>();
            long bytes = 0;
            long last = cursor;
            long? next = null;
            if (Find(mailboxId) is { } box)
            {
                foreach (var (sequence, envelope) in box.BySequence.Where(e => e.Key > cursor && e.Value.ExpiresAt > now))
                {
                    if (page.Count > 0 && (page.Count >= maxCount || bytes + envelope.Envelope.Length > maxBytes))
                    {
                        next = last;
                        break;
                    }
                    page.Add(envelope);
                    bytes += envelope.Envelope.Length;
                    last = sequence;
                }
            }
            return Task.FromResult(new EnvelopePage(page, next));
        }
    }

    public Task<IReadOnlyList<HeldEnvelope>> GetEnvelopesByIdAsync(byte[] mailboxId, IReadOnlyCollection<byte[]> envelopeIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelopeIds);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            IReadOnlyList<HeldEnvelope> found = Find(mailboxId) is { } box
                ? envelopeIds.Select(id => box.Envelopes.TryGetValue(Key(id), out var e) ? e.Envelope : null)
                    .OfType<HeldEnvelope>().Where(e => e.ExpiresAt > now).ToList()
                : [];
            return Task.FromResult(found);
        }
    }

    public Task<int> AddTombstoneAsync(Tombstone tombstone, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tombstone);
        lock (_gate)
        {
            var box = GetOrAdd(tombstone.MailboxId);
            var deleted = 0;
            foreach (var id in tombstone.EnvelopeIds.Select(Key).Distinct())
            {
                if (box.Envelopes.Remove(id, out var held))
                {
                    box.BySequence.Remove(held.Sequence);
                    _storeBytes -= held.Envelope.Envelope.Length;
                    deleted++;
                }
            }
            var key = Key(tombstone.Id);
            if (!box.Tombstones.ContainsKey(key) && tombstone.ExpiresAt > _time.GetUtcNow() && _storeBytes + tombstone.SignedRequest.Length <= _options.MaxStoreBytes)
            {
                AddTombstone(box, key, tombstone);
                while (box.Tombstones.Count > _options.MaxTombstonesPerMailbox)
                {
                    var oldest = box.Tombstones.MinBy(t => t.Value.ExpiresAt);
                    RemoveTombstone(box, oldest.Key);
                }
            }
            DropIfEmpty(tombstone.MailboxId, box);
            return Task.FromResult(deleted);
        }
    }

    public Task<IReadOnlyList<Tombstone>> GetTombstonesAsync(byte[] mailboxId, IReadOnlyCollection<byte[]> tombstoneIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tombstoneIds);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            IReadOnlyList<Tombstone> found = Find(mailboxId) is { } box
                ? tombstoneIds.Select(id => box.Tombstones.GetValueOrDefault(Key(id))).OfType<Tombstone>().Where(t => t.ExpiresAt > now).ToList()
                : [];
            return Task.FromResult(found);
        }
    }

    public Task<StoreOutcome> SetPolicyAsync(HeldPolicy policy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(policy);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var box = GetOrAdd(policy.MailboxId);
            var held = box.Policy is { } current && current.ExpiresAt > now ? current : null;
            if (held is not null && held.Sequence == policy.Sequence && SameHashes(held, policy))
            {
                box.Policy = held with { ExpiresAt = held.ExpiresAt > policy.ExpiresAt ? held.ExpiresAt : policy.ExpiresAt };
                return Task.FromResult(StoreOutcome.Stored);
            }
            if (held is not null && held.Sequence >= policy.Sequence)
            {
                return Task.FromResult(MailboxQuota.PolicyHeld(held.Sequence));
            }
            var heldBytes = box.Policy?.SignedRequest.Length ?? 0;
            if (_storeBytes - heldBytes + policy.SignedRequest.Length > _options.MaxStoreBytes)
            {
                DropIfEmpty(policy.MailboxId, box);
                return Task.FromResult(MailboxQuota.StoreFull);
            }
            _storeBytes += policy.SignedRequest.Length - heldBytes;
            box.Policy = policy;
            box.PolicyHashes = policy.TokenHashes.Select(Key).ToHashSet();
            return Task.FromResult(StoreOutcome.Stored);
        }
    }

    public Task<HeldPolicy?> GetPolicyAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var policy = Find(mailboxId)?.Policy;
            return Task.FromResult(policy is not null && policy.ExpiresAt > _time.GetUtcNow() ? policy : null);
        }
    }

    public Task<PrekeyUploadOutcome> AddPrekeysAsync(byte[] mailboxId, DateTimeOffset uploadedAt, IReadOnlyList<SignedOneTimePrekey> prekeys, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(prekeys);
        lock (_gate)
        {
            var box = GetOrAdd(mailboxId);
            RemoveExpired(box, _time.GetUtcNow());
            if (box.LastPrekeyUpload is { } last && uploadedAt <= last)
            {
                return Task.FromResult(new PrekeyUploadOutcome(0, box.Prekeys.Count, "an upload at least as recent was already accepted"));
            }
            box.LastPrekeyUpload = uploadedAt;
            box.LastPrekeyUploadExpires = expiresAt;
            var accepted = 0;
            foreach (var prekey in prekeys)
            {
                if (box.Prekeys.Count >= _options.MaxPrekeysPerMailbox || _storeBytes + MailboxQuota.PrekeyBytes > _options.MaxStoreBytes)
                {
                    break;
                }
                if (box.Prekeys.All(p => p.Prekey.Id != prekey.Id))
                {
                    box.Prekeys.Add((prekey, expiresAt));
                    _storeBytes += MailboxQuota.PrekeyBytes;
                    accepted++;
                }
            }
            return Task.FromResult(new PrekeyUploadOutcome(accepted, box.Prekeys.Count));
        }
    }

    public Task<SignedOneTimePrekey?> TakePrekeyAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (Find(mailboxId) is not { } box)
            {
                return Task.FromResult<SignedOneTimePrekey?>(null);
            }
            RemoveExpired(box, _time.GetUtcNow());
            if (box.Prekeys.Count == 0)
            {
                return Task.FromResult<SignedOneTimePrekey?>(null);
            }
            var prekey = box.Prekeys[0].Prekey;
            box.Prekeys.RemoveAt(0);
            _storeBytes -= MailboxQuota.PrekeyBytes;
            return Task.FromResult<SignedOneTimePrekey?>(prekey);
        }
    }

    public Task<MailboxInventory> GetInventoryAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (Find(mailboxId) is not { } box)
            {
                return Task.FromResult(new MailboxInventory([], [], null));
            }
            return Task.FromResult(new MailboxInventory(
                box.BySequence.Values.Where(e => e.ExpiresAt > now).Select(e => e.EnvelopeId).ToList(),
                box.Tombstones.Values.Where(t => t.ExpiresAt > now).Select(t => t.Id).ToList(),
                box.Policy is { } policy && policy.ExpiresAt > now ? policy.Sequence : null));
        }
    }

    public Task<IReadOnlyList<byte[]>> GetMailboxIdsAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<byte[]> ids = _boxes.Where(b => b.Value.Envelopes.Count > 0 || b.Value.Tombstones.Count > 0 || b.Value.Policy is not null)
                .Select(b => Convert.FromHexString(b.Key)).ToList();
            return Task.FromResult(ids);
        }
    }

    public Task<int> RemoveExpiredAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            var removed = 0;
            foreach (var (mailbox, box) in _boxes.ToList())
            {
                removed += RemoveExpired(box, now);
                DropIfEmpty(mailbox, box);
            }
            return Task.FromResult(removed);
        }
    }

    private static string Key(byte[] bytes) => Convert.ToHexString(bytes);

    private static bool SameHashes(HeldPolicy a, HeldPolicy b) => a.TokenHashes.Select(Key).ToHashSet().SetEquals(b.TokenHashes.Select(Key));

    private Box? Find(byte[] mailboxId) => _boxes.GetValueOrDefault(Key(mailboxId));

    private Box GetOrAdd(byte[] mailboxId)
    {
        var key = Key(mailboxId);
        if (!_boxes.TryGetValue(key, out var box))
        {
            box = new Box();
            _boxes[key] = box;
        }
        return box;
    }

    private void DropIfEmpty(byte[] mailboxId, Box box) => DropIfEmpty(Key(mailboxId), box);

    private void DropIfEmpty(string mailbox, Box box)
    {
        if (box.Envelopes.Count == 0 && box.Tombstones.Count == 0 && box.Policy is null && box.Prekeys.Count == 0 && box.LastPrekeyUpload is null)
        {
            _boxes.Remove(mailbox);
        }
    }

    private int RemoveExpired(Box box, DateTimeOffset now)
    {
        var removed = 0;
        foreach (var (id, held) in box.Envelopes.Where(e => e.Value.Envelope.ExpiresAt <= now).ToList())
        {
            box.Envelopes.Remove(id);
            box.BySequence.Remove(held.Sequence);
            _storeBytes -= held.Envelope.Envelope.Length;
            removed++;
        }
        foreach (var id in box.Tombstones.Where(t => t.Value.ExpiresAt <= now).Select(t => t.Key).ToList())
        {
            RemoveTombstone(box, id);
            removed++;
        }
        if (box.Policy is { } policy && policy.ExpiresAt <= now)
        {
            _storeBytes -= policy.SignedRequest.Length;
            box.Policy = null;
            box.PolicyHashes = null;
            removed++;
        }
        var expiredPrekeys = box.Prekeys.RemoveAll(p => p.ExpiresAt <= now);
        _storeBytes -= expiredPrekeys * (long)MailboxQuota.PrekeyBytes;
        removed += expiredPrekeys;
        if (box.LastPrekeyUploadExpires <= now)
        {
            box.LastPrekeyUpload = null;
            box.LastPrekeyUploadExpires = null;
        }
        return removed;
    }

    private void AddTombstone(Box box, string key, Tombstone tombstone)
    {
        box.Tombstones[key] = tombstone;
        _storeBytes += tombstone.SignedRequest.Length;
        foreach (var id in tombstone.EnvelopeIds.Select(Key).Distinct())
        {
            box.Tombstoned[id] = box.Tombstoned.GetValueOrDefault(id) + 1;
        }
    }

    private void RemoveTombstone(Box box, string key)
    {
        if (!box.Tombstones.Remove(key, out var tombstone))
        {
            return;
        }
        _storeBytes -= tombstone.SignedRequest.Length;
        foreach (var id in tombstone.EnvelopeIds.Select(Key).Distinct())
        {
            if (box.Tombstoned[id] == 1)
            {
                box.Tombstoned.Remove(id);
            }
            else
            {
                box.Tombstoned[id]--;
            }
        }
    }

    private sealed class Box
    {
        public Dictionary<string, (long Sequence, HeldEnvelope Envelope)> Envelopes { get; } = [];

        public SortedDictionary<long, HeldEnvelope> BySequence { get; } = [];

        public Dictionary<string, Tombstone> Tombstones { get; } = [];

        /// <summary>Envelope ids named by held tombstones, with how many name each.</summary>
        public Dictionary<string, int> Tombstoned { get; } = [];

        public HeldPolicy? Policy { get; set; }

        public HashSet<string>? PolicyHashes { get; set; }

        public List<(SignedOneTimePrekey Prekey, DateTimeOffset ExpiresAt)> Prekeys { get; } = [];

        public DateTimeOffset? LastPrekeyUpload { get; set; }

        public DateTimeOffset? LastPrekeyUploadExpires { get; set; }
    }
}
