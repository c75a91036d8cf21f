using System.Text;
using Parley.Core.Multiformats;

namespace Parley.Core.Tests;

public class MultibaseTests
{
    // Rows of multiformats/multibase tests/{basic,leading_zero,two_leading_zeros,test1}.csv for the bases Parley supports.
    [Theory]
    [InlineData("yes mani !", "bpfsxgidnmfxgsibb", "z7paNL19xttacUY")]
    [InlineData("\0yes mani !", "bab4wk4zanvqw42jaee", "z17paNL19xttacUY")]
    [InlineData("\0\0yes mani !", "baaahszltebwwc3tjeaqq", "z117paNL19xttacUY")]
    [InlineData("Decentralize everything!!", "birswgzloorzgc3djpjssazlwmvzhs5dinfxgoijb", "zUXE7GvtEk8XTXs1GF8HSGbVA9FCX9SEBPe")]
    public void Spec_vectors_encode_and_decode(string data, string base32, string base58Btc)
    {
        var bytes = Encoding.Latin1.GetBytes(data);
        Assert.Equal(base32, Multibase.EncodeBase32(bytes));
        Assert.Equal(base58Btc, Multibase.EncodeBase58Btc(bytes));
        Assert.Equal(bytes, Multibase.Decode(base32));
        Assert.Equal(bytes, Multibase.Decode(base58Btc));
    }

    // base32upper rows of the same files.
    [Theory]
    [InlineData("yes mani !", "BPFSXGIDNMFXGSIBB")]
    [InlineData("Decentralize everything!!", "BIRSWGZLOORZGC3DJPJSSAZLWMVZHS5DINFXGOIJB")]
    public void Base32_upper_decodes(string data, string encoded)
    {
        Assert.Equal(Encoding.ASCII.GetBytes(data), Multibase.Decode(encoded));
    }

    // multiformats/multibase tests/case_insensitivity.csv: base32 decoders must ignore case.
    [Theory]
    [InlineData("bnbswy3dpeB3W64TMMQ")]
    [InlineData("Bnbswy3dpeB3W64TMMQ")]
    public void Base32_is_case_insensitive(string encoded)
    {
        Assert.Equal("hello world", Encoding.ASCII.GetString(Multibase.Decode(encoded)));
    }

    [Theory]
    [InlineData("f796573206d616e692021")]
    [InlineData("meWVzIG1hbmkgIQ")]
    [InlineData("k2lcpzo5yikidynfl")]
    [InlineData("?abc")]
    public void Unsupported_prefixes_are_rejected(string encoded)
    {
        Assert.Throws<FormatException>(() => Multibase.Decode(encoded));
    }

    [Theory]
    [InlineData("z0OIl")]
    [InlineData("b1")]
    [InlineData("bpfsxgidnmfxgsib=")]
    public void Invalid_characters_are_rejected(string encoded)
    {
        Assert.Throws<FormatException>(() => Multibase.Decode(encoded));
    }

    [Fact]
    public void Empty_text_is_an_argument_error()
    {
        Assert.Throws<ArgumentException>(() => Multibase.Decode(""));
    }
}
