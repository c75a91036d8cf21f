using System.Text;
using Parley.Core.Multiformats;

namespace Parley.Core.Tests;

public class Base58Tests
{
    // The base58btc rows of multiformats/multibase tests/{basic,leading_zero,two_leading_zeros,test1}.csv, without the 'z' prefix.
    [Theory]
    [InlineData("yes mani !", "7paNL19xttacUY")]
    [InlineData("\0yes mani !", "17paNL19xttacUY")]
    [InlineData("\0\0yes mani !", "117paNL19xttacUY")]
    [InlineData("Decentralize everything!!", "UXE7GvtEk8XTXs1GF8HSGbVA9FCX9SEBPe")]
    public void Multibase_spec_vectors(string data, string encoded)
    {
        var bytes = Encoding.Latin1.GetBytes(data);
        Assert.Equal(encoded, Base58.Encode(bytes));
        Assert.Equal(bytes, Base58.Decode(encoded));
    }

    [Fact]
    public void Empty_and_zero_bytes()
    {
        Assert.Equal("", Base58.Encode([]));
        Assert.Empty(Base58.Decode(""));
        Assert.Equal("1", Base58.Encode([0]));
        Assert.Equal([0, 0], Base58.Decode("11"));
    }

    [Fact]
    public void Random_bytes_round_trip_including_leading_zeros()
    {
        var random = new Random(58);
        for (var length = 0; length < 64; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            if (length > 2)
            {
                data[0] = 0;
                data[1] = 0;
            }
            Assert.Equal(data, Base58.Decode(Base58.Encode(data)));
        }
    }

    [Fact]
    public void Agrees_with_base58_as_a_number_for_random_bytes_and_random_text()
    {
        const string alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        var random = new Random(1358);
        foreach (var length in Enumerable.Range(0, 40).Concat([199, 200, 255, 300]))
        {
            var data = new byte[length];
            random.NextBytes(data);
            data.AsSpan(0, Math.Min(length, random.Next(3))).Clear();
            Assert.Equal(Reference(data), Base58.Encode(data));

            var text = new string('1', random.Next(3)) + new string([.. Enumerable.Range(0, length).Select(_ => alphabet[random.Next(58)])]);
            Assert.Equal(text, Base58.Encode(Base58.Decode(text)));
        }

        // The definition: leading zero bytes become '1's, the rest is a big-endian number written in base 58.
        static string Reference(byte[] data)
        {
            var zeros = data.TakeWhile(b => b == 0).Count();
            var number = new System.Numerics.BigInteger(data, isUnsigned: true, isBigEndian: true);
            var digits = new StringBuilder();
            while (number > 0)
            {
                digits.Insert(0, alphabet[(int)(number % 58)]);
                number /= 58;
            }
            return new string('1', zeros) + digits;
        }
    }

    [Theory]
    [InlineData("0")]
    [InlineData("O")]
    [InlineData("I")]
    [InlineData("l")]
    [InlineData("abc+")]
    [InlineData("7paNL19 xttacUY")]
    [InlineData("é")]
    public void Characters_outside_the_alphabet_are_rejected(string text)
    {
        Assert.Throws<FormatException>(() => Base58.Decode(text));
    }
}
