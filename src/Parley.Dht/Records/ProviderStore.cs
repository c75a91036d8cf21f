using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Dht.Records;

/// <summary>A peer that announced (ADD_PROVIDER) that it provides a key, with the addresses it gave and when.</summary>
public sealed record ProviderRecord(PeerId Provider, IReadOnlyList<Multiaddr> Addresses, DateTimeOffset AddedAt);

public sealed record ProviderStoreOptions
{
    /// <summary>How long an announcement lasts unless renewed (go-libp2p-kad-dht's 48 h).</summary>
    public TimeSpan ProviderRecordTtl { get; init; } = TimeSpan.FromHours(48);

    public int MaxProvidersPerKey { get; init; } = 100;

    /// <summary>Bound on distinct keys with providers.</summary>
    public int MaxKeys { get; init; } = 10_000;

    /// <summary>Bound on the keys one provider may announce here, so no single peer can fill the store.</summary>
    public int MaxKeysPerProvider { get; init; } = 1_000;

    /// <summary>Addresses kept per provider; the rest are dropped.</summary>
    public int MaxAddressesPerProvider { get; init; } = 16;
}

/// <summary>
/// Provider announcements this node stores for the DHT, expiring after <see cref="ProviderStoreOptions.ProviderRecordTtl"/>.
/// A provider that re-announces a key replaces its entry (new time, new addresses). When a key already has
/// <see cref="ProviderStoreOptions.MaxProvidersPerKey"/> live providers, newcomers are refused rather than evicting
/// established ones, so a flood of fresh identities cannot push honest providers out. Thread-safe.
/// </summary>
public sealed class ProviderStore
{
    /// <summary>Longest key accepted; provider keys are multihashes or CIDs, well under 100 bytes.</summary>
    public const int MaxKeyLength = 512;

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();

    /// <summary>Per key, providers in the order they were last announced (oldest first).</summary>
    private readonly Dictionary<byte[], List<ProviderRecord>> _providers = new(ByteArrayKeyComparer.Instance);
    private readonly Dictionary<PeerId, int> _keysPerProvider = [];
    private int _providerCount;

    /// <summary>No announcement can expire before this time; it saves sweeping a full store on every add.</summary>
    private DateTimeOffset _earliestExpiry = DateTimeOffset.MaxValue;

    public ProviderStore(TimeProvider time, ProviderStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        Options = options ?? new ProviderStoreOptions();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Options.ProviderRecordTtl, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MaxProvidersPerKey, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MaxKeys, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MaxKeysPerProvider, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegative(Options.MaxAddressesPerProvider, nameof(options));
    }

    public ProviderStoreOptions Options { get; }

    /// <summary>Keys with at least one provider (expired ones included until they are swept).</summary>
    public int KeyCount
    {
        get
        {
            lock (_gate)
            {
                return _providers.Count;
            }
        }
    }

    /// <summary>(key, provider) entries (expired ones included until they are swept).</summary>
    public int ProviderCount
    {
        get
        {
            lock (_gate)
            {
                return _providerCount;
            }
        }
    }

    /// <summary>
    /// Records <paramref name="provider"/> as a provider of <paramref name="key"/>. An empty address list keeps the
    /// addresses of an earlier announcement. False when a limit refuses it.
    /// </summary>
    public bool Add(byte[] key, PeerId provider, IReadOnlyList<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(provider);
        ArgumentNullException.ThrowIfNull(addresses);
        if (key.Length is 0 or > MaxKeyLength)
        {
            return false;
        }
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (!_providers.TryGetValue(key, out var entries))
            {
                if (_providers.Count >= Options.MaxKeys && (RemoveExpiredLocked(now) == 0 || _providers.Count >= Options.MaxKeys))
                {
                    return false;
                }
                entries = [];
            }
            else
            {
                RemoveExpiredEntries(entries, now);
            }
            var index = entries.FindIndex(entry => entry.Provider == provider);
            IReadOnlyList<Multiaddr> kept = addresses.Take(Options.MaxAddressesPerProvider).ToArray();
            if (index >= 0)
            {
                if (kept.Count == 0)
                {
                    kept = entries[index].Addresses;
                }
                entries.RemoveAt(index);
            }
            else if (entries.Count >= Options.MaxProvidersPerKey || _keysPerProvider.GetValueOrDefault(provider) >= Options.MaxKeysPerProvider)
            {
                DropIfEmpty(key, entries);
                return false;
            }
            else
            {
                _keysPerProvider[provider] = _keysPerProvider.GetValueOrDefault(provider) + 1;
                _providerCount++;
            }
            entries.Add(new ProviderRecord(provider, kept, now));
            _providers[key] = entries;
            var expiry = now + Options.ProviderRecordTtl;
            if (expiry < _earliestExpiry)
            {
                _earliestExpiry = expiry;
            }
            return true;
        }
    }

    /// <summary>Up to <paramref name="max"/> live providers of <paramref name="key"/>, most recently announced first.</summary>
    public IReadOnlyList<ProviderRecord> Get(byte[] key, int max)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfNegative(max);
        lock (_gate)
        {
            if (!_providers.TryGetValue(key, out var entries))
            {
                return [];
            }
            RemoveExpiredEntries(entries, _time.GetUtcNow());
            DropIfEmpty(key, entries);
            var count = Math.Min(max, entries.Count);
            var newestFirst = new ProviderRecord[count];
            for (var i = 0; i < count; i++)
            {
                newestFirst[i] = entries[entries.Count - 1 - i];
            }
            return newestFirst;
        }
    }

    /// <summary>Drops expired announcements; returns how many.</summary>
    public int RemoveExpired()
    {
        lock (_gate)
        {
            _earliestExpiry = DateTimeOffset.MinValue;
            return RemoveExpiredLocked(_time.GetUtcNow());
        }
    }

    private int RemoveExpiredLocked(DateTimeOffset now)
    {
        if (now < _earliestExpiry)
        {
            return 0;
        }
        var removed = 0;
        var earliestAdded = DateTimeOffset.MaxValue;
        foreach (var (key, entries) in _providers.ToArray())
        {
            removed += RemoveExpiredEntries(entries, now);
            DropIfEmpty(key, entries);
            if (entries.Count > 0 && entries[0].AddedAt < earliestAdded)
            {
                earliestAdded = entries[0].AddedAt;
            }
        }
        _earliestExpiry = earliestAdded == DateTimeOffset.MaxValue ? DateTimeOffset.MaxValue : earliestAdded + Options.ProviderRecordTtl;
        return removed;
    }

    /// <summary>Removes the expired entries of one key; entries are oldest first, so they are a prefix.</summary>
    private int RemoveExpiredEntries(List<ProviderRecord> entries, DateTimeOffset now)
    {
        var expired = 0;
        while (expired < entries.Count && now - entries[expired].AddedAt >= Options.ProviderRecordTtl)
        {
            ReleaseProviderSlot(entries[expired].Provider);
            expired++;
        }
        entries.RemoveRange(0, expired);
        return expired;
    }

    private void ReleaseProviderSlot(PeerId provider)
    {
        _providerCount--;
        var remaining = _keysPerProvider[provider] - 1;
        if (remaining == 0)
        {
            _keysPerProvider.Remove(provider);
        }
        else
        {
            _keysPerProvider[provider] = remaining;
        }
    }

    private void DropIfEmpty(byte[] key, List<ProviderRecord> entries)
    {
        if (entries.Count == 0)
        {
            _providers.Remove(key);
        }
    }
}
