using Parley.Chat.Crypto;

namespace Parley.Chat.Tests.Crypto;

public class RatchetMessageTests
{
    [Fact]
    public void Wire_form_is_header_then_ciphertext_and_round_trips()
    {
        var pair = SessionPair.Create();
        var message = pair.Alice.Encrypt(Bytes.Text("wire"));

        var wire = message.ToBytes();
        var parsed = RatchetMessage.Parse(wire);

        Assert.Equal(41 + 4 + 16, wire.Length);
        Assert.Equal(message.Header, wire[..41]);
        Assert.Equal(message.Header, parsed.Header);
        Assert.Equal(message.Ciphertext, parsed.Ciphertext);
        Assert.Equal(Bytes.Text("wire"), pair.Bob.Decrypt(parsed));
    }

    [Fact]
    public void Header_carries_version_ratchet_key_and_counters_big_endian()
    {
        var pair = SessionPair.Create();
        pair.Alice.Encrypt([1]);

        var header = pair.Alice.Encrypt([2]).Header;

        Assert.Equal(1, header[0]);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 2 }, header[33..]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("02")]
    [InlineData("00")]
    [InlineData("01")]
    public void Malformed_wire_forms_are_format_exceptions(string hex)
    {
        Assert.Throws<FormatException>(() => RatchetMessage.Parse(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Every_length_below_the_minimum_and_above_the_maximum_is_a_format_exception()
    {
        for (var length = 0; length < RatchetMessage.MinLength; length++)
        {
            var bytes = new byte[length];
            if (length > 0)
            {
                bytes[0] = 1;
            }
            Assert.Throws<FormatException>(() => RatchetMessage.Parse(bytes));
        }
        var tooLong = new byte[RatchetMessage.MaxLength + 1];
        tooLong[0] = 1;
        Assert.Throws<FormatException>(() => RatchetMessage.Parse(tooLong));
        var minimal = new byte[RatchetMessage.MinLength];
        minimal[0] = 1;
        Assert.Equal(16, RatchetMessage.Parse(minimal).Ciphertext.Length);
    }

    [Fact]
    public void Random_bytes_give_format_or_ratchet_exceptions_only()
    {
        var random = new Random(4);
        var pair = SessionPair.Create();
        var before = pair.Bob.Serialize();

        for (var i = 0; i < 3000; i++)
        {
            var bytes = new byte[random.Next(0, 200)];
            random.NextBytes(bytes);
            if (i % 2 == 0 && bytes.Length > 0)
            {
                bytes[0] = 1;
            }
            try
            {
                pair.Bob.Decrypt(RatchetMessage.Parse(bytes));
                Assert.Fail("random bytes decrypted");
            }
            catch (FormatException)
            {
            }
            catch (RatchetException)
            {
            }
        }
        Assert.Equal(before, pair.Bob.Serialize());
    }
}
