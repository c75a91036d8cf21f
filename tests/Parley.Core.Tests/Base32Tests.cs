using System.Text;
using Parley.Core.Multiformats;

namespace Parley.Core.Tests;

public class Base32Tests
{
    // RFC 4648 section 10 test vectors, lowercased and without padding (the multibase "b" form).
    [Theory]
    [InlineData("", "")]
    [InlineData("f", "my")]
    [InlineData("fo", "mzxq")]
    [InlineData("foo", "mzxw6")]
    [InlineData("foob", "mzxw6yq")]
    [InlineData("fooba", "mzxw6ytb")]
    [InlineData("foobar", "mzxw6ytboi")]
    public void Rfc4648_vectors(string data, string encoded)
    {
        var bytes = Encoding.ASCII.GetBytes(data);
        Assert.Equal(encoded, Base32.Encode(bytes));
        Assert.Equal(bytes, Base32.Decode(encoded));
    }

    [Fact]
    public void Random_bytes_round_trip()
    {
        var random = new Random(32);
        for (var length = 0; length < 64; length++)
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(data, Base32.Decode(Base32.Encode(data)));
        }
    }

    [Theory]
    [InlineData("mzxw1")]
    [InlineData("mzxw8")]
    [InlineData("MZXW6")]
    [InlineData("my======")]
    [InlineData("mz xq")]
    public void Characters_outside_the_lowercase_alphabet_are_rejected(string text)
    {
        Assert.Throws<FormatException>(() => Base32.Decode(text));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("aaa")]
    [InlineData("aaaaaa")]
    [InlineData("mzxw6ytbo")]
    public void Lengths_no_byte_string_encodes_to_are_rejected(string text)
    {
        Assert.Throws<FormatException>(() => Base32.Decode(text));
    }

    [Theory]
    [InlineData("mz")]
    [InlineData("mzxr")]
    public void Non_zero_trailing_bits_are_rejected(string text)
    {
        Assert.Throws<FormatException>(() => Base32.Decode(text));
    }
}
