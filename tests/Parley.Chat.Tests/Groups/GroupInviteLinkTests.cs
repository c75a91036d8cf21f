using Parley.Chat.Groups;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

public class GroupInviteLinkTests
{
    [Fact]
    public void Format_and_parse_round_trip()
    {
        var log = Room(new Person("alice"));
        var link = log.InviteLink("alice#k3f7q2xa");
        var text = link.Format();

        Assert.StartsWith("parley://join/", text, StringComparison.Ordinal);
        Assert.EndsWith("/alice#k3f7q2xa", text, StringComparison.Ordinal);
        var parsed = GroupInviteLink.Parse(text);
        Assert.Equal(log.GroupId, parsed.GroupId);
        Assert.Equal(log.LinkKey.ToArray(), parsed.LinkKey.ToArray());
        Assert.Equal("alice#k3f7q2xa", parsed.AdminHandle);
        Assert.Equal("alice#k3f7q2xa", GroupInviteLink.Parse(text.Replace("#", "%23", StringComparison.Ordinal)).AdminHandle);
        Assert.DoesNotContain(Convert.ToHexString(log.LinkKey), parsed.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("")]
    [InlineData("https://join/a/b/alice#k3f7q2xa")]
    [InlineData("parley://join/")]
    [InlineData("parley://join/aaaa/bbbb")]
    [InlineData("parley://join/aaaa/bbbb/alice#k3f7q2xa")]
    [InlineData("parley://join/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/alice")]
    [InlineData("parley://join/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/Alice#k3f7q2xa")]
    [InlineData("parley://join/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/alice#k3f7q2x1")]
    [InlineData("parley://join/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/alice#k3f7q2xa/extra")]
    [InlineData("parley://join/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/alice#k3f7q2xa")]
    public void Bad_links_are_refused(string link) => Assert.Throws<FormatException>(() => GroupInviteLink.Parse(link));

    [Fact]
    public void Overlong_link_is_refused() =>
        Assert.Throws<FormatException>(() => GroupInviteLink.Parse("parley://join/" + new string('a', GroupInviteLink.MaxLength)));
}
