using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Security.Cryptography;
using Parley.Core.Identity;

namespace Parley.Dht.Keys;

/// <summary>
/// A point in the 256-bit Kademlia keyspace: SHA-256 of a peer id's bytes or of a record key, as the libp2p kad
/// spec defines it. Held as four big-endian ulongs so that XOR, comparison and prefix length are a few instructions.
/// As a distance (the XOR of two ids) it orders as an unsigned 256-bit integer.
/// </summary>
public readonly struct KadId : IEquatable<KadId>, IComparable<KadId>
{
    public const int Length = 32;
    public const int Bits = 256;

    // Lookups meet the same peers over and over (every answer names k of them) and a SHA-256 through OpenSSL costs
    // far more than a dictionary probe, so the ids of the peers met lately are kept; a peer id never changes.
    private const int MaxPeerIdsHashed = 32_768;
    private static readonly ConcurrentDictionary<PeerId, KadId> PeerIdsHashed = new();
    private static int _peerIdsHashedCount;

    // _w0 holds the most significant 64 bits (bytes 0..7), _w3 the least.
    private readonly ulong _w0;
    private readonly ulong _w1;
    private readonly ulong _w2;
    private readonly ulong _w3;

    private KadId(ulong w0, ulong w1, ulong w2, ulong w3)
    {
        _w0 = w0;
        _w1 = w1;
        _w2 = w2;
        _w3 = w3;
    }

    /// <summary>The all-zero id; as a distance, "same point".</summary>
    public static KadId Zero => default;

    /// <summary>The id of a peer: SHA-256 of its binary peer id (the multihash bytes).</summary>
    public static KadId FromPeer(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (PeerIdsHashed.TryGetValue(peer, out var known))
        {
            return known;
        }
        var id = FromKey(peer.Bytes);
        if (Interlocked.Increment(ref _peerIdsHashedCount) > MaxPeerIdsHashed)
        {
            // Starting over costs less than tracking which peers are still met; those that are come back at once.
            PeerIdsHashed.Clear();
            Interlocked.Exchange(ref _peerIdsHashedCount, 0);
        }
        PeerIdsHashed.TryAdd(peer, id);
        return id;
    }

    /// <summary>The id of a record or provider key: SHA-256 of the key bytes.</summary>
    public static KadId FromKey(ReadOnlySpan<byte> key)
    {
        Span<byte> digest = stackalloc byte[Length];
        SHA256.HashData(key, digest);
        return FromBytes(digest);
    }

    /// <exception cref="ArgumentException"><paramref name="bytes"/> is not exactly 32 bytes.</exception>
    public static KadId FromBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length != Length)
        {
            throw new ArgumentException($"a Kademlia id is {Length} bytes, got {bytes.Length}", nameof(bytes));
        }
        return new KadId(
            BinaryPrimitives.ReadUInt64BigEndian(bytes),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]),
            BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]));
    }

    /// <summary>A uniformly random id.</summary>
    public static KadId Random(Random rng)
    {
        ArgumentNullException.ThrowIfNull(rng);
        Span<byte> bytes = stackalloc byte[Length];
        rng.NextBytes(bytes);
        return FromBytes(bytes);
    }

    /// <summary>
    /// A random id sharing exactly <paramref name="commonPrefixLength"/> leading bits with <paramref name="self"/>
    /// (so it falls in that k-bucket of <paramref name="self"/>'s routing table); 256 returns <paramref name="self"/>.
    /// </summary>
    public static KadId RandomWithPrefix(KadId self, int commonPrefixLength, Random rng)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(commonPrefixLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(commonPrefixLength, Bits);
        if (commonPrefixLength == Bits)
        {
            return self;
        }
        // Keep self's first cpl bits, flip bit cpl, randomise the rest: XOR self with a distance whose first
        // set bit is bit cpl.
        var random = Random(rng);
        var distance = random.KeepBitsFrom(commonPrefixLength).SetBit(commonPrefixLength);
        return self ^ distance;
    }

    public void CopyTo(Span<byte> destination)
    {
        if (destination.Length < Length)
        {
            throw new ArgumentException($"need {Length} bytes", nameof(destination));
        }
        BinaryPrimitives.WriteUInt64BigEndian(destination, _w0);
        BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _w1);
        BinaryPrimitives.WriteUInt64BigEndian(destination[16..], _w2);
        BinaryPrimitives.WriteUInt64BigEndian(destination[24..], _w3);
    }

    public byte[] ToArray()
    {
        var bytes = new byte[Length];
        CopyTo(bytes);
        return bytes;
    }

    public KadId Xor(KadId other) => new(_w0 ^ other._w0, _w1 ^ other._w1, _w2 ^ other._w2, _w3 ^ other._w3);

    /// <summary>The XOR distance to <paramref name="other"/>; compare distances with <see cref="CompareTo"/>.</summary>
    public KadId Distance(KadId other) => Xor(other);

    /// <summary>Leading bits shared with <paramref name="other"/>: 256 for the same id, 0 when the first bit differs.</summary>
    public int CommonPrefixLength(KadId other) => Xor(other).LeadingZeroCount();

    /// <summary>Number of leading zero bits (256 for <see cref="Zero"/>): for a distance, the bucket it falls in.</summary>
    public int LeadingZeroCount()
    {
        if (_w0 != 0)
        {
            return BitOperations.LeadingZeroCount(_w0);
        }
        if (_w1 != 0)
        {
            return 64 + BitOperations.LeadingZeroCount(_w1);
        }
        if (_w2 != 0)
        {
            return 128 + BitOperations.LeadingZeroCount(_w2);
        }
        return 192 + BitOperations.LeadingZeroCount(_w3);
    }

    /// <summary>Negative when <paramref name="a"/> is closer to <paramref name="target"/> than <paramref name="b"/>, 0 when equally close.</summary>
    public static int CompareDistance(KadId target, KadId a, KadId b) => (a ^ target).CompareTo(b ^ target);

    /// <summary>Orders as unsigned 256-bit big-endian integers, which for distances means nearer first.</summary>
    public int CompareTo(KadId other)
    {
        if (_w0 != other._w0)
        {
            return _w0 < other._w0 ? -1 : 1;
        }
        if (_w1 != other._w1)
        {
            return _w1 < other._w1 ? -1 : 1;
        }
        if (_w2 != other._w2)
        {
            return _w2 < other._w2 ? -1 : 1;
        }
        return _w3 == other._w3 ? 0 : _w3 < other._w3 ? -1 : 1;
    }

    public bool Equals(KadId other) => _w0 == other._w0 && _w1 == other._w1 && _w2 == other._w2 && _w3 == other._w3;

    public override bool Equals(object? obj) => obj is KadId other && Equals(other);

    // The words are uniformly distributed hash output, so mixing two of them is plenty.
    public override int GetHashCode() => HashCode.Combine(_w0, _w3);

    /// <summary>The first 8 bytes in hex, enough to tell ids apart in logs.</summary>
    public override string ToString() => _w0.ToString("x16", CultureInfo.InvariantCulture) + "…";

    public static KadId operator ^(KadId left, KadId right) => left.Xor(right);

    public static bool operator ==(KadId left, KadId right) => left.Equals(right);

    public static bool operator !=(KadId left, KadId right) => !left.Equals(right);

    public static bool operator <(KadId left, KadId right) => left.CompareTo(right) < 0;

    public static bool operator >(KadId left, KadId right) => left.CompareTo(right) > 0;

    public static bool operator <=(KadId left, KadId right) => left.CompareTo(right) <= 0;

    public static bool operator >=(KadId left, KadId right) => left.CompareTo(right) >= 0;

    /// <summary>This id with its first <paramref name="count"/> bits cleared (0..256).</summary>
    private KadId KeepBitsFrom(int count) =>
        new(_w0 & LowMask(count), _w1 & LowMask(count - 64), _w2 & LowMask(count - 128), _w3 & LowMask(count - 192));

    /// <summary>This id with bit <paramref name="index"/> (0 = most significant) set.</summary>
    private KadId SetBit(int index)
    {
        var bit = 1UL << (63 - (index & 63));
        return (index >> 6) switch
        {
            0 => new KadId(_w0 | bit, _w1, _w2, _w3),
            1 => new KadId(_w0, _w1 | bit, _w2, _w3),
            2 => new KadId(_w0, _w1, _w2 | bit, _w3),
            _ => new KadId(_w0, _w1, _w2, _w3 | bit),
        };
    }

    /// <summary>Mask keeping a word's bits after its first <paramref name="clearedBits"/> (clamped to 0..64).</summary>
    private static ulong LowMask(int clearedBits) => clearedBits <= 0 ? ulong.MaxValue : clearedBits >= 64 ? 0 : ulong.MaxValue >> clearedBits;
}
