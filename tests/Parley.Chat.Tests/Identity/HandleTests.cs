using System.Security.Cryptography;
using Parley.Chat.Identity;
using Parley.Core.Identity;

namespace Parley.Chat.Tests.Identity;

public class HandleTests
{
    /// <summary>RFC 8032 test 1's public key.</summary>
    private static readonly PublicKey Rfc8032Key = new(Convert.FromHexString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"));

    [Fact]
    public void The_tag_is_the_first_40_bits_of_SHA256_of_the_key_protobuf_in_lowercase_base32()
    {
        // Computed here without the code under test: the libp2p key protobuf by hand, base32 bit by bit.
        byte[] protobuf = [0x08, 0x01, 0x12, 0x20, .. Rfc8032Key.Raw];
        var bits = SHA256.HashData(protobuf).Take(5).Aggregate(0UL, (acc, b) => (acc << 8) | b);
        var expected = new string(Enumerable.Range(0, 8).Select(i => "abcdefghijklmnopqrstuvwxyz234567"[(int)((bits >> (35 - 5 * i)) & 31)]).ToArray());

        Assert.Equal(expected, Handle.TagOf(Rfc8032Key));
        Assert.Equal("nosfddyn", expected); // also computed with Python's hashlib and base64
    }

    [Fact]
    public void Different_keys_have_different_tags()
    {
        Assert.NotEqual(Handle.TagOf(IdentityKey.Generate().PublicKey), Handle.TagOf(IdentityKey.Generate().PublicKey));
    }

    [Theory]
    [InlineData("alice", "alice")]
    [InlineData("Alice", "alice")]
    [InlineData("ALICE_b-2", "alice_b-2")]
    [InlineData("0", "0")]
    [InlineData("abcdefghijklmnopqrstuvwxyz0123", "abcdefghijklmnopqrstuvwxyz0123")]
    public void Names_are_lower_cased(string name, string normalized)
    {
        Assert.Equal(normalized, Handle.NormalizeName(name));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("abcdefghijklmnopqrstuvwxyz01234", "at most 30")]
    [InlineData("al ice", "character 3")]
    [InlineData("alice.b", "character 6")]
    [InlineData("al#ice", "character 3")]
    [InlineData("alicé", "character 5")]
    [InlineData("\u212Aate", "character 1")] // the Kelvin sign, which invariant lower-casing turns into 'k'
    [InlineData("аlice", "character 1")]     // Cyrillic a
    [InlineData("alice\n", "character 6")]
    public void Bad_names_are_refused_with_the_reason(string name, string reason)
    {
        var error = Assert.Throws<FormatException>(() => Handle.NormalizeName(name));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_handle_parses_formats_and_matches_its_key()
    {
        var tag = Handle.TagOf(Rfc8032Key);

        var handle = Handle.Parse($"Alice#{tag.ToUpperInvariant()}");

        Assert.Equal("alice", handle.Name);
        Assert.Equal(tag, handle.Tag);
        Assert.Equal($"alice#{tag}", handle.ToString());
        Assert.Equal(handle, Handle.Parse(handle.ToString()));
        Assert.Equal(handle, new Handle("alice", tag));
        Assert.True(handle.Matches(Rfc8032Key));
        Assert.False(handle.Matches(IdentityKey.Generate().PublicKey));
    }

    [Theory]
    [InlineData("alice")]
    [InlineData("alice#")]
    [InlineData("#abcdefgh")]
    [InlineData("alice#abcdefg")]
    [InlineData("alice#abcdefghi")]
    [InlineData("alice#abcdefg1")]  // 0, 1, 8 and 9 are not base32
    [InlineData("alice#abcdefg8")]
    [InlineData("alice#abc#defgh")]
    [InlineData("al ice#abcdefgh")]
    public void Malformed_handles_do_not_parse(string text)
    {
        Assert.False(Handle.TryParse(text, out _));
        Assert.Throws<FormatException>(() => Handle.Parse(text));
    }

    [Fact]
    public void TryParse_accepts_a_good_handle_and_null_is_no_handle()
    {
        Assert.True(Handle.TryParse("bob_2#abcdefgh", out var handle));
        Assert.Equal(new Handle("bob_2", "abcdefgh"), handle);
        Assert.False(Handle.TryParse(null, out _));
    }
}
