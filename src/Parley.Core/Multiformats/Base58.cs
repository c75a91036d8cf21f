using System.Numerics;

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
        var number = new BigInteger(data, isUnsigned: true, isBigEndian: true);
        var digits = new List<char>(data.Length * 138 / 100 + 1);
        while (number > 0)
        {
            number = BigInteger.DivRem(number, 58, out var remainder);
            digits.Add(Alphabet[(int)remainder]);
        }
        digits.AddRange(Enumerable.Repeat('1', leadingZeros));
        digits.Reverse();
        return new string(digits.ToArray());
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
        var number = BigInteger.Zero;
        foreach (var c in text)
        {
            var digit = c < 128 ? DecodeMap[c] : -1;
            if (digit < 0)
            {
                throw new FormatException($"invalid base58 character '{c}'");
            }
            number = number * 58 + digit;
        }
        var body = number.IsZero ? [] : number.ToByteArray(isUnsigned: true, isBigEndian: true);
        var result = new byte[leadingOnes + body.Length];
        body.CopyTo(result, leadingOnes);
        return result;
    }
}
