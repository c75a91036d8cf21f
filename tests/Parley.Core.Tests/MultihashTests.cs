using System.Text;
using Parley.Core.Multiformats;

namespace Parley.Core.Tests;

public class MultihashTests
{
    // The sha2-256 example of the multihash spec (multiformats.io/multihash, multiformats/multihash README).
    private const string MerkleDamgardSha256 = "122041dd7b6443542e75701aa98a0c235951a28a0d851b11564d20022ab11d2589a8";

    [Fact]
    public void Sha256_of_the_spec_example_matches_byte_for_byte()
    {
        var multihash = Multihash.Sha256(Encoding.UTF8.GetBytes("Merkle–Damgård"));

        Assert.Equal(MerkleDamgardSha256, Convert.ToHexStringLower(multihash.Bytes));
        Assert.Equal(Multihash.Sha256Code, multihash.Code);
        Assert.Equal(MerkleDamgardSha256[4..], Convert.ToHexStringLower(multihash.Digest.Span));
    }

    [Fact]
    public void Parse_reads_the_spec_example()
    {
        var multihash = Multihash.Parse(Convert.FromHexString(MerkleDamgardSha256));

        Assert.Equal(Multihash.Sha256Code, multihash.Code);
        Assert.Equal(32, multihash.Digest.Length);
        Assert.Equal(Multihash.Sha256(Encoding.UTF8.GetBytes("Merkle–Damgård")), multihash);
    }

    [Fact]
    public void Identity_multihash_inlines_the_data()
    {
        var multihash = Multihash.Identity([1, 2, 3]);

        Assert.Equal("0003010203", Convert.ToHexStringLower(multihash.Bytes));
        Assert.Equal(multihash, Multihash.Parse(multihash.Bytes));
    }

    [Fact]
    public void Long_digests_use_a_multi_byte_length_varint()
    {
        var digest = new byte[300];
        var multihash = Multihash.Create(Multihash.IdentityCode, digest);

        Assert.Equal("00ac02", Convert.ToHexStringLower(multihash.Bytes[..3]));
        Assert.Equal(multihash, Multihash.Parse(multihash.Bytes));
    }

    [Fact]
    public void Equality_is_by_bytes()
    {
        var a = Multihash.Sha256([1]);
        var b = Multihash.Parse(a.Bytes.ToArray());

        Assert.Equal(a, b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, Multihash.Sha256([2]));
        Assert.False(a.Equals(null));
    }

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("1220")]
    [InlineData("12ff")]
    [InlineData("122041dd7b6443542e75701aa98a0c235951a28a0d851b11564d20022ab11d2589")]
    [InlineData("122041dd7b6443542e75701aa98a0c235951a28a0d851b11564d20022ab11d2589a800")]
    [InlineData("121441dd7b6443542e75701aa98a0c235951a28a")]
    [InlineData("0081080000")]
    [InlineData("80001400")]
    public void Malformed_multihashes_are_rejected(string hex)
    {
        Assert.Throws<FormatException>(() => Multihash.Parse(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Digests_over_the_bound_cannot_be_created()
    {
        Assert.Throws<ArgumentException>(() => Multihash.Create(Multihash.IdentityCode, new byte[Multihash.MaxDigestLength + 1]));
    }
}
