namespace Parley.Core.Multiformats;

/// <summary>Unsigned LEB128 varints as the multiformats unsigned-varint spec defines them (max 9 bytes, minimal encoding).</summary>
public static class Varint
{
    /// <summary>The spec caps varints at 9 bytes (63 bits) so that no implementation needs big integers.</summary>
    public const int MaxLength = 9;

    public static int SizeOf(ulong value)
    {
        var size = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            size++;
        }
        return size;
    }

    public static int Write(ulong value, Span<byte> destination)
    {
        if (value > long.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "varints are limited to 63 bits");
        }
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }
        destination[i++] = (byte)value;
        return i;
    }

    public static byte[] Encode(ulong value)
    {
        var buffer = new byte[SizeOf(value)];
        Write(value, buffer);
        return buffer;
    }

    /// <summary>Reads a varint; returns false when <paramref name="source"/> ends before the varint does.</summary>
    /// <exception cref="FormatException">The bytes are not a minimal varint of at most 9 bytes.</exception>
    public static bool TryRead(ReadOnlySpan<byte> source, out ulong value, out int bytesRead)
    {
        value = 0;
        for (var i = 0; i < source.Length; i++)
        {
            if (i == MaxLength)
            {
                throw new FormatException("varint longer than 9 bytes");
            }
            var b = source[i];
            value |= (ulong)(b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0)
            {
                if (b == 0 && i > 0)
                {
                    throw new FormatException("varint is not minimally encoded");
                }
                bytesRead = i + 1;
                return true;
            }
        }
        if (source.Length >= MaxLength)
        {
            throw new FormatException("varint longer than 9 bytes");
        }
        bytesRead = 0;
        return false;
    }

    /// <exception cref="FormatException">Truncated or malformed.</exception>
    public static ulong Read(ReadOnlySpan<byte> source, out int bytesRead)
    {
        if (!TryRead(source, out var value, out bytesRead))
        {
            throw new FormatException("truncated varint");
        }
        return value;
    }
}
