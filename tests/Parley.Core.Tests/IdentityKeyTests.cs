using Parley.Core.Identity;

namespace Parley.Core.Tests;

public class IdentityKeyTests
{
    // libp2p/specs peer-ids/peer-ids.md, "Test vectors": ED25519 private and public key protobufs.
    private const string SpecPrivateKeyProtobuf = "080112407e0830617c4a7de83925dfb2694556b12936c477a0e1feb2e148ec9da60fee7d1ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    private const string SpecPublicKeyProtobuf = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";
    private const string SpecPeerId = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

    // Same spec table: a secp256k1 private key, which Parley does not accept as an identity.
    private const string SpecSecp256k1PrivateKeyProtobuf = "0802122053DADF1D5A164D6B4ACDB15E24AA4C5B1D3461BDBD42ABEDB0A4404D56CED8FB";

    [Fact]
    public void Spec_private_key_derives_the_spec_public_key_and_round_trips()
    {
        var key = IdentityKey.FromPrivateKeyProtobuf(Convert.FromHexString(SpecPrivateKeyProtobuf));

        Assert.Equal(SpecPublicKeyProtobuf, Convert.ToHexStringLower(key.PublicKey.ToProtobuf()));
        Assert.Equal(SpecPeerId, key.PeerId.ToString());
        Assert.Equal(SpecPrivateKeyProtobuf, Convert.ToHexStringLower(key.ToPrivateKeyProtobuf()));
    }

    // go-libp2p TestWalkthroughInSpec (HTTP peer-id-auth): the all-zero seed's private key protobuf and peer id.
    [Fact]
    public void Zero_seed_matches_go_libp2p()
    {
        var key = IdentityKey.FromSeed(new byte[IdentityKey.SeedLength]);

        Assert.Equal(
            "0801124000000000000000000000000000000000000000000000000000000000000000003b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
            Convert.ToHexStringLower(key.ToPrivateKeyProtobuf()));
        Assert.Equal("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN", key.PeerId.ToString());
    }

    [Fact]
    public void Generated_keys_round_trip_through_the_private_key_protobuf()
    {
        var key = IdentityKey.Generate();

        var restored = IdentityKey.FromPrivateKeyProtobuf(key.ToPrivateKeyProtobuf());

        Assert.Equal(key.PublicKey, restored.PublicKey);
        Assert.Equal(key.PeerId, restored.PeerId);
        Assert.Equal(key.ToPrivateKeyProtobuf(), restored.ToPrivateKeyProtobuf());
    }

    [Fact]
    public void A_bare_seed_and_the_legacy_96_byte_form_are_accepted()
    {
        var data = Convert.FromHexString(SpecPrivateKeyProtobuf)[4..];
        var seedOnly = Convert.FromHexString("08011220" + Convert.ToHexStringLower(data[..32]));
        var legacy = Convert.FromHexString("08011260" + Convert.ToHexStringLower(data) + Convert.ToHexStringLower(data[32..]));

        Assert.Equal(SpecPeerId, IdentityKey.FromPrivateKeyProtobuf(seedOnly).PeerId.ToString());
        Assert.Equal(SpecPeerId, IdentityKey.FromPrivateKeyProtobuf(legacy).PeerId.ToString());
    }

    [Fact]
    public void Sign_and_verify()
    {
        var key = IdentityKey.Generate();
        byte[] message = [1, 2, 3];

        var signature = key.Sign(message);

        Assert.Equal(64, signature.Length);
        Assert.True(key.PublicKey.Verify(message, signature));
        Assert.False(key.PublicKey.Verify([1, 2, 4], signature));
        Assert.False(IdentityKey.Generate().PublicKey.Verify(message, signature));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(63)]
    public void Tampered_signatures_fail(int index)
    {
        var key = IdentityKey.Generate();
        byte[] message = [1, 2, 3];
        var signature = key.Sign(message);

        signature[index] ^= 0x01;

        Assert.False(key.PublicKey.Verify(message, signature));
    }

    [Fact]
    public void Truncated_or_extended_signatures_fail()
    {
        var key = IdentityKey.Generate();
        var signature = key.Sign([]);

        Assert.False(key.PublicKey.Verify([], signature.AsSpan(0, 63)));
        Assert.False(key.PublicKey.Verify([], [.. signature, 0]));
        Assert.False(key.PublicKey.Verify([], []));
    }

    [Fact]
    public void A_public_half_that_does_not_match_the_seed_is_rejected()
    {
        var tampered = Convert.FromHexString(SpecPrivateKeyProtobuf);
        tampered[^1] ^= 0x01;

        Assert.Throws<FormatException>(() => IdentityKey.FromPrivateKeyProtobuf(tampered));
    }

    [Fact]
    public void A_legacy_key_whose_public_copies_differ_is_rejected()
    {
        var data = Convert.FromHexString(SpecPrivateKeyProtobuf)[4..];
        var otherPublic = IdentityKey.Generate().PublicKey.Raw.ToArray();
        var legacy = Convert.FromHexString("08011260" + Convert.ToHexStringLower(data) + Convert.ToHexStringLower(otherPublic));

        Assert.Throws<FormatException>(() => IdentityKey.FromPrivateKeyProtobuf(legacy));
    }

    [Theory]
    [InlineData(SpecSecp256k1PrivateKeyProtobuf)]
    [InlineData("")]
    [InlineData("0801")]
    [InlineData("080112")]
    [InlineData("0801124000")]
    [InlineData("08011210000102030405060708090a0b0c0d0e0f")]
    [InlineData("1240080100")]
    [InlineData("0801128040")]
    public void Malformed_private_keys_are_rejected(string hex)
    {
        Assert.Throws<FormatException>(() => IdentityKey.FromPrivateKeyProtobuf(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Seeds_must_be_32_bytes()
    {
        Assert.Throws<ArgumentException>(() => IdentityKey.FromSeed(new byte[31]));
        Assert.Throws<ArgumentException>(() => IdentityKey.FromSeed(new byte[33]));
    }

    [Fact]
    public void Public_key_protobuf_rejects_other_types_and_lengths()
    {
        // secp256k1 public key of the spec's test vectors.
        Assert.Throws<FormatException>(() => PublicKey.FromProtobuf(Convert.FromHexString("08021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99")));
        Assert.Throws<FormatException>(() => PublicKey.FromProtobuf(Convert.FromHexString("0801121f" + new string('0', 62))));
        Assert.Throws<FormatException>(() => PublicKey.FromProtobuf(new byte[PublicKey.MaxEncodedLength + 1]));
    }
}
