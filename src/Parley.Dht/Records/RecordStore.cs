using Parley.Core.Identity;

namespace Parley.Dht.Records;

/// <summary>A record held by a <see cref="RecordStore"/>: what was put, when, and by which peer (null: this node).</summary>
public sealed record StoredRecord(byte[] Key, byte[] Value, DateTimeOffset ReceivedAt, PeerId? From)
{
    internal long Size => Key.Length + Value.Length;
}

public enum PutStatus
{
    /// <summary>The record is now the stored one (new, better than the one it replaced, or the same re-put), or was merged into it and changed it.</summary>
    Stored,

    /// <summary>The stored record is better, or (for a merging namespace) already holds all the incoming one adds; only its receipt time may have changed.</summary>
    KeptExisting,

    /// <summary>Invalid, or over a limit; <see cref="PutOutcome.Reason"/> says which.</summary>
    Rejected,
}

public sealed record PutOutcome(PutStatus Status, string? Reason = null)
{
    public static PutOutcome Stored { get; } = new(PutStatus.Stored);

    public static PutOutcome KeptExisting { get; } = new(PutStatus.KeptExisting);

    public static PutOutcome Rejected(string reason) => new(PutStatus.Rejected, reason);
}

public sealed record RecordStoreOptions
{
    public int MaxRecords { get; init; } = 10_000;

    /// <summary>Bound on the sum of key and value lengths of all stored records.</summary>
    public long MaxTotalBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>Bound on the records attributed to one sending peer, so no single peer can fill the store.</summary>
    public int MaxRecordsPerPeer { get; init; } = 100;

    /// <summary>Records not re-put within this time after receipt are dropped (go-libp2p-kad-dht's 48 h).</summary>
    public TimeSpan MaxRecordAge { get; init; } = TimeSpan.FromHours(48);
}

/// <summary>
/// The records this node stores for the DHT. Every record is validated by its namespace's validator before it is
/// stored and again when it is read (as go does: records such as signed ones expire on their own), and the better of
/// an old and a new record is kept by the namespace's selector, or, for a namespace that merges
/// (<see cref="IMergingRecordValidator"/>), their merge. A re-put of the same record refreshes its receipt
/// time, which is how republishing keeps records alive. The store keeps the arrays it is given; callers must not
/// modify them afterwards, nor the arrays of returned records. Thread-safe.
/// </summary>
public sealed class RecordStore
{
    private readonly RecordValidatorRegistry _validators;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<byte[], StoredRecord> _records = new(ByteArrayKeyComparer.Instance);
    private readonly Dictionary<PeerId, int> _recordsPerPeer = [];
    private long _totalBytes;

    /// <summary>No record can be too old before this time; it saves sweeping a full store on every put.</summary>
    private DateTimeOffset _earliestAgeExpiry = DateTimeOffset.MaxValue;

    public RecordStore(RecordValidatorRegistry validators, TimeProvider time, RecordStoreOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(validators);
        ArgumentNullException.ThrowIfNull(time);
        _validators = validators;
        _time = time;
        Options = options ?? new RecordStoreOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MaxRecords, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MaxTotalBytes, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Options.MaxRecordsPerPeer, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Options.MaxRecordAge, TimeSpan.Zero, nameof(options));
    }

    public RecordStoreOptions Options { get; }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _records.Count;
            }
        }
    }

    /// <summary>Sum of key and value lengths of the stored records.</summary>
    public long TotalBytes
    {
        get
        {
            lock (_gate)
            {
                return _totalBytes;
            }
        }
    }

    /// <summary>Validates and stores a record received from <paramref name="from"/> (null: this node's own).</summary>
    public PutOutcome Put(byte[] key, byte[] value, PeerId? from)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        // Limits first: a peer over its quota or a full store must not cost a signature check.
        lock (_gate)
        {
            if (LimitViolation(key, key.Length + (long)value.Length, from) is { } overLimit)
            {
                return PutOutcome.Rejected(overLimit);
            }
        }
        RecordKey recordKey;
        try
        {
            recordKey = RecordKey.Parse(key);
            _validators.Validate(recordKey, value);
        }
        catch (RecordValidationException e)
        {
            return PutOutcome.Rejected(e.Reason);
        }
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            if (_records.TryGetValue(key, out var existing))
            {
                if (IsTooOld(existing, now))
                {
                    RemoveLocked(existing);
                }
                else if (_validators.IsMerging(recordKey))
                {
                    if (IsValid(existing))
                    {
                        var merged = _validators.Merge(recordKey, existing.Value, value);
                        if (merged.AsSpan().SequenceEqual(existing.Value))
                        {
                            // Nothing new, but someone still publishes it: like a re-put, that keeps it alive.
                            _records[key] = existing with { ReceivedAt = now };
                            return PutOutcome.KeptExisting;
                        }
                        value = merged;
                    }
                }
                else if (_validators.Select(recordKey, [value, existing.Value]) != 0 && IsValid(existing))
                {
                    return PutOutcome.KeptExisting;
                }
            }
            if (LimitViolation(key, key.Length + (long)value.Length, from) is { } overLimit)
            {
                return PutOutcome.Rejected(overLimit);
            }
            if (_records.TryGetValue(key, out var replaced))
            {
                RemoveLocked(replaced);
            }
            var record = new StoredRecord(key, value, now, from);
            _records.Add(key, record);
            _totalBytes += record.Size;
            if (from is not null)
            {
                _recordsPerPeer[from] = _recordsPerPeer.GetValueOrDefault(from) + 1;
            }
            var ageExpiry = now + Options.MaxRecordAge;
            if (ageExpiry < _earliestAgeExpiry)
            {
                _earliestAgeExpiry = ageExpiry;
            }
            return PutOutcome.Stored;
        }
    }

    /// <summary>The record under <paramref name="key"/>, or null when there is none or it has expired or become invalid.</summary>
    public StoredRecord? Get(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        StoredRecord? record;
        lock (_gate)
        {
            if (!_records.TryGetValue(key, out record))
            {
                return null;
            }
            if (IsTooOld(record, _time.GetUtcNow()))
            {
                RemoveLocked(record);
                return null;
            }
        }
        if (IsValid(record))
        {
            return record;
        }
        lock (_gate)
        {
            RemoveIfStillStored(record);
        }
        return null;
    }

    /// <summary>A snapshot of the records not past <see cref="RecordStoreOptions.MaxRecordAge"/>, for re-replication.</summary>
    public IReadOnlyList<StoredRecord> All()
    {
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            return _records.Values.Where(record => !IsTooOld(record, now)).ToArray();
        }
    }

    /// <summary>Drops records past their age limit or no longer valid (such as signed records past their expiry); returns how many.</summary>
    public int RemoveExpired()
    {
        StoredRecord[] snapshot;
        int removed;
        lock (_gate)
        {
            removed = RemoveTooOldLocked(_time.GetUtcNow());
            snapshot = _records.Values.ToArray();
        }
        // Validation can mean a signature check per record: done outside the lock so puts and gets go on meanwhile.
        var invalid = snapshot.Where(record => !IsValid(record)).ToArray();
        lock (_gate)
        {
            foreach (var record in invalid)
            {
                removed += RemoveIfStillStored(record) ? 1 : 0;
            }
        }
        return removed;
    }

    /// <summary>Why storing <paramref name="size"/> bytes under <paramref name="key"/> for <paramref name="from"/> would break a limit, or null.</summary>
    private string? LimitViolation(byte[] key, long size, PeerId? from)
    {
        if (size > Options.MaxTotalBytes)
        {
            return $"record of {size} bytes exceeds the store's {Options.MaxTotalBytes}-byte limit";
        }
        _records.TryGetValue(key, out var existing);
        if (from is not null && existing?.From != from && _recordsPerPeer.GetValueOrDefault(from) >= Options.MaxRecordsPerPeer)
        {
            return $"peer already has {Options.MaxRecordsPerPeer} records stored";
        }
        var isFull = existing is null && _records.Count >= Options.MaxRecords;
        var isOverBytes = _totalBytes - (existing?.Size ?? 0) + size > Options.MaxTotalBytes;
        if ((isFull || isOverBytes) && RemoveTooOldLocked(_time.GetUtcNow()) > 0)
        {
            _records.TryGetValue(key, out existing);
            isFull = existing is null && _records.Count >= Options.MaxRecords;
            isOverBytes = _totalBytes - (existing?.Size ?? 0) + size > Options.MaxTotalBytes;
        }
        if (isFull)
        {
            return $"record store is full ({Options.MaxRecords} records)";
        }
        return isOverBytes ? $"record store is full ({Options.MaxTotalBytes} bytes)" : null;
    }

    private bool IsTooOld(StoredRecord record, DateTimeOffset now) => now - record.ReceivedAt >= Options.MaxRecordAge;

    private bool IsValid(StoredRecord record)
    {
        try
        {
            _validators.Validate(RecordKey.Parse(record.Key), record.Value);
            return true;
        }
        catch (RecordValidationException)
        {
            return false;
        }
    }

    /// <summary>Sweeps records past their age limit, at most once per time one can become due.</summary>
    private int RemoveTooOldLocked(DateTimeOffset now)
    {
        if (now < _earliestAgeExpiry)
        {
            return 0;
        }
        var tooOld = _records.Values.Where(record => IsTooOld(record, now)).ToArray();
        foreach (var record in tooOld)
        {
            RemoveLocked(record);
        }
        _earliestAgeExpiry = _records.Count == 0
            ? DateTimeOffset.MaxValue
            : _records.Values.Min(record => record.ReceivedAt) + Options.MaxRecordAge;
        return tooOld.Length;
    }

    private bool RemoveIfStillStored(StoredRecord record)
    {
        if (!_records.TryGetValue(record.Key, out var current) || !ReferenceEquals(current, record))
        {
            return false;
        }
        RemoveLocked(record);
        return true;
    }

    private void RemoveLocked(StoredRecord record)
    {
        _records.Remove(record.Key);
        _totalBytes -= record.Size;
        if (record.From is { } from)
        {
            var remaining = _recordsPerPeer[from] - 1;
            if (remaining == 0)
            {
                _recordsPerPeer.Remove(from);
            }
            else
            {
                _recordsPerPeer[from] = remaining;
            }
        }
    }
}
