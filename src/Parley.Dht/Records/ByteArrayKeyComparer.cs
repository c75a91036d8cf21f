namespace Parley.Dht.Records;

/// <summary>Compares byte-array dictionary keys by content; HashCode is seeded per process, so peers cannot aim collisions.</summary>
internal sealed class ByteArrayKeyComparer : IEqualityComparer<byte[]>
{
    public static readonly ByteArrayKeyComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

    public int GetHashCode(byte[] obj)
    {
        var hash = new HashCode();
        hash.AddBytes(obj);
        return hash.ToHashCode();
    }
}
