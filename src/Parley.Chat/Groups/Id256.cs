namespace Parley.Chat.Groups;

/// <summary>
/// A 256-bit identifier: a group id (random), or an entry, epoch or message id (SHA-256). Compared and ordered by
/// its bytes (unsigned, big-endian), so every member sorts ties the same way.
/// </summary>
public readonly struct Id256 : IEquatable<Id256>, IComparable<Id256>
{
    public const int Size = 32;

    private readonly byte[]? _bytes;

    private Id256(byte[] bytes) => _bytes = bytes;

    public ReadOnlySpan<byte> Span => _bytes ?? throw new InvalidOperationException("an uninitialised Id256");

    public static bool operator ==(Id256 left, Id256 right) => left.Equals(right);

    public static bool operator !=(Id256 left, Id256 right) => !left.Equals(right);

    public static bool operator <(Id256 left, Id256 right) => left.CompareTo(right) < 0;

    public static bool operator >(Id256 left, Id256 right) => left.CompareTo(right) > 0;

    public static bool operator <=(Id256 left, Id256 right) => left.CompareTo(right) <= 0;

    public static bool operator >=(Id256 left, Id256 right) => left.CompareTo(right) >= 0;

    /// <exception cref="FormatException">Not 32 bytes.</exception>
    public static Id256 FromBytes(ReadOnlySpan<byte> bytes) =>
        bytes.Length == Size ? new Id256(bytes.ToArray()) : throw new FormatException($"an id is {Size} bytes, got {bytes.Length}");

    public byte[] ToArray() => Span.ToArray();

    public bool Equals(Id256 other) => Span.SequenceEqual(other.Span);

    public override bool Equals(object? obj) => obj is Id256 other && Equals(other);

    // Randomised per process, so ids an attacker chooses cannot pile into one bucket.
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Span);
        return hash.ToHashCode();
    }

    public int CompareTo(Id256 other) => Span.SequenceCompareTo(other.Span);

    public override string ToString() => _bytes is null ? "(none)" : Convert.ToHexStringLower(_bytes);

    /// <summary>The first 8 hex digits, for display.</summary>
    public string ToShortString() => _bytes is null ? "(none)" : Convert.ToHexStringLower(_bytes, 0, 4);
}
