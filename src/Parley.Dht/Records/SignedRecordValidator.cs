using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Core.Identity;
using SignedRecordProto = Parley.Dht.Protos.SignedRecordEnvelope;

namespace Parley.Dht.Records;

/// <summary>
/// Validates <see cref="SignedRecord"/>s under keys "/&lt;ns&gt;/&lt;owner&gt;/&lt;name&gt;", where owner is the base58 peer id of the
/// key that must have signed the record. Cheap checks (size, key shape, owner, expiry) run before the signature.
/// Selection: highest sequence, then latest expiry, then the lexicographically greatest encoded value, so every
/// node picks the same record.
/// </summary>
public sealed class SignedRecordValidator : IRecordValidator
{
    public const int DefaultMaxValueSize = 64 * 1024;

    public static readonly TimeSpan DefaultMaxExpiryAhead = TimeSpan.FromDays(7);

    /// <summary>Bound on <see cref="MaxExpiryAhead"/>, which keeps the expiry arithmetic far from overflow.</summary>
    public static readonly TimeSpan LongestMaxExpiryAhead = TimeSpan.FromDays(3650);

    private const int Ed25519SignatureLength = 64;

    /// <summary>Longest base58 peer id text; an inline Ed25519 key is 52 characters, a SHA-256 id 46.</summary>
    private const int MaxOwnerTextLength = 64;

    /// <summary>Verified signatures remembered, so a record served or read again costs a hash instead of an Ed25519 verification.</summary>
    private const int MaxRememberedSignatures = 50_000;

    private readonly TimeProvider _time;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _verified = new();

    public SignedRecordValidator(TimeProvider time, int maxValueSize = DefaultMaxValueSize, TimeSpan? maxExpiryAhead = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxValueSize);
        _time = time;
        MaxValueSize = maxValueSize;
        MaxExpiryAhead = maxExpiryAhead ?? DefaultMaxExpiryAhead;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MaxExpiryAhead, TimeSpan.Zero, nameof(maxExpiryAhead));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxExpiryAhead, LongestMaxExpiryAhead, nameof(maxExpiryAhead));
    }

    /// <summary>Largest encoded record (the whole DHT value) accepted.</summary>
    public int MaxValueSize { get; }

    /// <summary>How far in the future a record may expire; bounds how long a leaked or stale record can live.</summary>
    public TimeSpan MaxExpiryAhead { get; }

    public void Validate(RecordKey key, ReadOnlySpan<byte> value) => Open(key, value);

    /// <summary>Validates the record and returns its verified contents.</summary>
    /// <exception cref="RecordValidationException">The record is invalid; the message says why.</exception>
    public SignedRecord Open(RecordKey key, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(key);
        CheckSize(value);
        return OpenChecked(key, ParseOwner(key), value);
    }

    /// <summary>
    /// Validates the record as <paramref name="owner"/>'s record under <paramref name="key"/>, for namespaces whose keys
    /// name the owner somewhere other than "/&lt;ns&gt;/&lt;owner&gt;/&lt;name&gt;" (the caller has parsed the key).
    /// </summary>
    /// <exception cref="RecordValidationException">The record is invalid; the message says why.</exception>
    public SignedRecord Open(RecordKey key, PeerId owner, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(owner);
        CheckSize(value);
        return OpenChecked(key, owner, value);
    }

    public int Select(RecordKey key, IReadOnlyList<byte[]> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        var best = -1;
        SignedRecordProto? bestRecord = null;
        for (var i = 0; i < values.Count; i++)
        {
            var record = values[i].Length <= MaxValueSize ? Decode(values[i]) : null;
            if (record is not null && (bestRecord is null || IsBetter(record, values[i], bestRecord, values[best])))
            {
                best = i;
                bestRecord = record;
            }
        }
        return Math.Max(best, 0);
    }

    /// <summary>An owner named in a key; only the canonical base58 form counts, so one owner has one key.</summary>
    /// <exception cref="RecordValidationException">Not a peer id in canonical base58.</exception>
    public static PeerId ParseOwnerId(string ownerText)
    {
        ArgumentNullException.ThrowIfNull(ownerText);
        if (ownerText.Length > MaxOwnerTextLength || !PeerId.TryParse(ownerText, out var owner) || owner!.ToString() != ownerText)
        {
            throw new RecordValidationException("key does not name its owner by a base58 peer id");
        }
        return owner;
    }

    private void CheckSize(ReadOnlySpan<byte> value)
    {
        if (value.Length > MaxValueSize)
        {
            throw new RecordValidationException($"record of {value.Length} bytes exceeds the {MaxValueSize}-byte limit");
        }
    }

    private SignedRecord OpenChecked(RecordKey key, PeerId owner, ReadOnlySpan<byte> value)
    {
        var record = Decode(value) ?? throw new RecordValidationException("record is not a well-formed SignedRecord protobuf");
        PublicKey publicKey;
        try
        {
            publicKey = PublicKey.FromProtobuf(record.PublicKey.Span);
        }
        catch (FormatException e)
        {
            throw new RecordValidationException($"record public key is invalid: {e.Message}", e);
        }
        if (!owner.Matches(publicKey))
        {
            throw new RecordValidationException("record is signed by a key other than the owner named in its key");
        }
        var now = _time.GetUtcNow();
        if (record.ExpiresUnixMs <= now.ToUnixTimeMilliseconds())
        {
            throw new RecordValidationException("record has expired");
        }
        if (record.ExpiresUnixMs > (now + MaxExpiryAhead).ToUnixTimeMilliseconds())
        {
            throw new RecordValidationException($"record expires more than {MaxExpiryAhead.TotalDays:0.##} days ahead");
        }
        var payload = SignedRecord.SigningPayload(key.Bytes, record.Sequence, record.ExpiresUnixMs, record.Value.Span);
        // The cache key covers everything the signature vouches for, plus the signature and signer themselves.
        var verification = Convert.ToBase64String(SHA256.HashData([.. payload, .. record.Signature.Span, .. record.PublicKey.Span]));
        if (!_verified.ContainsKey(verification))
        {
            if (record.Signature.Length != Ed25519SignatureLength || !publicKey.Verify(payload, record.Signature.Span))
            {
                throw new RecordValidationException("record signature is invalid");
            }
            if (_verified.Count >= MaxRememberedSignatures)
            {
                _verified.Clear();
            }
            _verified.TryAdd(verification, 0);
        }
        var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(record.ExpiresUnixMs);
        return new SignedRecord(key, publicKey, record.Sequence, expiresAt, record.Value.ToByteArray());
    }

    private static bool IsBetter(SignedRecordProto candidate, byte[] candidateBytes, SignedRecordProto best, byte[] bestBytes)
    {
        if (candidate.Sequence != best.Sequence)
        {
            return candidate.Sequence > best.Sequence;
        }
        if (candidate.ExpiresUnixMs != best.ExpiresUnixMs)
        {
            return candidate.ExpiresUnixMs > best.ExpiresUnixMs;
        }
        return candidateBytes.AsSpan().SequenceCompareTo(bestBytes) > 0;
    }

    /// <summary>The owner from "/&lt;ns&gt;/&lt;owner&gt;/&lt;name&gt;".</summary>
    private static PeerId ParseOwner(RecordKey key)
    {
        var path = key.PathText;
        var ownerEnd = path.IndexOf('/', StringComparison.Ordinal);
        if (ownerEnd <= 0 || ownerEnd == path.Length - 1)
        {
            throw new RecordValidationException("key is not of the form /<namespace>/<owner peer id>/<name>");
        }
        return ParseOwnerId(path[..ownerEnd]);
    }

    private static SignedRecordProto? Decode(ReadOnlySpan<byte> value)
    {
        try
        {
            return SignedRecordProto.Parser.ParseFrom(value);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }
}
