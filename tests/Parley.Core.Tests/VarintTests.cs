using Parley.Core.Multiformats;

namespace Parley.Core.Tests;

public class VarintTests
{
    // Examples from the multiformats unsigned-varint spec (README, "Examples").
    [Theory]
    [InlineData(1UL, "01")]
    [InlineData(127UL, "7f")]
    [InlineData(128UL, "8001")]
    [InlineData(255UL, "ff01")]
    [InlineData(300UL, "ac02")]
    [InlineData(16384UL, "808001")]
    public void Spec_examples_encode_and_decode(ulong value, string hex)
    {
        Assert.Equal(hex, Convert.ToHexStringLower(Varint.Encode(value)));
        Assert.Equal(hex.Length / 2, Varint.SizeOf(value));

        Assert.Equal(value, Varint.Read(Convert.FromHexString(hex), out var bytesRead));
        Assert.Equal(hex.Length / 2, bytesRead);
    }

    [Fact]
    public void Zero_is_one_byte()
    {
        Assert.Equal([0], Varint.Encode(0));
        Assert.Equal(0UL, Varint.Read([0], out var bytesRead));
        Assert.Equal(1, bytesRead);
    }

    [Fact]
    public void The_63_bit_maximum_takes_nine_bytes_and_round_trips()
    {
        var encoded = Varint.Encode(long.MaxValue);
        Assert.Equal("ffffffffffffffff7f", Convert.ToHexStringLower(encoded));
        Assert.Equal((ulong)long.MaxValue, Varint.Read(encoded, out var bytesRead));
        Assert.Equal(Varint.MaxLength, bytesRead);
    }

    [Fact]
    public void Values_above_63_bits_cannot_be_written()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Varint.Encode((ulong)long.MaxValue + 1));
    }

    [Fact]
    public void Reading_stops_at_the_end_of_the_first_varint()
    {
        Assert.Equal(300UL, Varint.Read(Convert.FromHexString("ac02ff01"), out var bytesRead));
        Assert.Equal(2, bytesRead);
    }

    [Theory]
    [InlineData("8000")]
    [InlineData("8100")]
    [InlineData("ff00")]
    [InlineData("808000")]
    [InlineData("ac8200")]
    public void Non_minimal_encodings_are_rejected(string hex)
    {
        Assert.Throws<FormatException>(() => Varint.Read(Convert.FromHexString(hex), out _));
    }

    [Theory]
    [InlineData("ffffffffffffffff8001")]
    [InlineData("80808080808080808001")]
    [InlineData("ffffffffffffffffff")]
    public void More_than_nine_bytes_is_rejected(string hex)
    {
        Assert.Throws<FormatException>(() => Varint.TryRead(Convert.FromHexString(hex), out _, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("80")]
    [InlineData("ff80")]
    [InlineData("ffffffffffffffff")]
    public void Truncated_varints_are_reported(string hex)
    {
        var bytes = Convert.FromHexString(hex);
        Assert.False(Varint.TryRead(bytes, out _, out var bytesRead));
        Assert.Equal(0, bytesRead);
        Assert.Throws<FormatException>(() => Varint.Read(bytes, out _));
    }

    [Fact]
    public void Random_values_round_trip()
    {
        var random = new Random(1234);
        for (var i = 0; i < 1000; i++)
        {
            var value = (ulong)random.NextInt64() >> random.Next(63);
            var encoded = Varint.Encode(value);
            Assert.Equal(Varint.SizeOf(value), encoded.Length);
            Assert.Equal(value, Varint.Read(encoded, out var bytesRead));
            Assert.Equal(encoded.Length, bytesRead);
        }
    }
}
