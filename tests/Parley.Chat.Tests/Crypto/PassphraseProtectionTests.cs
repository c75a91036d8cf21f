using System.Diagnostics;
using Parley.Chat.Crypto;

namespace Parley.Chat.Tests.Crypto;

public class PassphraseProtectionTests
{
    private static readonly Parley.Core.Crypto.DefaultCryptoProvider Crypto = SessionPair.Crypto;
    private static readonly Argon2Cost Cheap = new(1 << 3, 1);

    [Theory]
    [InlineData(0)]
    [InlineData(32)]
    [InlineData(5000)]
    public void Round_trip(int length)
    {
        var secret = new byte[length];
        Random.Shared.NextBytes(secret);

        var protectedBytes = PassphraseProtection.Protect(Crypto, "pass phrase ✓", secret, Cheap);

        Assert.Equal(length + PassphraseProtection.Overhead, protectedBytes.Length);
        Assert.Equal("PLPK"u8.ToArray(), protectedBytes[..4]);
        Assert.Equal(new byte[] { 2, 3, 1, 1 }, protectedBytes[4..8]);
        Assert.Equal(secret, PassphraseProtection.Unprotect(Crypto, "pass phrase ✓", protectedBytes));
    }

    [Fact]
    public void Default_cost_round_trips_and_is_self_describing()
    {
        var stopwatch = Stopwatch.StartNew();
        var protectedBytes = PassphraseProtection.Protect(Crypto, "default", [1, 2, 3]);
        stopwatch.Stop();

        Assert.Equal(new byte[] { 2, 16, 3, 1 }, protectedBytes[4..8]);
        Assert.Equal([1, 2, 3], PassphraseProtection.Unprotect(Crypto, "default", protectedBytes));
        Assert.True(PassphraseProtection.IsCurrent(protectedBytes));
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"Argon2id at the default cost took {stopwatch.Elapsed}");
    }

    [Fact]
    public void Salt_and_nonce_are_fresh_each_time()
    {
        var first = PassphraseProtection.Protect(Crypto, "same", [1], Cheap);
        var second = PassphraseProtection.Protect(Crypto, "same", [1], Cheap);

        Assert.NotEqual(first[8..36], second[8..36]);
    }

    [Theory]
    [InlineData("Correct horse")]
    [InlineData("correct horse ")]
    [InlineData("")]
    public void Wrong_passphrase_is_a_clear_exception(string wrong)
    {
        var protectedBytes = PassphraseProtection.Protect(Crypto, "correct horse", [42], Cheap);

        var error = Assert.Throws<WrongPassphraseException>(() => PassphraseProtection.Unprotect(Crypto, wrong, protectedBytes));

        Assert.Contains("wrong passphrase", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Any_flipped_bit_is_refused()
    {
        var protectedBytes = PassphraseProtection.Protect(Crypto, "tamper", [1, 2, 3, 4], Cheap);

        for (var index = 0; index < protectedBytes.Length; index++)
        {
            var tampered = Bytes.Flip(protectedBytes, index);
            var error = Record.Exception(() => PassphraseProtection.Unprotect(Crypto, "tamper", tampered));
            Assert.True(error is WrongPassphraseException or FormatException, $"byte {index}: {error?.GetType().Name ?? "no exception"}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("504c504b")]
    [InlineData("504c504b01040101")]
    public void Truncated_input_is_a_format_exception(string hex)
    {
        Assert.Throws<FormatException>(() => PassphraseProtection.Unprotect(Crypto, "x", Convert.FromHexString(hex)));
        var valid = PassphraseProtection.Protect(Crypto, "x", [], Cheap);
        for (var length = 0; length < valid.Length; length++)
        {
            Assert.Throws<FormatException>(() => PassphraseProtection.Unprotect(Crypto, "x", valid.AsSpan(0, length)));
        }
    }

    /// <summary>Costs a file could name to exhaust memory or time are refused before any work is done.</summary>
    [Theory]
    [InlineData(5, 0)]
    [InlineData(5, 2)]
    [InlineData(5, 19)]
    [InlineData(5, 255)]
    [InlineData(6, 0)]
    [InlineData(6, 11)]
    [InlineData(7, 0)]
    [InlineData(7, 2)]
    [InlineData(4, 3)]
    [InlineData(4, 0)]
    [InlineData(0, (byte)'X')]
    public void Header_out_of_bounds_is_a_format_exception(int index, int value)
    {
        var protectedBytes = PassphraseProtection.Protect(Crypto, "x", [1], Cheap);
        protectedBytes[index] = (byte)value;

        Assert.Throws<FormatException>(() => PassphraseProtection.Unprotect(Crypto, "x", protectedBytes));
    }

    [Fact]
    public void Memory_hungry_cost_is_a_format_exception()
    {
        // 2^20 KiB: 1 GiB of Argon2id memory, above the 256 MiB bound; and version 1's scrypt at log2 N = 20, r = 8.
        var protectedBytes = PassphraseProtection.Protect(Crypto, "x", [1], Cheap);
        protectedBytes[5] = 20;
        Assert.Throws<FormatException>(() => PassphraseProtection.Unprotect(Crypto, "x", protectedBytes));

        protectedBytes[4] = PassphraseProtection.ScryptVersion;
        protectedBytes[6] = 8;
        protectedBytes[7] = 1;
        Assert.Throws<FormatException>(() => PassphraseProtection.Unprotect(Crypto, "x", protectedBytes));
    }

    [Fact]
    public void Older_or_cheaper_wrapping_is_not_current()
    {
        Assert.False(PassphraseProtection.IsCurrent(PassphraseProtection.Protect(Crypto, "x", [1], Cheap)));
        Assert.False(PassphraseProtection.IsCurrent(PassphraseProtection.Protect(Crypto, "x", [1], new Argon2Cost(Argon2Cost.Default.MemoryKib, 1))));
        var scrypt = Convert.FromHexString(RatchetVectorTests.ScryptProtected);
        Assert.False(PassphraseProtection.IsCurrent(scrypt));
        Assert.False(PassphraseProtection.IsCurrent([]));
    }

    [Theory]
    [InlineData(0, 1)]
    [InlineData(4, 1)]
    [InlineData(12, 1)]
    [InlineData(1 << 19, 1)]
    [InlineData(1024, 0)]
    [InlineData(1024, 11)]
    public void Argon2_cost_is_bounded(int memoryKib, int passes)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Argon2Cost(memoryKib, passes));
    }

    [Theory]
    [InlineData(0, 8, 1)]
    [InlineData(3, 8, 1)]
    [InlineData(1 << 21, 1, 1)]
    [InlineData(1024, 0, 1)]
    [InlineData(1024, 33, 1)]
    [InlineData(1024, 8, 0)]
    [InlineData(1024, 8, 17)]
    [InlineData(1 << 20, 8, 1)]
    public void Scrypt_cost_is_bounded(int n, int r, int p)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ScryptCost(n, r, p));
    }
}
