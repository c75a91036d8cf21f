using Parley.Core.Crypto;
using Parley.Net.Noise;

namespace Parley.Net.Tests.Noise;

public sealed class CipherStateTests
{
    private static readonly byte[] Key = Enumerable.Range(0, CipherState.KeySize).Select(i => (byte)i).ToArray();

    [Fact]
    public void Nonce_is_little_endian_in_the_last_eight_bytes()
    {
        using var cipher = Keyed();
        cipher.Nonce = 0x0102030405060708;
        var plaintext = "hello"u8.ToArray();
        var ciphertext = new byte[cipher.CiphertextLength(plaintext.Length)];
        cipher.EncryptWithAd("ad"u8, plaintext, ciphertext);

        using var reference = DefaultCryptoProvider.Instance.CreateChaCha20Poly1305(Key);
        var expected = new byte[ciphertext.Length];
        byte[] nonce = [0, 0, 0, 0, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01];
        reference.Encrypt(nonce, plaintext, "ad"u8, expected);
        Assert.Equal(expected, ciphertext);
        Assert.Equal(0x0102030405060709UL, cipher.Nonce);
    }

    [Fact]
    public void Without_a_key_data_passes_through_unchanged()
    {
        using var cipher = new CipherState(DefaultCryptoProvider.Instance);
        var output = new byte[3];
        Assert.Equal(3, cipher.EncryptWithAd("ad"u8, "abc"u8, output));
        Assert.Equal("abc"u8.ToArray(), output);
        Assert.True(cipher.TryDecryptWithAd("ad"u8, "xyz"u8, output, out var written));
        Assert.Equal(3, written);
        Assert.Equal("xyz"u8.ToArray(), output);
    }

    [Fact]
    public void Failed_decryption_does_not_advance_the_nonce()
    {
        using var sender = Keyed();
        using var receiver = Keyed();
        var ciphertext = new byte[sender.CiphertextLength(4)];
        sender.EncryptWithAd([], "data"u8, ciphertext);
        var tampered = (byte[])ciphertext.Clone();
        tampered[0] ^= 1;
        var plaintext = new byte[4];

        Assert.False(receiver.TryDecryptWithAd([], tampered, plaintext, out _));
        Assert.Equal(0UL, receiver.Nonce);
        Assert.False(receiver.TryDecryptWithAd([], ciphertext.AsSpan(0, 15), plaintext, out _));
        Assert.True(receiver.TryDecryptWithAd([], ciphertext, plaintext, out _));
        Assert.Equal(1UL, receiver.Nonce);
    }

    [Fact]
    public void Encryption_refuses_the_reserved_last_nonce()
    {
        using var cipher = Keyed();
        cipher.Nonce = ulong.MaxValue - 1;
        var output = new byte[IAead.TagSize];
        cipher.EncryptWithAd([], [], output);
        Assert.Throws<InvalidOperationException>(() => cipher.EncryptWithAd([], [], output));
    }

    [Fact]
    public void Decryption_refuses_the_reserved_last_nonce()
    {
        using var sender = Keyed();
        using var receiver = Keyed();
        sender.Nonce = ulong.MaxValue - 1;
        receiver.Nonce = ulong.MaxValue - 1;
        var ciphertext = new byte[IAead.TagSize];
        sender.EncryptWithAd([], [], ciphertext);
        Assert.True(receiver.TryDecryptWithAd([], ciphertext, [], out _));
        Assert.Throws<InvalidOperationException>(() => receiver.TryDecryptWithAd([], ciphertext, [], out _));
    }

    private static CipherState Keyed()
    {
        var cipher = new CipherState(DefaultCryptoProvider.Instance);
        cipher.InitializeKey(Key);
        return cipher;
    }
}
