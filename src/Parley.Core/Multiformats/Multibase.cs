namespace Parley.Core.Multiformats;

/// <summary>
/// Multibase strings: a one-character prefix naming the encoding. Parley reads and writes base58btc ('z') and
/// base32 ('b'), and reads base32upper ('B'); base32 bodies are decoded case-insensitively, as the multibase spec asks.
/// </summary>
public static class Multibase
{
    public const char Base58BtcPrefix = 'z';
    public const char Base32Prefix = 'b';
    public const char Base32UpperPrefix = 'B';

    public static string EncodeBase58Btc(ReadOnlySpan<byte> data) => Base58BtcPrefix + Base58.Encode(data);

    public static string EncodeBase32(ReadOnlySpan<byte> data) => Base32Prefix + Base32.Encode(data);

    /// <exception cref="FormatException">Unknown prefix or bad characters.</exception>
    public static byte[] Decode(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        return text[0] switch
        {
            Base58BtcPrefix => Base58.Decode(text[1..]),
            Base32Prefix or Base32UpperPrefix => Base32.Decode(text[1..].ToLowerInvariant()),
            _ => throw new FormatException($"unsupported multibase prefix '{text[0]}'"),
        };
    }
}

/// <summary>RFC 4648 base32, lowercase, no padding (multibase "b").</summary>
public static class Base32
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    public static string Encode(ReadOnlySpan<byte> data)
    {
        var chars = new char[(data.Length * 8 + 4) / 5];
        int buffer = 0, bits = 0, index = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                chars[index++] = Alphabet[(buffer >> (bits - 5)) & 31];
                bits -= 5;
            }
        }
        if (bits > 0)
        {
            chars[index++] = Alphabet[(buffer << (5 - bits)) & 31];
        }
        return new string(chars, 0, index);
    }

    /// <exception cref="FormatException">Characters outside the lowercase alphabet, a length no byte string encodes to, or non-zero trailing bits.</exception>
    public static byte[] Decode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new byte[(int)((long)text.Length * 5 / 8)];
        int buffer = 0, bits = 0, index = 0;
        foreach (var c in text)
        {
            var value = Alphabet.IndexOf(c, StringComparison.Ordinal);
            if (value < 0)
            {
                throw new FormatException($"invalid base32 character '{c}'");
            }
            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8)
            {
                result[index++] = (byte)(buffer >> (bits - 8));
                bits -= 8;
            }
        }
        // Five or more leftover bits mean a whole character encodes nothing (lengths 1, 3, 6 mod 8): not canonical.
        if (bits >= 5)
        {
            throw new FormatException("base32 length is not a whole number of bytes");
        }
        if ((buffer & ((1 << bits) - 1)) != 0)
        {
            throw new FormatException("base32 has non-zero trailing bits");
        }
        return result;
    }
}
