using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;

namespace Parley.Dht.Routing;

/// <summary>
/// FIND_NODE keys for bucket refresh, filed by the first 16 bits of their SHA-256 and shared by every routing table
/// in the process. Refreshing bucket i needs a key whose hash shares exactly i leading bits with the local id: about
/// 2^(i+1) hashes to find by trial, so the deepest buckets of a 10,000-node network cost some 10^5 hashes per node and
/// refresh. Any filed key whose hash has the right first i+1 bits will do, and every trial hash is filed, so after a
/// few searches most refreshes take a key from the table instead (go-libp2p ships such a table pre-generated; this
/// one fills itself). The keys are sha2-256 multihashes, so also valid peer ids: 24 zero bytes and 8 chosen bytes
/// (only those 8 are kept, 512 KiB when full). Refresh targets are not secret: anyone can build the same table.
/// </summary>
internal sealed class RefreshKeyTable
{
    /// <summary>Buckets below this index can be served from the table; deeper ones are searched by trial only.</summary>
    public const int PrefixBits = 16;

    private const int Slots = 1 << PrefixBits;
    private const int KeyLength = 2 + KadId.Length;
    // A few random slots of the bucket's range are tried before searching by trial.
    private const int Probes = 8;

    private readonly object _gate = new();
    private readonly ulong[] _filled = new ulong[Slots / 64];
    private ulong[]? _values;

    public static RefreshKeyTable Shared { get; } = new();

    /// <summary>
    /// A key whose SHA-256 shares exactly <paramref name="index"/> leading bits with <paramref name="local"/>; false
    /// when <paramref name="maxAttempts"/> trial hashes found none.
    /// </summary>
    public bool TryFind(KadId local, int index, Random rng, int maxAttempts, [NotNullWhen(true)] out byte[]? key)
    {
        if (index < PrefixBits && TryTake(local, index, rng) is { } filed)
        {
            key = KeyFor(filed);
            return true;
        }
        Span<byte> candidate = stackalloc byte[KeyLength];
        Span<byte> digest = stackalloc byte[KadId.Length];
        for (var attempt = 0; attempt < maxAttempts; attempt++)
        {
            var value = (ulong)rng.NextInt64(long.MinValue, long.MaxValue);
            Write(candidate, value);
            SHA256.HashData(candidate, digest);
            File(BinaryPrimitives.ReadUInt16BigEndian(digest), value);
            if (local.CommonPrefixLength(KadId.FromBytes(digest)) == index)
            {
                key = candidate.ToArray();
                return true;
            }
        }
        key = null;
        return false;
    }

    /// <summary>A filed key for bucket <paramref name="index"/> (&lt; <see cref="PrefixBits"/>), from a few random slots of its range.</summary>
    private ulong? TryTake(KadId local, int index, Random rng)
    {
        Span<byte> localBytes = stackalloc byte[KadId.Length];
        local.CopyTo(localBytes);
        // The slots whose first index+1 bits are the local id's first index bits followed by the other bit.
        var free = PrefixBits - index - 1;
        var first = ((BinaryPrimitives.ReadUInt16BigEndian(localBytes) ^ (1 << free)) >> free) << free;
        lock (_gate)
        {
            if (_values is null)
            {
                return null;
            }
            for (var probe = 0; probe < Probes; probe++)
            {
                var slot = first + rng.Next(1 << free);
                if ((_filled[slot >> 6] & (1UL << (slot & 63))) != 0)
                {
                    return _values[slot];
                }
            }
        }
        return null;
    }

    private void File(int slot, ulong value)
    {
        lock (_gate)
        {
            _values ??= new ulong[Slots];
            if ((_filled[slot >> 6] & (1UL << (slot & 63))) == 0)
            {
                _values[slot] = value;
                _filled[slot >> 6] |= 1UL << (slot & 63);
            }
        }
    }

    private static byte[] KeyFor(ulong value)
    {
        var key = new byte[KeyLength];
        Write(key, value);
        return key;
    }

    private static void Write(Span<byte> key, ulong value)
    {
        key[0] = (byte)Multihash.Sha256Code;
        key[1] = KadId.Length;
        key[2..^8].Clear();
        BinaryPrimitives.WriteUInt64BigEndian(key[^8..], value);
    }
}
