using System.Collections.Concurrent;
using System.Text;

namespace Parley.Dht.Records;

/// <summary>
/// Dispatches records to the validator of their namespace, the key's first path segment ("/pk/…" → "pk"), like
/// go-libp2p-record's <c>NamespacedValidator</c>. Keys that are not "/ns/…", whose namespace has no validator, or
/// that are not UTF-8 (unless the validator takes binary keys) are rejected. Thread-safe.
/// </summary>
public sealed class RecordValidatorRegistry
{
    /// <summary>Longest key accepted; real keys ("/pk/…", "/parley/…/&lt;peer id&gt;/…") are far shorter.</summary>
    public const int MaxKeyLength = 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

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

    public bool IsKnownNamespace(ReadOnlySpan<byte> key) => TryFindValidator(key, out _, out _);

    /// <exception cref="RecordValidationException">The key or the value is invalid; the message says why.</exception>
    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var validator = FindValidator(key);
        if (validator is IBinaryKeyRecordValidator binary)
        {
            binary.Validate(key, value);
        }
        else
        {
            validator.Validate(DecodeKey(key), value);
        }
    }

    /// <summary>The index of the best of <paramref name="values"/> (all already valid) by the namespace's selector.</summary>
    /// <exception cref="RecordValidationException">The key is invalid or its namespace unknown.</exception>
    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<byte[]> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
        {
            throw new ArgumentException("nothing to select from", nameof(values));
        }
        var validator = FindValidator(key);
        var index = validator is IBinaryKeyRecordValidator binary
            ? binary.Select(key, values)
            : validator.Select(DecodeKey(key), values);
        if (index < 0 || index >= values.Count)
        {
            throw new InvalidOperationException($"{validator.GetType().Name} selected index {index} of {values.Count} values");
        }
        return index;
    }

    /// <summary>True when the key's namespace merges records (<see cref="IMergingRecordValidator"/>) instead of selecting one.</summary>
    /// <exception cref="RecordValidationException">The key is invalid or its namespace unknown.</exception>
    public bool IsMerging(ReadOnlySpan<byte> key) => FindValidator(key) is IMergingRecordValidator;

    /// <summary>
    /// Combines two valid records for <paramref name="key"/>: the namespace's merge when it has one, otherwise the better
    /// of the two by its selector, a tie going to <paramref name="incoming"/> (as a re-put replaces).
    /// </summary>
    /// <exception cref="RecordValidationException">The key is invalid or its namespace unknown.</exception>
    public byte[] Merge(ReadOnlySpan<byte> key, byte[] existing, byte[] incoming)
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(incoming);
        if (FindValidator(key) is IMergingRecordValidator merging)
        {
            return merging.Merge(DecodeKey(key), existing, incoming);
        }
        return Select(key, [incoming, existing]) == 0 ? incoming : existing;
    }

    private IRecordValidator FindValidator(ReadOnlySpan<byte> key)
    {
        if (!TryFindValidator(key, out var validator, out var problem))
        {
            throw new RecordValidationException(problem);
        }
        return validator;
    }

    private bool TryFindValidator(ReadOnlySpan<byte> key, out IRecordValidator validator, out string problem)
    {
        validator = null!;
        if (key.Length > MaxKeyLength)
        {
            problem = $"key of {key.Length} bytes exceeds the {MaxKeyLength}-byte limit";
            return false;
        }
        var end = key.Length > 1 && key[0] == '/' ? key[1..].IndexOf((byte)'/') : -1;
        if (end <= 0)
        {
            problem = "key is not of the form /<namespace>/…";
            return false;
        }
        string @namespace;
        try
        {
            @namespace = StrictUtf8.GetString(key.Slice(1, end));
        }
        catch (DecoderFallbackException)
        {
            problem = "key namespace is not UTF-8";
            return false;
        }
        if (!_validators.TryGetValue(@namespace, out validator!))
        {
            problem = "no validator for the key's namespace";
            return false;
        }
        problem = string.Empty;
        return true;
    }

    private static string DecodeKey(ReadOnlySpan<byte> key)
    {
        try
        {
            return StrictUtf8.GetString(key);
        }
        catch (DecoderFallbackException)
        {
            throw new RecordValidationException("key is not UTF-8");
        }
    }
}
