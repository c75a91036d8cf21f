using Parley.Chat.Linking;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Tests.Linking;

public sealed class LinkCodeTests
{
    private static readonly DateTimeOffset Expiry = DateTimeOffset.FromUnixTimeSeconds(1_800_000_600);

    private static LinkCode Sample() => new(
        Enumerable.Range(1, LinkCode.SecretLength).Select(i => (byte)i).ToArray(),
        Expiry,
        IdentityKey.Generate().PeerId,
        [Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001"), Multiaddr.Parse($"/ip4/127.0.0.2/tcp/4002/p2p/{IdentityKey.Generate().PeerId}/p2p-circuit")]);

    [Fact]
    public void A_code_reads_back_as_it_was_made_also_in_capitals_with_spaces_and_dashes()
    {
        var code = Sample();
        var text = code.ToString();
        Assert.StartsWith(LinkCode.Prefix, text, StringComparison.Ordinal);

        foreach (var variant in new[] { text, $"  {text}\n", text.ToUpperInvariant(), LinkCode.Prefix + string.Join('-', text[LinkCode.Prefix.Length..].Chunk(5).Select(c => new string(c))) })
        {
            var parsed = LinkCode.Parse(variant);
            Assert.Equal(code.Secret, parsed.Secret);
            Assert.Equal(Expiry, parsed.ExpiresAt);
            Assert.Equal(code.Device, parsed.Device);
            Assert.Equal(code.Addresses, parsed.Addresses);
        }
    }

    [Fact]
    public void A_typo_anywhere_is_not_a_link_code_by_its_checksum()
    {
        var text = Sample().ToString();
        for (var i = LinkCode.Prefix.Length; i < text.Length; i++)
        {
            var typo = text[..i] + (text[i] == 'a' ? 'b' : 'a') + text[(i + 1)..];
            var error = Assert.Throws<FormatException>(() => LinkCode.Parse(typo));
            Assert.StartsWith("this is not a link code", error.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("", "starts with parley-link:")]
    [InlineData("parley://contact/v1/alice/abcdefgh?sn=1", "starts with parley-link:")]
    [InlineData("parley-link:", "checksum")]
    [InlineData("parley-link:abc!", "characters a link code never has")]
    [InlineData("parley-link:aaaaaaaaaaaaaaaa", "checksum")]
    public void Malformed_codes_say_what_is_wrong(string text, string says)
    {
        var error = Assert.Throws<FormatException>(() => LinkCode.Parse(text));
        Assert.Contains(says, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_cut_short_code_is_not_a_link_code()
    {
        var text = Sample().ToString();
        Assert.Throws<FormatException>(() => LinkCode.Parse(text[..^8]));
        Assert.Throws<FormatException>(() => LinkCode.Parse(new string('a', LinkCode.MaxLength + 1)));
    }

    [Fact]
    public void A_code_knows_when_it_expired()
    {
        var code = Sample();
        Assert.False(code.IsExpired(Expiry.AddSeconds(-1)));
        Assert.True(code.IsExpired(Expiry));
    }
}
