using System.Numerics;
using System.Security.Cryptography;
using Parley.Dht.Keys;

namespace Parley.Dht.Tests.Keys;

public class KadIdTests
{
    private static KadId FromHex(string hex) => KadId.FromBytes(Convert.FromHexString(hex));

    private static KadId WithBit(int index)
    {
        var bytes = new byte[32];
        bytes[index / 8] = (byte)(0x80 >> (index % 8));
        return KadId.FromBytes(bytes);
    }

    private static BigInteger AsInteger(KadId id) => new(id.ToArray(), isUnsigned: true, isBigEndian: true);

    [Fact]
    public void FromKey_is_sha256_of_the_key()
    {
        // SHA-256 of the empty string (FIPS 180-2 / NIST test vector).
        var empty = KadId.FromKey([]);
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Convert.ToHexStringLower(empty.ToArray()));
        Assert.Equal("e3b0c44298fc1c14…", empty.ToString());

        var key = "/parley/presence/alice"u8.ToArray();
        Assert.Equal(SHA256.HashData(key), KadId.FromKey(key).ToArray());
    }

    [Fact]
    public void FromPeer_is_sha256_of_the_peer_id_bytes()
    {
        var peer = TestPeers.Random(new Random(1));
        Assert.Equal(SHA256.HashData(peer.Bytes), KadId.FromPeer(peer).ToArray());
    }

    [Fact]
    public void Bytes_round_trip_and_length_is_checked()
    {
        var bytes = Enumerable.Range(0, 32).Select(i => (byte)(i * 7 + 3)).ToArray();
        var id = KadId.FromBytes(bytes);
        Assert.Equal(bytes, id.ToArray());
        var copy = new byte[40];
        id.CopyTo(copy);
        Assert.Equal(bytes, copy[..32]);

        Assert.Throws<ArgumentException>(() => KadId.FromBytes(new byte[31]));
        Assert.Throws<ArgumentException>(() => KadId.FromBytes(new byte[33]));
        Assert.Throws<ArgumentException>(() => id.CopyTo(new byte[31]));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(200)]
    [InlineData(255)]
    public void Common_prefix_length_is_the_index_of_the_first_differing_bit(int bit)
    {
        Assert.Equal(bit, KadId.Zero.CommonPrefixLength(WithBit(bit)));
        Assert.Equal(bit, WithBit(bit).LeadingZeroCount());
        // Bits after the first difference do not matter.
        var noisy = WithBit(bit) ^ KadId.RandomWithPrefix(KadId.Zero, Math.Min(bit + 1, 256), new Random(bit));
        Assert.Equal(bit, KadId.Zero.CommonPrefixLength(noisy));
    }

    [Fact]
    public void Common_prefix_length_vectors()
    {
        var a = FromHex("ff00000000000000000000000000000000000000000000000000000000000000");
        var b = FromHex("ff80000000000000000000000000000000000000000000000000000000000000");
        var c = FromHex("7f00000000000000000000000000000000000000000000000000000000000000");
        Assert.Equal(8, a.CommonPrefixLength(b));
        Assert.Equal(0, a.CommonPrefixLength(c));
        Assert.Equal(256, a.CommonPrefixLength(a));
        Assert.Equal(256, KadId.Zero.LeadingZeroCount());
    }

    [Fact]
    public void Xor_vectors_and_properties()
    {
        var a = FromHex("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f");
        var b = FromHex("ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00");
        Assert.Equal(FromHex("f00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00f"), a ^ b);
        Assert.Equal(a.Xor(b), a.Distance(b));

        var rng = new Random(2);
        for (var i = 0; i < 200; i++)
        {
            var x = KadId.Random(rng);
            var y = KadId.Random(rng);
            Assert.Equal(KadId.Zero, x.Distance(x));
            Assert.Equal(x.Distance(y), y.Distance(x));
            Assert.Equal(x, x ^ y ^ y);
            Assert.Equal(x.CommonPrefixLength(y), x.Distance(y).LeadingZeroCount());
        }
    }

    [Fact]
    public void Distance_order_matches_the_integer_order_of_xor()
    {
        var rng = new Random(3);
        for (var i = 0; i < 1000; i++)
        {
            var target = KadId.Random(rng);
            var a = KadId.Random(rng);
            // Share a random-length prefix so that every word position gets exercised.
            var b = KadId.RandomWithPrefix(a, rng.Next(0, 257), rng);
            var expected = AsInteger(a ^ target).CompareTo(AsInteger(b ^ target));
            Assert.Equal(Math.Sign(expected), Math.Sign(KadId.CompareDistance(target, a, b)));
            Assert.Equal(Math.Sign(expected), Math.Sign((a ^ target).CompareTo(b ^ target)));
            Assert.Equal(expected < 0, (a ^ target) < (b ^ target));
            Assert.Equal(expected >= 0, (a ^ target) >= (b ^ target));
        }
        var t = KadId.Random(rng);
        Assert.Equal(0, KadId.CompareDistance(t, t, t));
        Assert.True(KadId.CompareDistance(t, t, KadId.Random(rng)) < 0);
    }

    [Fact]
    public void Random_with_prefix_lands_in_exactly_that_bucket()
    {
        var rng = new Random(4);
        var self = KadId.Random(rng);
        for (var cpl = 0; cpl <= 256; cpl++)
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal(cpl, self.CommonPrefixLength(KadId.RandomWithPrefix(self, cpl, rng)));
            }
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => KadId.RandomWithPrefix(self, -1, rng));
        Assert.Throws<ArgumentOutOfRangeException>(() => KadId.RandomWithPrefix(self, 257, rng));
    }

    [Fact]
    public void Random_ids_differ_and_are_seeded()
    {
        Assert.Equal(KadId.Random(new Random(5)), KadId.Random(new Random(5)));
        Assert.NotEqual(KadId.Random(new Random(5)), KadId.Random(new Random(6)));
    }

    [Fact]
    public void Equality_and_hashing()
    {
        var rng = new Random(7);
        var a = KadId.Random(rng);
        var same = KadId.FromBytes(a.ToArray());
        var other = KadId.Random(rng);
        Assert.True(a == same);
        Assert.False(a != same);
        Assert.True(a.Equals((object)same));
        Assert.False(a.Equals((object)"text"));
        Assert.Equal(a.GetHashCode(), same.GetHashCode());
        Assert.True(a != other);
        var set = new HashSet<KadId> { a, same, other };
        Assert.Equal(2, set.Count);
    }
}
