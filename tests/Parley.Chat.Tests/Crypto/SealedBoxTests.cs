using Parley.Chat.Crypto;

namespace Parley.Chat.Tests.Crypto;

public class SealedBoxTests
{
    private static readonly Parley.Core.Crypto.DefaultCryptoProvider Crypto = SessionPair.Crypto;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1000)]
    [InlineData(70_000)]
    public void Round_trip(int length)
    {
        var recipient = X25519KeyPair.Generate(Crypto);
        var plaintext = new byte[length];
        Random.Shared.NextBytes(plaintext);

        var sealedBox = SealedBox.Seal(Crypto, recipient.PublicKey, plaintext);

        Assert.Equal(length + SealedBox.Overhead, sealedBox.Length);
        Assert.Equal(plaintext, SealedBox.Open(Crypto, recipient, sealedBox));
    }

    [Fact]
    public void Each_box_has_a_fresh_ephemeral_key()
    {
        var recipient = X25519KeyPair.Generate(Crypto);

        var first = SealedBox.Seal(Crypto, recipient.PublicKey, [1, 2, 3]);
        var second = SealedBox.Seal(Crypto, recipient.PublicKey, [1, 2, 3]);

        Assert.NotEqual(first[1..33], second[1..33]);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Another_recipient_cannot_open_it()
    {
        var recipient = X25519KeyPair.Generate(Crypto);
        var other = X25519KeyPair.Generate(Crypto);
        var sealedBox = SealedBox.Seal(Crypto, recipient.PublicKey, Bytes.Text("for the recipient"));

        var error = Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, other, sealedBox));

        Assert.Contains("not for this key", error.Message, StringComparison.Ordinal);
        // The right private key with a wrong public key in the pair changes the HKDF salt: also refused.
        Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, recipient with { PublicKey = other.PublicKey }, sealedBox));
    }

    [Fact]
    public void Any_flipped_bit_is_refused()
    {
        var recipient = X25519KeyPair.Generate(Crypto);
        var sealedBox = SealedBox.Seal(Crypto, recipient.PublicKey, Bytes.Text("integrity"));

        for (var index = 0; index < sealedBox.Length; index++)
        {
            // Bit 255 of an X25519 public key is ignored by the curve, but the key is also in the HKDF salt.
            foreach (var mask in new byte[] { 0x01, 0x80 })
            {
                var tampered = Bytes.Flip(sealedBox, index, mask);
                Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, recipient, tampered));
            }
        }
    }

    [Fact]
    public void Truncated_or_garbage_input_gives_a_clear_sealed_box_exception()
    {
        var recipient = X25519KeyPair.Generate(Crypto);
        var sealedBox = SealedBox.Seal(Crypto, recipient.PublicKey, Bytes.Text("truncate me"));

        for (var length = 0; length < sealedBox.Length; length++)
        {
            var error = Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, recipient, sealedBox.AsSpan(0, length)));
            Assert.False(string.IsNullOrWhiteSpace(error.Message));
        }
        Assert.Contains("shorter than the minimum 49", Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, recipient, sealedBox.AsSpan(0, 20))).Message, StringComparison.Ordinal);
        Assert.Contains("version 2", Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, recipient, Bytes.Flip(sealedBox, 0, 0x03))).Message, StringComparison.Ordinal);
        var random = new Random(5);
        for (var i = 0; i < 500; i++)
        {
            var garbage = new byte[random.Next(0, 120)];
            random.NextBytes(garbage);
            Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, recipient, garbage));
        }
    }

    [Fact]
    public void Low_order_keys_are_refused()
    {
        var recipient = X25519KeyPair.Generate(Crypto);
        var lowOrderEphemeral = new byte[SealedBox.Overhead];
        lowOrderEphemeral[0] = SealedBox.Version;

        Assert.Throws<SealedBoxException>(() => SealedBox.Open(Crypto, recipient, lowOrderEphemeral));
        Assert.Throws<ArgumentException>(() => SealedBox.Seal(Crypto, new byte[32], [1]));
        Assert.Throws<ArgumentException>(() => SealedBox.Seal(Crypto, new byte[31], [1]));
    }
}
