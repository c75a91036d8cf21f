namespace Parley.Dht.Records;

public enum OriginatedKind
{
    /// <summary>A record this node put (PUT_VALUE); it carries the value to republish.</summary>
    Record,

    /// <summary>A key this node announced itself a provider of (ADD_PROVIDER).</summary>
    Provider,
}

/// <summary>Something this node published itself and must keep republishing; <see cref="Value"/> is null for providers.</summary>
public sealed record OriginatedItem(OriginatedKind Kind, byte[] Key, byte[]? Value, DateTimeOffset LastPublished);

/// <summary>
/// What this node published itself, with the time of its last publish, so it can be republished to the then-closest
/// peers before storing nodes drop it (they keep records and provider announcements 48 h). Thread-safe.
/// </summary>
public sealed class OriginatedRecords
{
    /// <summary>go-libp2p-kad-dht republishes records hourly; churn moves the closest peers faster than 48 h.</summary>
    public static readonly TimeSpan DefaultRepublishInterval = TimeSpan.FromHours(1);

    /// <summary>go-libp2p-kad-dht re-announces providers every 22 h, well inside their 48 h lifetime.</summary>
    public static readonly TimeSpan DefaultProviderRepublishInterval = TimeSpan.FromHours(22);

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<byte[], OriginatedItem> _records = new(ByteArrayKeyComparer.Instance);
    private readonly Dictionary<byte[], OriginatedItem> _providers = new(ByteArrayKeyComparer.Instance);

    public OriginatedRecords(TimeProvider time, TimeSpan? republishInterval = null, TimeSpan? providerRepublishInterval = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        RepublishInterval = republishInterval ?? DefaultRepublishInterval;
        ProviderRepublishInterval = providerRepublishInterval ?? DefaultProviderRepublishInterval;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RepublishInterval, TimeSpan.Zero, nameof(republishInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(ProviderRepublishInterval, TimeSpan.Zero, nameof(providerRepublishInterval));
    }

    public TimeSpan RepublishInterval { get; }

    public TimeSpan ProviderRepublishInterval { get; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _records.Count + _providers.Count;
            }
        }
    }

    /// <summary>Notes that this node has just published <paramref name="value"/> under <paramref name="key"/> (first time or again).</summary>
    public void TrackRecord(byte[] key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        lock (_gate)
        {
            _records[key] = new OriginatedItem(OriginatedKind.Record, key, value, _time.GetUtcNow());
        }
    }

    /// <summary>Notes that this node has just announced itself a provider of <paramref name="key"/> (first time or again).</summary>
    public void TrackProvider(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_gate)
        {
            _providers[key] = new OriginatedItem(OriginatedKind.Provider, key, null, _time.GetUtcNow());
        }
    }

    /// <summary>Stops republishing; false when the key was not tracked.</summary>
    public bool Untrack(OriginatedKind kind, byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        lock (_gate)
        {
            return Table(kind).Remove(key);
        }
    }

    /// <summary>Items whose interval has passed since their last publish, longest overdue first.</summary>
    public IReadOnlyList<OriginatedItem> DueForRepublish()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            return _records.Values.Concat(_providers.Values)
                .Where(item => DueAt(item) <= now)
                .OrderBy(DueAt)
                .ToArray();
        }
    }

    /// <summary>When the next item falls due (possibly in the past), or null when nothing is tracked; for scheduling a timer.</summary>
    public DateTimeOffset? NextDue
    {
        get
        {
            lock (_gate)
            {
                return _records.Count + _providers.Count == 0 ? null : _records.Values.Concat(_providers.Values).Min(DueAt);
            }
        }
    }

    private DateTimeOffset DueAt(OriginatedItem item) =>
        item.LastPublished + (item.Kind == OriginatedKind.Record ? RepublishInterval : ProviderRepublishInterval);

    private Dictionary<byte[], OriginatedItem> Table(OriginatedKind kind) => kind == OriginatedKind.Record ? _records : _providers;
}
