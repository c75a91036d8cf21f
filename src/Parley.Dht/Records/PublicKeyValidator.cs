using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Dht.Records;

/// <summary>
/// The standard libp2p "/pk/&lt;binary peer id&gt;" namespace: the value is a libp2p PublicKey protobuf whose peer id is
/// the one in the key (go-libp2p-record's <c>PublicKeyValidator</c>). The check is the peer-id derivation itself
/// (identity multihash of keys up to 42 bytes, SHA-256 otherwise), so keys of every type libp2p uses are accepted,
/// not only the Ed25519 keys Parley can verify signatures with.
/// </summary>
public sealed class PublicKeyValidator : IRecordValidator
{
    public const string Namespace = "pk";

    /// <summary>Above any real key: an 8192-bit RSA key, go's largest, encodes to about 1.1 KB.</summary>
    public const int MaxValueSize = 2048;

    /// <summary>Longest key protobuf inlined into a peer id (libp2p peer-id spec).</summary>
    private const int MaxInlineKeyLength = 42;

    public void Validate(RecordKey key, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Namespace != Namespace)
        {
            throw new RecordValidationException("public key record key does not start with /pk/");
        }
        if (value.Length > MaxValueSize)
        {
            throw new RecordValidationException($"public key record of {value.Length} bytes exceeds the {MaxValueSize}-byte limit");
        }
        PeerId peer;
        try
        {
            peer = PeerId.FromBytes(key.Path);
        }
        catch (FormatException e)
        {
            throw new RecordValidationException($"public key record key does not hold a peer id: {e.Message}", e);
        }
        var expected = value.Length <= MaxInlineKeyLength ? Multihash.Identity(value) : Multihash.Sha256(value);
        if (!expected.Equals(peer.Multihash))
        {
            throw new RecordValidationException("public key does not match the peer id in the key");
        }
    }

    /// <summary>Every valid value for a key is the same key, so the first is as good as any.</summary>
    public int Select(RecordKey key, IReadOnlyList<byte[]> values) => 0;
}
