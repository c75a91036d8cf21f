using System.Collections.Concurrent;

namespace Parley.Dht.Records;

/// <summary>
/// Dispatches records to the validator of their namespace (<see cref="RecordKey.Namespace"/>: "/pk/…" → "pk"), like
/// go-libp2p-record's <c>NamespacedValidator</c>. A key whose namespace has no validator is rejected. Thread-safe.
/// </summary>
public sealed class RecordValidatorRegistry
{
    private readonly ConcurrentDictionary<string, IRecordValidator> _validators = new(StringComparer.Ordinal);

    /// <exception cref="ArgumentException">The namespace is empty, contains '/', or already has a validator.</exception>
    public void Register(string @namespace, IRecordValidator validator)
    {
        ArgumentException.ThrowIfNullOrEmpty(@namespace);
        ArgumentNullException.ThrowIfNull(validator);
        if (@namespace.Contains('/', StringComparison.Ordinal))
        {
            throw new ArgumentException("a namespace is one path segment, without '/'", nameof(@namespace));
        }
        if (!_validators.TryAdd(@namespace, validator))
        {
            throw new ArgumentException($"namespace '{@namespace}' already has a validator", nameof(@namespace));
        }
    }

    public bool IsKnownNamespace(RecordKey key) => _validators.ContainsKey(key.Namespace);

    /// <exception cref="RecordValidationException">The value is invalid, or the key's namespace has no validator; the message says why.</exception>
    public void Validate(RecordKey key, ReadOnlySpan<byte> value) => FindValidator(key).Validate(key, value);

    /// <summary>The index of the best of <paramref name="values"/> (all already valid) by the namespace's selector.</summary>
    /// <exception cref="RecordValidationException">The key's namespace is unknown.</exception>
    public int Select(RecordKey key, IReadOnlyList<byte[]> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            throw new ArgumentException("nothing to select from", nameof(values));
        }
        var validator = FindValidator(key);
        var index = validator.Select(key, values);
        if (index < 0 || index >= values.Count)
        {
            throw new InvalidOperationException($"{validator.GetType().Name} selected index {index} of {values.Count} values");
        }
        return index;
    }

    /// <summary>True when the key's namespace merges records (<see cref="IMergingRecordValidator"/>) instead of selecting one.</summary>
    /// <exception cref="RecordValidationException">The key's namespace is unknown.</exception>
    public bool IsMerging(RecordKey key) => FindValidator(key) is IMergingRecordValidator;

    /// <summary>
    /// Combines two valid records for <paramref name="key"/>: the namespace's merge when it has one, otherwise the better
    /// of the two by its selector, a tie going to <paramref name="incoming"/> (as a re-put replaces).
    /// </summary>
    /// <exception cref="RecordValidationException">The key's namespace is unknown.</exception>
    public byte[] Merge(RecordKey key, byte[] existing, byte[] incoming)
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(incoming);
        if (FindValidator(key) is IMergingRecordValidator merging)
        {
            return merging.Merge(key, existing, incoming);
        }
        return Select(key, [incoming, existing]) == 0 ? incoming : existing;
    }

    private IRecordValidator FindValidator(RecordKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _validators.TryGetValue(key.Namespace, out var validator) ? validator : throw new RecordValidationException("no validator for the key's namespace");
    }
}
