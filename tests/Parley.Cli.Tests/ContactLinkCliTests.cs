using Parley.Testing;

namespace Parley.Cli.Tests;

/// <summary>`parley link` (the link and a QR code that scans back to it) and `parley add` (checked against the key).</summary>
[Collection(ChatNetworkCollection.Name)]
public sealed class ContactLinkCliTests(ChatNetwork network)
{
    [Fact]
    public async Task Link_prints_a_scannable_code_and_add_checks_the_safety_number_before_asking()
    {
        var mona = network.Folder("mona");
        var nick = network.Folder("nick");
        var monaHandle = (await network.RunOkAsync(mona, "init", "--name", "mona")).Trim();
        var nickHandle = (await network.RunOkAsync(nick, "init", "--name", "nick")).Trim();

        var printed = ChatCliTests.Lines(await network.RunOkAsync(mona, "link"));
        var link = printed[0]["your contact link: ".Length..];
        Assert.StartsWith($"parley://contact/v1/mona/{monaHandle.Split('#')[1]}?sn=", link, StringComparison.Ordinal);
        var code = string.Join('\n', printed.Where(l => l.Length > 0 && l.All(c => c is '█' or '▀' or '▄' or ' ')));
        Assert.Equal(link, QrCodes.DecodeHalfBlocks(code, blocksAreLight: true));
        var json = await network.RunJsonAsync(mona, "link");
        Assert.Equal(link, json.GetProperty("link").GetString());
        Assert.Equal(link[^30..], json.GetProperty("fingerprint").GetString());

        // Altered or damaged links: refused with the reason, nothing sent.
        var altered = link[..^1] + (link[^1] == '0' ? '1' : '0');
        var warning = await network.RunFailingAsync(nick, "add", altered);
        Assert.Contains("parley: WARNING: the safety number in this link does not match the key the directory has for them", warning, StringComparison.Ordinal);
        Assert.Contains("No request was sent", warning, StringComparison.Ordinal);
        Assert.Contains("a contact link starts with parley://contact/", await network.RunFailingAsync(nick, "add", monaHandle), StringComparison.Ordinal);
        Assert.Contains("this contact link is of version v9", await network.RunFailingAsync(nick, "add", link.Replace("/v1/", "/v9/", StringComparison.Ordinal)), StringComparison.Ordinal);
        Assert.Equal("[]", (await network.RunOkAsync(nick, "contacts", "--json")).Trim());

        // The real link: the safety number matches, the request goes out, mona gets it.
        var added = ChatCliTests.Lines(await network.RunOkAsync(nick, "add", link, "hello from your link"));
        Assert.Equal($"✓ the safety number matches: {monaHandle} holds the key the link names", added[0]);
        Assert.Equal($"request sent to {monaHandle}: hello from your link", added[1]);
        var safetyNumber = added[2]["safety number ".Length..].Replace(" ", "", StringComparison.Ordinal);
        Assert.True(safetyNumber.StartsWith(link[^30..], StringComparison.Ordinal) || safetyNumber.EndsWith(link[^30..], StringComparison.Ordinal), "the link carries mona's half of the safety number");
        Assert.Equal([$"request from {nickHandle}: hello from your link   (accept with: parley accept {nickHandle})"], ChatCliTests.Lines(await network.RunOkAsync(mona, "inbox")));
    }
}
