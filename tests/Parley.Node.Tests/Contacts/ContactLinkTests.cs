using Parley.Chat.Crypto;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Node.Contacts;
using Parley.Testing;

namespace Parley.Node.Tests.Contacts;

/// <summary>The contact link format (docs/contact-links.md): what it carries, what it refuses, its QR code.</summary>
public sealed class ContactLinkTests
{
    private static readonly IdentityKey Alice = IdentityKey.Generate();
    private static readonly IdentityKey Mallory = IdentityKey.Generate();

    [Fact]
    public void A_link_round_trips_and_carries_the_owners_half_of_every_safety_number()
    {
        var handle = new Handle("alice", Handle.TagOf(Alice.PublicKey));
        var link = ContactLink.Of(handle, Alice.PublicKey);
        var text = link.ToString();
        Assert.Equal($"parley://contact/v1/alice/{handle.Tag}?sn={link.Fingerprint}", text);
        Assert.Matches("^[0-9]{30}$", link.Fingerprint);
        Assert.True(text.Length <= 90, text);
        Assert.Equal(link, ContactLink.Parse(text));
        Assert.Equal(link, ContactLink.Parse($"  PARLEY://CONTACT/v1/Alice/{handle.Tag.ToUpperInvariant()}?sn={link.Fingerprint}&later=1\n"));

        // Whoever computes a safety number with alice finds the link's digits as her half of it.
        var bob = IdentityKey.Generate();
        var number = SafetyNumber.Compute(bob.PublicKey.ToProtobuf(), bob.PeerId.Bytes, Alice.PublicKey.ToProtobuf(), Alice.PeerId.Bytes);
        Assert.True(number.StartsWith(link.Fingerprint, StringComparison.Ordinal) || number.EndsWith(link.Fingerprint, StringComparison.Ordinal));
        Assert.True(link.Matches(Alice.PublicKey));
        Assert.False(link.Matches(Mallory.PublicKey));
    }

    [Theory]
    [InlineData("alice#k3f7q2xa", "starts with parley://contact/")]
    [InlineData("parley://join/aaaa/bbbb/alice#k3f7q2xa", "starts with parley://contact/")]
    [InlineData("parley://contact/v2/alice/k3f7q2xa?sn=123451234512345123451234512345", "version v2")]
    [InlineData("parley://contact/alice/k3f7q2xa?sn=123451234512345123451234512345", "reads parley://contact/v1/<name>/<tag>")]
    [InlineData("parley://contact/v1/alice/k3f7q2xa/x?sn=123451234512345123451234512345", "reads parley://contact/v1/<name>/<tag>")]
    [InlineData("parley://contact/v1/alice/k3f7q2xa", "no safety number")]
    [InlineData("parley://contact/v1/alice/k3f7q2xa?sn=12345", "30 digits")]
    [InlineData("parley://contact/v1/alice/k3f7q2xa?sn=12345123451234512345123451234x", "30 digits")]
    [InlineData("parley://contact/v1/al ice/k3f7q2xa?sn=123451234512345123451234512345", "name")]
    [InlineData("parley://contact/v1/alice/k3f7q2x1?sn=123451234512345123451234512345", "tag")]
    public void A_damaged_link_is_refused_with_what_is_wrong(string text, string reason)
    {
        var refusal = Assert.Throws<FormatException>(() => ContactLink.Parse(text));
        Assert.Contains(reason, refusal.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void An_oversized_text_is_refused_before_it_is_parsed() =>
        Assert.Contains("at most 256", Assert.Throws<FormatException>(() => ContactLink.Parse("parley://contact/v1/" + new string('a', 10_000))).Message, StringComparison.Ordinal);

    [Fact]
    public void The_qr_code_reads_back_as_the_link()
    {
        var link = ContactLink.Of(new Handle("a-rather-long-name_of_30_chars", Handle.TagOf(Alice.PublicKey)), Alice.PublicKey);
        Assert.Equal(link.ToString(), QrCodes.DecodeRows(link.QrRows()));
        Assert.Equal(link.ToString(), QrCodes.DecodeHalfBlocks(link.QrText(), blocksAreLight: true));
    }
}
