using System.Security.Cryptography;
using Parley.Core.Identity;
using Parley.Dht.Records;
using static Parley.Dht.Tests.Records.RecordTestSupport;

namespace Parley.Dht.Tests.Records;

public class RecordValidatorRegistryTests
{
    private readonly RecordTestSupport _support = new();

    [Fact]
    public void Records_go_to_the_validator_of_the_first_path_segment()
    {
        var registry = _support.Registry();
        var key = KeyOf(Alice);

        registry.Validate(key, _support.Signed(Alice, 1));

        Assert.True(registry.IsKnownNamespace(key));
        Assert.True(registry.IsKnownNamespace(RecordKey.Parse("/pk/anything")));
        Assert.Equal(1, registry.Select(key, [_support.Signed(Alice, 1), _support.Signed(Alice, 2)]));
    }

    [Theory]
    [InlineData("/ipns/abc")]   // no validator registered
    [InlineData("/parley")]     // no path after the namespace
    [InlineData("parley/x/y")]  // not rooted
    [InlineData("//x")]         // empty namespace
    [InlineData("")]
    public void Keys_of_unknown_namespaces_or_shapes_are_rejected(string key)
    {
        var registry = _support.Registry();

        // A malformed key is refused where it is parsed, before any validator; a well-formed one of no namespace we know by the registry.
        var error = Assert.Throws<RecordValidationException>(() => registry.Validate(RecordKey.Parse(Utf8(key)), _support.Signed(Alice, 1)));

        Assert.Contains(key == "/ipns/abc" ? "no validator" : "form", error.Reason, StringComparison.Ordinal);
        if (RecordKey.TryParse(Utf8(key), out var parsed, out _))
        {
            Assert.False(registry.IsKnownNamespace(parsed));
            Assert.Throws<RecordValidationException>(() => registry.Select(parsed, [[1]]));
        }
    }

    [Fact]
    public void Keys_that_are_not_UTF8_are_rejected_for_string_validators()
    {
        var registry = _support.Registry();
        byte[] key = [.. Utf8("/parley/"), 0xff, 0xfe, .. Utf8("/x")];

        var error = Assert.Throws<RecordValidationException>(() => registry.Validate(RecordKey.Parse(key), _support.Signed(Alice, 1)));

        Assert.Contains("UTF-8", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Over_long_keys_are_rejected()
    {
        var registry = _support.Registry();
        var key = Utf8("/parley/" + new string('a', RecordKey.MaxLength));

        var error = Assert.Throws<RecordValidationException>(() => registry.Validate(RecordKey.Parse(key), [1]));

        Assert.Contains("limit", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Registration_refuses_bad_and_duplicate_namespaces()
    {
        var registry = _support.Registry();

        Assert.Throws<ArgumentException>(() => registry.Register("parley", _support.Validator));
        Assert.Throws<ArgumentException>(() => registry.Register("a/b", _support.Validator));
        Assert.Throws<ArgumentException>(() => registry.Register("", _support.Validator));
    }

    [Fact]
    public void Select_needs_something_to_select_from()
    {
        Assert.Throws<ArgumentException>(() => _support.Registry().Select(KeyOf(Alice), []));
    }

    [Fact]
    public void A_public_key_record_is_accepted_under_its_binary_peer_id()
    {
        var registry = _support.Registry();
        var key = RecordKey.Create(PublicKeyValidator.Namespace, Alice.PeerId.Bytes);

        registry.Validate(key, Alice.PublicKey.ToProtobuf());

        Assert.Equal(0, registry.Select(key, [Alice.PublicKey.ToProtobuf(), Alice.PublicKey.ToProtobuf()]));
    }

    [Fact]
    public void A_public_key_record_for_a_hashed_peer_id_is_checked_by_its_SHA256()
    {
        // An RSA-sized key protobuf: over 42 bytes, so its peer id is sha2-256 of it (Parley cannot parse RSA, nor needs to).
        byte[] rsaLikeKey = [0x08, 0x00, 0x12, 0x80, 0x01, .. Enumerable.Range(0, 128).Select(i => (byte)i)];
        byte[] peerId = [0x12, 0x20, .. SHA256.HashData(rsaLikeKey)];
        var key = RecordKey.Create(PublicKeyValidator.Namespace, peerId);
        var registry = _support.Registry();

        registry.Validate(key, rsaLikeKey);
        var tampered = (byte[])rsaLikeKey.Clone();
        tampered[^1] ^= 1;
        var error = Assert.Throws<RecordValidationException>(() => registry.Validate(key, tampered));
        Assert.Contains("does not match", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_public_key_record_is_rejected_for_another_peer_or_a_garbage_id()
    {
        var registry = _support.Registry();
        var key = RecordKey.Create(PublicKeyValidator.Namespace, Alice.PeerId.Bytes);

        Assert.Contains("does not match",
            Assert.Throws<RecordValidationException>(() => registry.Validate(key, Bob.PublicKey.ToProtobuf())).Reason, StringComparison.Ordinal);
        Assert.Contains("peer id",
            Assert.Throws<RecordValidationException>(() => registry.Validate(RecordKey.Create(PublicKeyValidator.Namespace, [0xff, 0x01]), Alice.PublicKey.ToProtobuf())).Reason, StringComparison.Ordinal);
        Assert.Contains("limit",
            Assert.Throws<RecordValidationException>(() => registry.Validate(key, new byte[10 * 1024 * 1024])).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void The_public_key_validator_takes_the_binary_peer_id_not_its_text()
    {
        var sha256Id = PeerId.FromBytes([0x12, 0x20, .. new byte[32]]);

        // "/pk/" is followed by the peer id's bytes; its base58 text there names no peer.
        Assert.Throws<RecordValidationException>(() => new PublicKeyValidator().Validate(RecordKey.Parse("/pk/" + sha256Id), Alice.PublicKey.ToProtobuf()));
        Assert.Throws<RecordValidationException>(() => new PublicKeyValidator().Validate(RecordKey.Parse("/ipns/x"), Alice.PublicKey.ToProtobuf()));
    }
}
