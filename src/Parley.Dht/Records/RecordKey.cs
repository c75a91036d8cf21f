using System.Text;

namespace Parley.Dht.Records;

/// <summary>
/// The key of a DHT record: the bytes that travel on the wire and that signatures cover, with a parsed view of their
/// form "/&lt;namespace&gt;/&lt;path&gt;" (libp2p's record namespaces: "/pk/&lt;peer id bytes&gt;", Parley's "/parley/…" and
/// "/parley-kv/…"). The namespace is UTF-8 text; the path may be binary ("/pk/…"), so it is bytes, with
/// <see cref="PathText"/> for namespaces whose paths are text. Made once by the caller, it is the same object in the
/// node, the store, the validators and on the wire.
/// </summary>
public sealed class RecordKey : IEquatable<RecordKey>
{
    /// <summary>Longest key accepted; real keys ("/pk/…", "/parley/…/&lt;peer id&gt;") are far shorter.</summary>
    public const int MaxLength = 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly byte[] _bytes;
    private readonly int _pathStart;
    private readonly int _hashCode;

    private RecordKey(byte[] bytes, string @namespace, int pathStart)
    {
        _bytes = bytes;
        Namespace = @namespace;
        _pathStart = pathStart;
        var hash = new HashCode();
        hash.AddBytes(bytes);
        _hashCode = hash.ToHashCode();
        try
        {
            Text = StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            Text = null;
        }
    }

    /// <summary>The key as it travels and is signed.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>The first path segment, which picks the validator ("pk", "parley", "parley-kv").</summary>
    public string Namespace { get; }

    /// <summary>What follows "/&lt;namespace&gt;/".</summary>
    public ReadOnlySpan<byte> Path => _bytes.AsSpan(_pathStart);

    /// <summary>The whole key as text, or null when it is not UTF-8 (a binary path).</summary>
    public string? Text { get; }

    /// <summary>The path as text.</summary>
    /// <exception cref="RecordValidationException">The path is binary, not UTF-8.</exception>
    public string PathText => Text is null ? throw new RecordValidationException("key path is not UTF-8") : Text[(Namespace.Length + 2)..];

    /// <summary>"/<paramref name="namespace"/>/<paramref name="path"/>".</summary>
    /// <exception cref="RecordValidationException">The namespace is empty or holds '/', the path is empty, or the key is too long.</exception>
    public static RecordKey Create(string @namespace, string path)
    {
        ArgumentNullException.ThrowIfNull(@namespace);
        ArgumentNullException.ThrowIfNull(path);
        return Create(@namespace, Encoding.UTF8.GetBytes(path));
    }

    /// <inheritdoc cref="Create(string, string)"/>
    public static RecordKey Create(string @namespace, ReadOnlySpan<byte> path)
    {
        ArgumentNullException.ThrowIfNull(@namespace);
        return Parse([.. Encoding.UTF8.GetBytes($"/{@namespace}/"), .. path]);
    }

    /// <summary>A key from its text form, "/&lt;namespace&gt;/&lt;path&gt;".</summary>
    /// <exception cref="RecordValidationException">Not of that form, or too long.</exception>
    public static RecordKey Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Parse(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>A key from its bytes, as they come off the wire.</summary>
    /// <exception cref="RecordValidationException">Not of the form "/&lt;namespace&gt;/&lt;path&gt;", or too long.</exception>
    public static RecordKey Parse(ReadOnlySpan<byte> bytes) =>
        TryParse(bytes, out var key, out var problem) ? key : throw new RecordValidationException(problem);

    public static bool TryParse(ReadOnlySpan<byte> bytes, out RecordKey key, out string problem)
    {
        key = null!;
        if (bytes.Length > MaxLength)
        {
            problem = $"key of {bytes.Length} bytes exceeds the {MaxLength}-byte limit";
            return false;
        }
        var end = bytes.Length > 1 && bytes[0] == '/' ? bytes[1..].IndexOf((byte)'/') : -1;
        if (end <= 0 || end + 2 > bytes.Length)
        {
            problem = "key is not of the form /<namespace>/…";
            return false;
        }
        string @namespace;
        try
        {
            @namespace = StrictUtf8.GetString(bytes.Slice(1, end));
        }
        catch (DecoderFallbackException)
        {
            problem = "key namespace is not UTF-8";
            return false;
        }
        key = new RecordKey(bytes.ToArray(), @namespace, end + 2);
        problem = string.Empty;
        return true;
    }

    /// <summary>A copy of the bytes, for messages and stores that keep their own.</summary>
    public byte[] ToArray() => _bytes.ToArray();

    public bool Equals(RecordKey? other) => other is not null && (ReferenceEquals(this, other) || (_hashCode == other._hashCode && _bytes.AsSpan().SequenceEqual(other._bytes)));

    public override bool Equals(object? obj) => Equals(obj as RecordKey);

    public override int GetHashCode() => _hashCode;

    public override string ToString() => Text ?? $"/{Namespace}/0x{Convert.ToHexStringLower(Path)}";
}
