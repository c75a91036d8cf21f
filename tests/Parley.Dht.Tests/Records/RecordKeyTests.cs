using Parley.Dht.Records;
using static Parley.Dht.Tests.Records.RecordTestSupport;

namespace Parley.Dht.Tests.Records;

public class RecordKeyTests
{
    [Fact]
    public void A_key_shows_its_namespace_and_path_and_keeps_its_bytes()
    {
        var key = RecordKey.Parse("/parley-kv/owner/name/with/slashes");

        Assert.Equal("parley-kv", key.Namespace);
        Assert.Equal("owner/name/with/slashes", key.PathText);
        Assert.Equal(Utf8("owner/name/with/slashes"), key.Path.ToArray());
        Assert.Equal(Utf8("/parley-kv/owner/name/with/slashes"), key.ToArray());
        Assert.Equal("/parley-kv/owner/name/with/slashes", key.ToString());
        Assert.Equal(key, RecordKey.Create("parley-kv", "owner/name/with/slashes"));
        Assert.Equal(key.GetHashCode(), RecordKey.Parse(key.Bytes).GetHashCode());
        Assert.NotEqual(key, RecordKey.Parse("/parley/owner/name/with/slashes"));
    }

    [Fact]
    public void A_binary_path_is_kept_as_bytes_and_has_no_text()
    {
        var key = RecordKey.Create(PublicKeyValidator.Namespace, Alice.PeerId.Bytes);

        Assert.Equal("pk", key.Namespace);
        Assert.Equal(Alice.PeerId.Bytes.ToArray(), key.Path.ToArray());
        Assert.Null(key.Text);
        Assert.Throws<RecordValidationException>(() => key.PathText);
        Assert.StartsWith("/pk/0x", key.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/parley", "form")]
    [InlineData("parley/x/y", "form")]
    [InlineData("//x", "form")]
    [InlineData("", "form")]
    public void Keys_not_of_the_form_namespace_then_path_are_refused(string text, string reason)
    {
        Assert.False(RecordKey.TryParse(Utf8(text), out _, out var problem));
        Assert.Contains(reason, problem, StringComparison.Ordinal);
        Assert.Throws<RecordValidationException>(() => RecordKey.Parse(text));
    }

    [Fact]
    public void A_namespace_that_is_not_UTF8_or_a_key_over_the_limit_is_refused()
    {
        Assert.Contains("UTF-8", Assert.Throws<RecordValidationException>(() => RecordKey.Parse([(byte)'/', 0xff, (byte)'/', (byte)'x'])).Reason, StringComparison.Ordinal);
        Assert.Contains("limit", Assert.Throws<RecordValidationException>(() => RecordKey.Create("parley", new string('a', RecordKey.MaxLength))).Reason, StringComparison.Ordinal);
    }
}
