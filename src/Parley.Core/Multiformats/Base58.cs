namespace Parley.Core.Multiformats;

/// <summary>Base58 with the Bitcoin alphabet (multibase "z", and bare in legacy PeerIds).</summary>
public static class Base58
{
    private const string Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    private static readonly sbyte[] DecodeMap = BuildDecodeMap();

    private static sbyte[] BuildDecodeMap()
    {
        var map = new sbyte[128];
        Array.Fill(map, (sbyte)-1);
        for (var i = 0; i < Alphabet.Length; i++)
        {
            map[Alphabet[i]] = (sbyte)i;
        }
        return map;
    }

    public static string Encode(ReadOnlySpan<byte> data)
    {
        var leadingZeros = 0;
        while (leadingZeros < data.Length && data[leadingZeros] == 0)
        {
            leadingZeros++;
        }
        // Base 256 to base 58 by schoolbook long division, digits most significant first; log(256)/log(58) < 1.38.
        // Peer ids are parsed and printed on every stored row, so this avoids BigInteger's allocations.
        var size = ((data.Length - leadingZeros) * 138 / 100) + 1;
        Span<byte> digits = size <= 256 ? stackalloc byte[size] : new byte[size];
        digits.Clear();
        var length = 0;
        foreach (var b in data[leadingZeros..])
        {
            var carry = (int)b;
            var i = 0;
            for (var k = size - 1; (carry != 0 || i < length) && k >= 0; k--, i++)
            {
                carry += 256 * digits[k];
                digits[k] = (byte)(carry % 58);
                carry /= 58;
            }
            length = i;
        }
        var first = size - length;
        while (first < size && digits[first] == 0)
        {
            first++;
        }
        var text = new char[leadingZeros + size - first];
        text.AsSpan(0, leadingZeros).Fill('1');
        for (var k = first; k < size; k++)
        {
            text[leadingZeros + k - first] = Alphabet[digits[k]];
        }
        return new string(text);
    }

    /// <exception cref="FormatException">A character outside the base58btc alphabet.</exception>
    public static byte[] Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var leadingOnes = 0;
        while (leadingOnes < text.Length && text[leadingOnes] == '1')
        {
            leadingOnes++;
        }
        // log(58)/log(256) < 0.733.
        var size = ((text.Length - leadingOnes) * 733 / 1000) + 1;
        Span<byte> bytes = size <= 256 ? stackalloc byte[size] : new byte[size];
        bytes.Clear();
        var length = 0;
        foreach (var c in text.AsSpan(leadingOnes))
        {
            var carry = c < 128 ? DecodeMap[c] : -1;
            if (carry < 0)
            {
                throw new FormatException($"invalid base58 character '{c}'");
            }
            var i = 0;
            for (var k = size - 1; (carry != 0 || i < length) && k >= 0; k--, i++)
            {
                carry += 58 * bytes[k];
                bytes[k] = (byte)(carry % 256);
                carry /= 256;
            }
            length = i;
        }
        var first = size - length;
        while (first < size && bytes[first] == 0)
        {
            first++;
        }
        var result = new byte[leadingOnes + size - first];
        bytes[first..].CopyTo(result.AsSpan(leadingOnes));
        return result;
    }
}
