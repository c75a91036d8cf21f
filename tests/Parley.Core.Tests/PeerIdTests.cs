using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Core.Tests;

public class PeerIdTests
{
    // libp2p/specs peer-ids/peer-ids.md, "Test vectors": the ED25519 public key protobuf.
    private const string SpecEd25519PublicKeyProtobuf = "080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e";

    // The spec gives no peer id for that key. This one is asserted by go-libp2p's HTTP peer-id-auth handshake
    // test TestWalkthroughInSpec, whose client key is the spec's ED25519 private key vector.
    private const string SpecEd25519PeerId = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

    // Examples in peer-ids.md, "Decoding".
    private const string SpecSha256PeerId = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
    private const string SpecSha256PeerIdCid = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";
    private const string SpecEd25519ExamplePeerId = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

    [Fact]
    public void Spec_public_key_gives_the_expected_identity_peer_id()
    {
        var publicKey = PublicKey.FromProtobuf(Convert.FromHexString(SpecEd25519PublicKeyProtobuf));

        var peerId = PeerId.FromPublicKey(publicKey);

        Assert.Equal(SpecEd25519PeerId, peerId.ToString());
        Assert.Equal("0024" + SpecEd25519PublicKeyProtobuf, Convert.ToHexStringLower(peerId.Bytes));
        Assert.Equal(Multihash.IdentityCode, peerId.Multihash.Code);
        Assert.Equal(publicKey, peerId.TryExtractPublicKey());
        Assert.True(peerId.Matches(publicKey));
        Assert.Equal(peerId, publicKey.ToPeerId());
    }

    [Fact]
    public void Spec_peer_id_parses_back_to_its_key()
    {
        var peerId = PeerId.Parse(SpecEd25519PeerId);

        Assert.Equal(SpecEd25519PublicKeyProtobuf, Convert.ToHexStringLower(peerId.TryExtractPublicKey()!.ToProtobuf()));
    }

    [Fact]
    public void Sha256_example_parses_and_has_no_extractable_key()
    {
        var peerId = PeerId.Parse(SpecSha256PeerId);

        Assert.Equal(SpecSha256PeerId, peerId.ToString());
        Assert.Equal(Multihash.Sha256Code, peerId.Multihash.Code);
        Assert.Null(peerId.TryExtractPublicKey());
        Assert.False(peerId.Matches(PublicKey.FromProtobuf(Convert.FromHexString(SpecEd25519PublicKeyProtobuf))));
    }

    [Fact]
    public void Cid_example_is_the_base58_example_and_prints_back()
    {
        var peerId = PeerId.Parse(SpecSha256PeerIdCid);

        Assert.Equal(Multihash.Sha256Code, peerId.Multihash.Code);
        Assert.Equal(SpecSha256PeerIdCid, peerId.ToCidString());
        Assert.Equal(PeerId.Parse(SpecSha256PeerId), peerId);
        Assert.Equal(peerId, PeerId.Parse(peerId.ToString()));
    }

    [Fact]
    public void Ed25519_example_round_trips_through_every_text_form()
    {
        var peerId = PeerId.Parse(SpecEd25519ExamplePeerId);
        var cid = peerId.ToCidString();
        var cidBytes = Multibase.Decode(cid);

        Assert.StartsWith("bafz", cid, StringComparison.Ordinal);
        Assert.Equal([0x01, 0x72], cidBytes[..2]);
        Assert.Equal(peerId, PeerId.Parse(cid));
        Assert.Equal(peerId, PeerId.Parse(cid.ToUpperInvariant()));
        Assert.Equal(peerId, PeerId.Parse(Multibase.EncodeBase58Btc(cidBytes)));
        Assert.Equal(SpecEd25519ExamplePeerId, PeerId.Parse(cid).ToString());
        Assert.NotNull(peerId.TryExtractPublicKey());
    }

    [Fact]
    public void Generated_keys_round_trip_through_bytes_and_text()
    {
        var peerId = IdentityKey.Generate().PeerId;

        Assert.Equal(peerId, PeerId.FromBytes(peerId.Bytes));
        Assert.Equal(peerId, PeerId.Parse(peerId.ToString()));
        Assert.Equal(peerId, PeerId.Parse(peerId.ToCidString()));
        Assert.StartsWith("12D3KooW", peerId.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Equality_and_hash_code()
    {
        var a = PeerId.Parse(SpecEd25519PeerId);
        var b = PeerId.Parse(PeerId.Parse(SpecEd25519PeerId).ToCidString());
        var c = PeerId.Parse(SpecSha256PeerId);

        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.True(a != c);
        Assert.False(a.Equals(null));
        Assert.False(a == null);
    }

    [Theory]
    [InlineData("Qm")]
    [InlineData("1")]
    [InlineData("11111")]
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5")]
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5NN")]
    [InlineData("QmxoHT6iViN5xAjoz1VZ553cL31U9F94ht3QvWR1FrEbZY")]
    [InlineData("12D3KooW0tg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq")]
    [InlineData("12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3p")]
    [InlineData("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi")]
    [InlineData("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqx")]
    [InlineData("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqx1")]
    [InlineData("f01720024080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")]
    [InlineData("k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs")]
    [InlineData("b")]
    [InlineData("z")]
    [InlineData("not a peer id")]
    public void Malformed_ids_are_rejected(string text)
    {
        Assert.Throws<FormatException>(() => PeerId.Parse(text));
        Assert.False(PeerId.TryParse(text, out var peerId));
        Assert.Null(peerId);
    }

    [Fact]
    public void Overlong_text_is_rejected()
    {
        Assert.Throws<FormatException>(() => PeerId.Parse("Qm" + new string('a', 300)));
    }

    [Fact]
    public void Empty_and_null_are_not_peer_ids()
    {
        Assert.Throws<ArgumentException>(() => PeerId.Parse(""));
        Assert.False(PeerId.TryParse("", out _));
        Assert.False(PeerId.TryParse(null, out _));
    }

    [Theory]
    // sha1 multihash: neither identity nor sha2-256.
    [InlineData("1114000102030405060708090a0b0c0d0e0f10111213")]
    // identity digest that is not a key protobuf.
    [InlineData("0003010203")]
    // identity digest over 42 bytes.
    [InlineData("002b08011227000000000000000000000000000000000000000000000000000000000000000000000000000000")]
    // key type 9 does not exist.
    [InlineData("0024080912201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")]
    [InlineData("")]
    public void Malformed_binary_ids_are_rejected(string hex)
    {
        Assert.Throws<FormatException>(() => PeerId.FromBytes(Convert.FromHexString(hex)));
    }
}
