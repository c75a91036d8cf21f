using System.Buffers.Binary;
using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Directory.Protos;
using static Parley.Chat.Tests.Directory.DirectoryTestSupport;

namespace Parley.Chat.Tests.Directory;

public class NameClaimValidationTests
{
    private readonly DirectoryTestSupport _support = new();

    [Fact]
    public void A_claim_set_opens_to_its_claims_in_order()
    {
        var value = Set(_support.Claim(Bob, "alice"), _support.Claim(Alice, "alice", sequence: 5));

        var claims = _support.Validator.OpenNameClaims(NameKey("alice"), value);

        Assert.Equal([Bob.Id, Alice.Id], claims.Select(c => c.Account.ToPeerId()));
        Assert.Equal(Alice.HandleFor("alice"), claims[1].Handle);
        Assert.Equal(5UL, claims[1].Sequence);
        Assert.Equal(Stamp(Alice, "alice"), claims[1].ProofOfWork);
        Assert.Equal(_support.Clock.GetUtcNow().AddDays(7), claims[1].ExpiresAt);
    }

    [Fact]
    public void The_claim_signature_covers_the_documented_payload()
    {
        var claim = _support.Claim(Alice, "alice", sequence: 0x0102030405060708);
        byte[] expected = [.. "parley-name-claim:"u8, .. U32(5), .. "alice"u8, .. U32(36), .. Alice.PublicKey.ToProtobuf(),
            .. U64(claim.Sequence), .. U64((ulong)claim.ExpiresAt.ToUnixTimeMilliseconds()), .. U64(claim.ProofOfWork)];

        Assert.True(Alice.PublicKey.Verify(expected, claim.Signature));
    }

    [Fact]
    public void A_claim_without_valid_work_is_rejected()
    {
        var lazy = _support.Claim(Alice, "alice", stamp: BadStamp(Alice, "alice"));

        _support.AssertRejected(NameKey("alice"), Set(lazy), "no valid proof of work at difficulty 8");
    }

    [Fact]
    public void A_stamp_is_bound_to_its_name_and_account()
    {
        var stolen = _support.Claim(Mallory, "alice", stamp: StampOnlyFor(Alice, "alice", Mallory, "alice"));
        var moved = _support.Claim(Alice, "alice", stamp: StampOnlyFor(Alice, "bob", Alice, "alice"));

        _support.AssertRejected(NameKey("alice"), Set(stolen), "proof of work");
        _support.AssertRejected(NameKey("alice"), Set(moved), "proof of work");
    }

    [Fact]
    public void A_claim_for_another_name_is_rejected()
    {
        _support.AssertRejected(NameKey("alice"), Set(_support.Claim(Alice, "bob")), "another name");
    }

    [Theory]
    [InlineData("Alice", "not normalized")]
    [InlineData("al ice", "invalid")]
    [InlineData("alice/x", "invalid")]
    public void A_key_whose_name_is_not_normalized_is_rejected(string name, string reason)
    {
        _support.AssertRejected(NameKey(name), Set(_support.Claim(Alice, "alice")), reason);
    }

    [Fact]
    public void A_forged_claim_is_rejected()
    {
        // Mallory signs a claim naming Alice's account (with Alice's real stamp).
        var message = _support.Claim(Mallory, "alice").ToMessage();
        message.AccountKey = ByteString.CopyFrom(Alice.PublicKey.ToProtobuf());
        message.ProofOfWork = Stamp(Alice, "alice");

        _support.AssertRejected(NameKey("alice"), SetOf(message), "signature is invalid");
    }

    [Fact]
    public void A_tampered_claim_is_rejected()
    {
        var message = _support.Claim(Alice, "alice").ToMessage();
        message.Sequence++;

        _support.AssertRejected(NameKey("alice"), SetOf(message), "signature is invalid");
    }

    [Fact]
    public void A_set_whose_claims_have_all_expired_is_rejected()
    {
        var value = Set(_support.Claim(Alice, "alice", expiresIn: TimeSpan.FromDays(1)));
        _support.Validator.Validate(NameKey("alice"), value);

        _support.Clock.Advance(TimeSpan.FromDays(1));

        _support.AssertRejected(NameKey("alice"), value, "expired");
    }

    [Fact]
    public void Expired_claims_in_a_set_with_live_ones_are_inert()
    {
        var value = Set(_support.Claim(Alice, "alice", expiresIn: TimeSpan.FromDays(1)), _support.Claim(Bob, "alice", expiresIn: TimeSpan.FromDays(2)));

        _support.Clock.Advance(TimeSpan.FromDays(1));

        _support.Validator.Validate(NameKey("alice"), value);
        Assert.Equal([Bob.Id], _support.Claimants("alice", value));
    }

    [Fact]
    public void A_claim_expiring_more_than_7_days_ahead_is_rejected()
    {
        var value = Set(_support.Claim(Alice, "alice", expiresIn: TimeSpan.FromDays(7) + TimeSpan.FromMilliseconds(1)));

        _support.AssertRejected(NameKey("alice"), value, "more than 7 days ahead");
    }

    [Fact]
    public void At_most_16_claims()
    {
        var claims = Enumerable.Range(10, 17).Select(i => _support.Claim(AccountOf(i), "alice")).ToArray();

        _support.Validator.Validate(NameKey("alice"), Set(claims[..16]));
        _support.AssertRejected(NameKey("alice"), Set(claims), "17 claims; at most 16");
    }

    [Fact]
    public void Oversized_sets_and_claims_are_rejected_before_parsing()
    {
        _support.AssertRejected(NameKey("alice"), new byte[1 << 20], "exceeds");
        var bloated = _support.Claim(Alice, "alice").ToMessage();
        bloated.Signature = ByteString.CopyFrom(new byte[300]);
        _support.AssertRejected(NameKey("alice"), SetOf(bloated), "256-byte limit");
    }

    [Fact]
    public void Malformed_sets_are_rejected()
    {
        _support.AssertRejected(NameKey("alice"), [0xff, 0xff], "well-formed NameClaimSet");
        _support.AssertRejected(NameKey("alice"), [], "empty");
        var claim = _support.Claim(Alice, "alice");
        _support.AssertRejected(NameKey("alice"), Set(claim, claim), "one account twice");
        var badKey = claim.ToMessage();
        badKey.AccountKey = ByteString.CopyFrom([8, 1]);
        _support.AssertRejected(NameKey("alice"), SetOf(badKey), "account key is invalid");
    }

    private static byte[] SetOf(params NameClaimMessage[] claims)
    {
        var set = new NameClaimSetMessage();
        set.Claims.AddRange(claims);
        return set.ToByteArray();
    }

    private static byte[] U32(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    private static byte[] U64(ulong value)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        return bytes;
    }
}
