using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using Parley.Dht.Records;
using static Parley.Dht.Tests.Records.RecordTestSupport;
using SignedRecordProto = Parley.Dht.Protos.SignedRecordEnvelope;

namespace Parley.Dht.Tests.Records;

public class SignedRecordValidatorTests
{
    private readonly RecordTestSupport _support = new();

    [Fact]
    public void A_good_record_is_accepted_and_opens_to_its_contents()
    {
        var value = _support.Signed(Alice, 7, "at /ip4/10.0.0.1/tcp/4001");

        var record = _support.Validator.Open(KeyOf(Alice), value);

        Assert.Equal(Alice.PeerId, record.Owner);
        Assert.Equal(Alice.PublicKey, record.OwnerKey);
        Assert.Equal(7UL, record.Sequence);
        Assert.Equal(_support.Clock.GetUtcNow() + TimeSpan.FromDays(1), record.ExpiresAt);
        Assert.Equal("at /ip4/10.0.0.1/tcp/4001", Encoding.UTF8.GetString(record.Value.Span));
    }

    [Fact]
    public void The_signature_covers_the_documented_domain_separated_encoding()
    {
        var key = KeyOf(Alice);
        var expires = _support.Clock.GetUtcNow() + TimeSpan.FromHours(1);
        var value = SignedRecordProto.Parser.ParseFrom(SignedRecord.Create(Alice, key, [0xaa, 0xbb], 0x0102030405060708, expires));
        var keyBytes = key.ToArray();
        var expected = new List<byte>(Utf8("parley-signed-record:"));
        expected.AddRange(BigEndian32(keyBytes.Length));
        expected.AddRange(keyBytes);
        expected.AddRange([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]);
        var expiresBytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(expiresBytes, expires.ToUnixTimeMilliseconds());
        expected.AddRange(expiresBytes);
        expected.AddRange(BigEndian32(2));
        expected.AddRange([0xaa, 0xbb]);

        Assert.True(Alice.PublicKey.Verify(expected.ToArray(), value.Signature.Span));
        Assert.Equal(Alice.PublicKey.ToProtobuf(), value.PublicKey.ToByteArray());
        Assert.Equal(expires.ToUnixTimeMilliseconds(), value.ExpiresUnixMs);
    }

    [Fact]
    public void A_bad_signature_is_rejected()
    {
        var tampered = Mutate(_support.Signed(Alice, 1), record => record.Value = ByteString.CopyFromUtf8("changed"));

        AssertRejected(KeyOf(Alice), tampered, "signature");
    }

    [Fact]
    public void A_signature_of_the_wrong_length_is_rejected()
    {
        var truncated = Mutate(_support.Signed(Alice, 1), record => record.Signature = ByteString.CopyFrom(record.Signature.Span[..63]));

        AssertRejected(KeyOf(Alice), truncated, "signature");
    }

    [Fact]
    public void A_record_signed_for_another_key_is_rejected()
    {
        var value = SignedRecord.Create(Alice, KeyOf(Alice, "other"), Utf8("x"), 1, _support.Clock.GetUtcNow().AddHours(1));

        AssertRejected(KeyOf(Alice), value, "signature");
    }

    [Fact]
    public void A_record_under_someone_elses_key_is_rejected()
    {
        // Bob signs a record for Alice's key: the signature is Bob's own and valid, but he is not the owner.
        var value = SignedRecord.Create(Bob, KeyOf(Alice), Utf8("x"), 1, _support.Clock.GetUtcNow().AddHours(1));

        AssertRejected(KeyOf(Alice), value, "owner");
    }

    [Fact]
    public void An_expired_record_is_rejected_once_the_clock_passes_its_expiry()
    {
        var value = _support.Signed(Alice, 1, expiresIn: TimeSpan.FromMinutes(10));
        _support.Validator.Validate(KeyOf(Alice), value);

        _support.Clock.Advance(TimeSpan.FromMinutes(10));

        AssertRejected(KeyOf(Alice), value, "expired");
    }

    [Fact]
    public void A_record_expiring_too_far_ahead_is_rejected()
    {
        var value = _support.Signed(Alice, 1, expiresIn: TimeSpan.FromDays(7) + TimeSpan.FromMilliseconds(1));

        AssertRejected(KeyOf(Alice), value, "days ahead");
        _support.Validator.Validate(KeyOf(Alice), _support.Signed(Alice, 1, expiresIn: TimeSpan.FromDays(7)));
    }

    [Fact]
    public void A_10_MB_value_is_rejected_by_its_length_alone()
    {
        // Not even a protobuf: the size check must come before any parsing.
        var huge = new byte[10 * 1024 * 1024];

        AssertRejected(KeyOf(Alice), huge, "exceeds");
    }

    [Fact]
    public void A_value_just_over_the_configured_limit_is_rejected()
    {
        var validator = new SignedRecordValidator(_support.Clock, maxValueSize: 1024);
        var value = _support.Signed(Alice, 1, new string('x', 2000));

        var error = Assert.Throws<RecordValidationException>(() => validator.Validate(KeyOf(Alice), value));
        Assert.Contains("1024-byte limit", error.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0x0a, 0x05, 0x01 })] // public_key claims 5 bytes, has 1
    [InlineData(new byte[] { 0xff, 0xff, 0xff })]
    [InlineData(new byte[] { 0x0b })]              // start-group wire type
    public void Malformed_protobuf_is_rejected(byte[] value)
    {
        AssertRejected(KeyOf(Alice), value, "protobuf");
    }

    [Fact]
    public void A_malformed_public_key_is_rejected()
    {
        var value = Mutate(_support.Signed(Alice, 1), record => record.PublicKey = ByteString.CopyFrom([0x08, 0x01, 0x12, 0x01, 0x00]));

        AssertRejected(KeyOf(Alice), value, "public key");
    }

    [Theory]
    [InlineData("/parley")]
    [InlineData("/parley/")]
    [InlineData("parley/x/y")]
    [InlineData("/parley/not-a-peer-id/presence")]
    [InlineData("/parley//presence")]
    [InlineData("//12D3KooW/presence")]
    public void A_key_without_an_owner_and_a_name_is_rejected(string key)
    {
        AssertRejected(key, _support.Signed(Alice, 1), "key");
    }

    [Fact]
    public void A_key_must_have_a_name_after_the_owner()
    {
        AssertRejected($"/parley/{Alice.PeerId}/", _support.Signed(Alice, 1), "key");
        AssertRejected($"/parley/{Alice.PeerId}", _support.Signed(Alice, 1), "key");
    }

    [Fact]
    public void A_key_naming_the_owner_in_a_non_canonical_form_is_rejected()
    {
        var cidKey = RecordKey.Parse($"/parley/{Alice.PeerId.ToCidString()}/presence");
        var value = SignedRecord.Create(Alice, cidKey, Utf8("x"), 1, _support.Clock.GetUtcNow().AddHours(1));

        AssertRejected(cidKey, value, "base58");
    }

    [Fact]
    public void Names_may_contain_slashes()
    {
        var key = KeyOf(Alice, "prekeys/device/1");
        _support.Validator.Validate(key, SignedRecord.Create(Alice, key, Utf8("x"), 1, _support.Clock.GetUtcNow().AddHours(1)));
    }

    [Fact]
    public void An_owner_given_by_the_caller_is_checked_whatever_the_key_shape()
    {
        var key = RecordKey.Parse($"/parley/presence/{Alice.PeerId}");
        var value = SignedRecord.Create(Alice, key, Utf8("x"), 1, _support.Clock.GetUtcNow().AddHours(1));

        Assert.Equal(Alice.PeerId, _support.Validator.Open(key, Alice.PeerId, value).Owner);
        var error = Assert.Throws<RecordValidationException>(() => _support.Validator.Open(key, Bob.PeerId, value));
        Assert.Contains("owner", error.Reason, StringComparison.Ordinal);
        Assert.Equal(Alice.PeerId, SignedRecordValidator.ParseOwnerId(Alice.PeerId.ToString()));
        Assert.Throws<RecordValidationException>(() => SignedRecordValidator.ParseOwnerId(Alice.PeerId.ToCidString()));
    }

    [Fact]
    public void Select_prefers_the_highest_sequence()
    {
        byte[][] values = [_support.Signed(Alice, 3), _support.Signed(Alice, 9), _support.Signed(Alice, 4)];

        Assert.Equal(1, _support.Validator.Select(KeyOf(Alice), values));
    }

    [Fact]
    public void Select_breaks_sequence_ties_by_latest_expiry_then_greatest_bytes()
    {
        var sooner = _support.Signed(Alice, 5, "a", TimeSpan.FromHours(1));
        var later = _support.Signed(Alice, 5, "a", TimeSpan.FromHours(2));
        Assert.Equal(1, _support.Validator.Select(KeyOf(Alice), [sooner, later]));
        Assert.Equal(0, _support.Validator.Select(KeyOf(Alice), [later, sooner]));

        var one = _support.Signed(Alice, 5, "one", TimeSpan.FromHours(1));
        var two = _support.Signed(Alice, 5, "two", TimeSpan.FromHours(1));
        var greatest = one.AsSpan().SequenceCompareTo(two) > 0 ? one : two;
        Assert.Same(greatest, new[] { one, two }[_support.Validator.Select(KeyOf(Alice), [one, two])]);
        Assert.Same(greatest, new[] { two, one }[_support.Validator.Select(KeyOf(Alice), [two, one])]);
    }

    [Fact]
    public void Select_is_the_same_for_every_ordering()
    {
        var values = new List<byte[]>();
        for (ulong sequence = 1; sequence <= 3; sequence++)
        {
            values.Add(_support.Signed(Alice, sequence, "x", TimeSpan.FromHours(1)));
            values.Add(_support.Signed(Alice, sequence, "y", TimeSpan.FromHours(1)));
            values.Add(_support.Signed(Alice, sequence, "x", TimeSpan.FromHours(2)));
        }
        var random = new Random(7);
        var winner = values[_support.Validator.Select(KeyOf(Alice), values)];

        for (var i = 0; i < 50; i++)
        {
            var shuffled = values.OrderBy(_ => random.Next()).ToArray();
            Assert.Same(winner, shuffled[_support.Validator.Select(KeyOf(Alice), shuffled)]);
        }
        Assert.Equal(3UL, _support.Validator.Open(KeyOf(Alice), winner).Sequence);
    }

    [Fact]
    public void Select_ranks_unparseable_values_last()
    {
        Assert.Equal(1, _support.Validator.Select(KeyOf(Alice), [[0xff, 0xff], _support.Signed(Alice, 0)]));
    }

    /// <summary>A key in text form is parsed as a node would parse it off the wire: a malformed one is refused there.</summary>
    private void AssertRejected(string key, byte[] value, string reasonFragment)
    {
        var error = Assert.Throws<RecordValidationException>(() => _support.Validator.Validate(RecordKey.Parse(key), value));
        Assert.Contains(reasonFragment, error.Reason, StringComparison.Ordinal);
    }

    private void AssertRejected(RecordKey key, byte[] value, string reasonFragment)
    {
        var error = Assert.Throws<RecordValidationException>(() => _support.Validator.Validate(key, value));
        Assert.Contains(reasonFragment, error.Reason, StringComparison.Ordinal);
    }

    private static byte[] Mutate(byte[] value, Action<SignedRecordProto> change)
    {
        var record = SignedRecordProto.Parser.ParseFrom(value);
        change(record);
        return record.ToByteArray();
    }

    private static byte[] BigEndian32(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }
}
