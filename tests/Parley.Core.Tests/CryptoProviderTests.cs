using System.Security.Cryptography;
using System.Text;
using Parley.Core.Crypto;

namespace Parley.Core.Tests;

public class CryptoProviderTests
{
    private readonly DefaultCryptoProvider _crypto = DefaultCryptoProvider.Instance;

    // RFC 8032 section 7.1, TEST 1 and TEST 2.
    [Theory]
    [InlineData(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")]
    [InlineData(
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")]
    public void Ed25519_rfc8032_vectors(string seed, string publicKey, string message, string signature)
    {
        var seedBytes = Convert.FromHexString(seed);
        var messageBytes = Convert.FromHexString(message);

        Assert.Equal(publicKey, Convert.ToHexStringLower(_crypto.Ed25519PublicKey(seedBytes)));
        Assert.Equal(signature, Convert.ToHexStringLower(_crypto.Ed25519Sign(seedBytes, messageBytes)));
        Assert.True(_crypto.Ed25519Verify(Convert.FromHexString(publicKey), messageBytes, Convert.FromHexString(signature)));
    }

    [Fact]
    public void Ed25519_rejects_tampered_or_misshapen_input()
    {
        var publicKey = Convert.FromHexString("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
        var signature = Convert.FromHexString("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00");
        byte[] message = [0x72];

        Assert.False(_crypto.Ed25519Verify(publicKey, [0x73], signature));
        var tampered = signature.ToArray();
        tampered[10] ^= 0x80;
        Assert.False(_crypto.Ed25519Verify(publicKey, message, tampered));
        Assert.False(_crypto.Ed25519Verify(publicKey.AsSpan(0, 31), message, signature));
        Assert.False(_crypto.Ed25519Verify(publicKey, message, signature.AsSpan(0, 63)));
        Assert.Throws<ArgumentException>(() => _crypto.Ed25519Sign(new byte[31], message));
    }

    [Fact]
    public void Ed25519_generated_pairs_sign_and_verify()
    {
        var (seed, publicKey) = _crypto.GenerateEd25519KeyPair();

        Assert.Equal(publicKey, _crypto.Ed25519PublicKey(seed));
        Assert.True(_crypto.Ed25519Verify(publicKey, [9], _crypto.Ed25519Sign(seed, [9])));
    }

    // RFC 7748 section 5.2, the two single-step X25519 vectors (the second u has its top bit set, which must be masked).
    [Theory]
    [InlineData(
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")]
    [InlineData(
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")]
    public void X25519_rfc7748_section_5_2(string scalar, string u, string output)
    {
        Assert.Equal(output, Convert.ToHexStringLower(_crypto.X25519Agree(Convert.FromHexString(scalar), Convert.FromHexString(u))));
    }

    // RFC 7748 section 6.1, Diffie-Hellman.
    [Fact]
    public void X25519_rfc7748_section_6_1()
    {
        var alicePrivate = Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        var bobPrivate = Convert.FromHexString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
        const string AlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
        const string BobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
        const string Shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

        Assert.Equal(AlicePublic, Convert.ToHexStringLower(_crypto.X25519PublicKey(alicePrivate)));
        Assert.Equal(BobPublic, Convert.ToHexStringLower(_crypto.X25519PublicKey(bobPrivate)));
        Assert.Equal(Shared, Convert.ToHexStringLower(_crypto.X25519Agree(alicePrivate, Convert.FromHexString(BobPublic))));
        Assert.Equal(Shared, Convert.ToHexStringLower(_crypto.X25519Agree(bobPrivate, Convert.FromHexString(AlicePublic))));
    }

    // Points of order 1, 4 and 8 and the p - 1 encoding: any scalar yields the all-zero secret.
    [Theory]
    [InlineData("0000000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("0100000000000000000000000000000000000000000000000000000000000000")]
    [InlineData("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")]
    [InlineData("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157")]
    [InlineData("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")]
    public void X25519_rejects_low_order_points(string point)
    {
        var (privateKey, _) = _crypto.GenerateX25519KeyPair();

        Assert.Throws<CryptographicException>(() => _crypto.X25519Agree(privateKey, Convert.FromHexString(point)));
    }

    [Fact]
    public void X25519_generated_pairs_agree()
    {
        var (alicePrivate, alicePublic) = _crypto.GenerateX25519KeyPair();
        var (bobPrivate, bobPublic) = _crypto.GenerateX25519KeyPair();

        Assert.Equal(alicePublic, _crypto.X25519PublicKey(alicePrivate));
        Assert.Equal(_crypto.X25519Agree(alicePrivate, bobPublic), _crypto.X25519Agree(bobPrivate, alicePublic));
        Assert.Throws<ArgumentException>(() => _crypto.X25519Agree(alicePrivate, bobPublic.AsSpan(0, 31)));
    }

    // RFC 8439 section 2.8.2, the AEAD_CHACHA20_POLY1305 example.
    private static readonly byte[] AeadKey = Convert.FromHexString("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    private static readonly byte[] AeadNonce = Convert.FromHexString("070000004041424344454647");
    private static readonly byte[] AeadAssociatedData = Convert.FromHexString("50515253c0c1c2c3c4c5c6c7");
    private static readonly byte[] AeadPlaintext = Encoding.ASCII.GetBytes(
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
    private static readonly byte[] AeadCiphertextAndTag = Convert.FromHexString(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b" +
        "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
        "3ff4def08e4b7a9de576d26586cec64b6116" +
        "1ae10b594f09e26a7e902ecbd0600691");

    [Fact]
    public void ChaCha20Poly1305_rfc8439_encrypts_and_decrypts()
    {
        using var aead = _crypto.CreateChaCha20Poly1305(AeadKey);
        var sealedBytes = new byte[AeadPlaintext.Length + IAead.TagSize];

        aead.Encrypt(AeadNonce, AeadPlaintext, AeadAssociatedData, sealedBytes);
        var opened = new byte[AeadPlaintext.Length];
        var authentic = aead.TryDecrypt(AeadNonce, AeadCiphertextAndTag, AeadAssociatedData, opened);

        Assert.Equal(AeadCiphertextAndTag, sealedBytes);
        Assert.True(authentic);
        Assert.Equal(AeadPlaintext, opened);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(113)]
    [InlineData(114)]
    [InlineData(129)]
    public void ChaCha20Poly1305_rejects_a_flipped_bit_in_ciphertext_or_tag(int index)
    {
        using var aead = _crypto.CreateChaCha20Poly1305(AeadKey);
        var tampered = AeadCiphertextAndTag.ToArray();
        tampered[index] ^= 0x01;

        Assert.False(aead.TryDecrypt(AeadNonce, tampered, AeadAssociatedData, new byte[AeadPlaintext.Length]));
    }

    [Fact]
    public void ChaCha20Poly1305_rejects_other_associated_data_nonce_or_short_input()
    {
        using var aead = _crypto.CreateChaCha20Poly1305(AeadKey);
        var otherNonce = AeadNonce.ToArray();
        otherNonce[0] ^= 0x01;

        Assert.False(aead.TryDecrypt(AeadNonce, AeadCiphertextAndTag, [], new byte[AeadPlaintext.Length]));
        Assert.False(aead.TryDecrypt(otherNonce, AeadCiphertextAndTag, AeadAssociatedData, new byte[AeadPlaintext.Length]));
        Assert.False(aead.TryDecrypt(AeadNonce, AeadCiphertextAndTag.AsSpan(0, 15), AeadAssociatedData, []));
    }

    // RFC 5869 appendix A.1, test case 1.
    [Fact]
    public void HkdfSha256_rfc5869_test_case_1()
    {
        var okm = new byte[42];

        _crypto.HkdfSha256(
            Convert.FromHexString("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
            Convert.FromHexString("000102030405060708090a0b0c"),
            Convert.FromHexString("f0f1f2f3f4f5f6f7f8f9"),
            okm);

        Assert.Equal("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865", Convert.ToHexStringLower(okm));
    }

    // RFC 4231 section 4.2, test case 1.
    [Fact]
    public void HmacSha256_rfc4231_test_case_1()
    {
        var mac = new byte[32];

        _crypto.HmacSha256(Enumerable.Repeat((byte)0x0b, 20).ToArray(), Encoding.ASCII.GetBytes("Hi There"), mac);

        Assert.Equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", Convert.ToHexStringLower(mac));
    }

    // FIPS 180-2 appendix B.1 ("abc").
    [Fact]
    public void Sha256_abc()
    {
        var digest = new byte[32];

        _crypto.Sha256(Encoding.ASCII.GetBytes("abc"), digest);

        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", Convert.ToHexStringLower(digest));
    }

    [Fact]
    public void RandomBytes_fills_the_buffer()
    {
        var a = new byte[32];
        var b = new byte[32];

        _crypto.RandomBytes(a);
        _crypto.RandomBytes(b);

        Assert.NotEqual(a, b);
        Assert.Contains(a, value => value != 0);
    }
}
