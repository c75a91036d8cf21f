using Parley.Chat.Crypto;

namespace Parley.Chat.Tests.Crypto;

public class SafetyNumberTests
{
    // libsignal-protocol-c tests/test_fingerprint.c (test_vectors_v0 and _v1; the displayable text is the same for
    // both versions) and libsignal's NumericFingerprintGeneratorTest: 0x05-prefixed Curve25519 identity keys, phone
    // numbers as stable ids, 5200 iterations.
    private static readonly byte[] AliceIdentity = Convert.FromHexString("0506863bc66d02b40d27b8d49ca7c09e9239236f9d7d25d6fcca5ce13c7064d868");
    private static readonly byte[] BobIdentity = Convert.FromHexString("05f781b6fb32fed9ba1cf2de978d4d5da28dc34046ae814402b5c0dbd96fda907b");
    private static readonly byte[] AliceStableId = "+14152222222"u8.ToArray();
    private static readonly byte[] BobStableId = "+14153333333"u8.ToArray();
    private const string DisplayableFingerprint = "300354477692869396892869876765458257569162576843440918079131";

    [Fact]
    public void Matches_libsignals_vector_from_both_sides()
    {
        Assert.Equal(DisplayableFingerprint, SafetyNumber.Compute(AliceIdentity, AliceStableId, BobIdentity, BobStableId));
        Assert.Equal(DisplayableFingerprint, SafetyNumber.Compute(BobIdentity, BobStableId, AliceIdentity, AliceStableId));
    }

    [Fact]
    public void Both_sides_compute_the_same_60_digits()
    {
        var alice = SessionPair.AccountKey();
        var bob = SessionPair.AccountKey();
        var aliceId = Bytes.Text("12D3KooWAlice");
        var bobId = Bytes.Text("12D3KooWBob");

        var fromAlice = SafetyNumber.Compute(alice, aliceId, bob, bobId);
        var fromBob = SafetyNumber.Compute(bob, bobId, alice, aliceId);

        Assert.Equal(fromAlice, fromBob);
        Assert.Equal(60, fromAlice.Length);
        Assert.All(fromAlice, c => Assert.True(char.IsAsciiDigit(c)));
        Assert.NotEqual(fromAlice, SafetyNumber.Compute(SessionPair.AccountKey(), aliceId, bob, bobId));
        Assert.NotEqual(fromAlice, SafetyNumber.Compute(alice, Bytes.Text("12D3KooWMallory"), bob, bobId));
    }

    [Fact]
    public void Format_groups_twelve_blocks_of_five()
    {
        Assert.Equal("30035 44776 92869 39689 28698 76765 45825 75691 62576 84344 09180 79131", SafetyNumber.Format(DisplayableFingerprint));
        Assert.Throws<FormatException>(() => SafetyNumber.Format("12345"));
        Assert.Throws<FormatException>(() => SafetyNumber.Format(DisplayableFingerprint[..59] + "x"));
    }

    [Fact]
    public void Iterations_must_be_positive()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => SafetyNumber.Compute(AliceIdentity, AliceStableId, BobIdentity, BobStableId, 0));
        Assert.NotEqual(DisplayableFingerprint, SafetyNumber.Compute(AliceIdentity, AliceStableId, BobIdentity, BobStableId, 1024));
    }
}
