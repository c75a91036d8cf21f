namespace Parley.Chat.Files;

/// <summary>Which chunks of a file are held: one bit per chunk, least significant bit first, as stored and sent.</summary>
public sealed class ChunkSet
{
    private readonly byte[] _bits;

    public ChunkSet(int count, ReadOnlySpan<byte> bits = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        Count = count;
        _bits = new byte[(count + 7) / 8];
        bits[..Math.Min(bits.Length, _bits.Length)].CopyTo(_bits);
        // Bits past the end are not chunks.
        if (count % 8 != 0 && _bits.Length > 0)
        {
            _bits[^1] &= (byte)((1 << (count % 8)) - 1);
        }
        Held = 0;
        for (var i = 0; i < count; i++)
        {
            if (Has(i))
            {
                Held++;
            }
        }
    }

    /// <summary>How many chunks the file has.</summary>
    public int Count { get; }

    /// <summary>How many of them are held.</summary>
    public int Held { get; private set; }

    public bool IsComplete => Held == Count;

    public static ChunkSet All(int count)
    {
        var set = new ChunkSet(count);
        for (var i = 0; i < count; i++)
        {
            set.Add(i);
        }
        return set;
    }

    public bool Has(int index) => index >= 0 && index < Count && (_bits[index >> 3] & (1 << (index & 7))) != 0;

    /// <summary>Marks a chunk held; false if it already was.</summary>
    public bool Add(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        if (Has(index))
        {
            return false;
        }
        _bits[index >> 3] |= (byte)(1 << (index & 7));
        Held++;
        return true;
    }

    /// <summary>The chunks not held, as ranges of indices, at most <paramref name="maxRanges"/> of them.</summary>
    public IReadOnlyList<(int First, int Count)> Missing(int maxRanges)
    {
        var ranges = new List<(int, int)>();
        var i = 0;
        while (i < Count && ranges.Count < maxRanges)
        {
            if (Has(i))
            {
                i++;
                continue;
            }
            var first = i;
            while (i < Count && !Has(i))
            {
                i++;
            }
            ranges.Add((first, i - first));
        }
        return ranges;
    }

    public byte[] ToBytes() => (byte[])_bits.Clone();
}
