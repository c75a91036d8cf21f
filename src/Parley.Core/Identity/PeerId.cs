using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using Parley.Core.Multiformats;

namespace Parley.Core.Identity;

/// <summary>
/// A libp2p peer id: the multihash of the protobuf-encoded public key (identity multihash when the
/// encoding is at most 42 bytes, as for Ed25519; SHA-256 otherwise). Text form is base58btc; CIDv1
/// (libp2p-key codec, any supported multibase) is accepted when parsing.
/// </summary>
public sealed class PeerId : IEquatable<PeerId>
{
    private const int MaxInlineKeyLength = 42;
    private const ulong LibP2pKeyCodec = 0x72;
    private const ulong CidV1 = 0x01;

    // Stored rows name the same few peers over and over (every message reads its contact's and sender's ids): their
    // parsed ids are kept, a peer id being immutable, instead of decoding base58 again each time.
    private const int MaxParsedKept = 1024;
    private static readonly ConcurrentDictionary<string, PeerId> Parsed = new(StringComparer.Ordinal);

    private readonly int _hashCode;
    private string? _text;

    private PeerId(Multihash multihash)
    {
        Multihash = multihash;
        var hash = new HashCode();
        hash.AddBytes(multihash.Bytes);
        _hashCode = hash.ToHashCode();
    }

    public Multihash Multihash { get; }

    /// <summary>The binary form (the multihash bytes), as carried in multiaddrs and protocol messages.</summary>
    public ReadOnlySpan<byte> Bytes => Multihash.Bytes;

    public static PeerId FromPublicKey(PublicKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var encoded = key.ToProtobuf();
        return new PeerId(encoded.Length <= MaxInlineKeyLength ? Multihash.Identity(encoded) : Multihash.Sha256(encoded));
    }

    /// <exception cref="FormatException">Not a multihash of identity or sha2-256 kind.</exception>
    public static PeerId FromBytes(ReadOnlySpan<byte> bytes)
    {
        var multihash = Multihash.Parse(bytes);
        if (multihash.Code == Multihash.IdentityCode)
        {
            if (multihash.Digest.Length > MaxInlineKeyLength)
            {
                throw new FormatException("identity-multihash peer id longer than 42 bytes");
            }
            // An inline key must itself be a well-formed key protobuf.
            KeyProtobuf.Decode(multihash.Digest.Span);
        }
        else if (multihash.Code != Multihash.Sha256Code)
        {
            throw new FormatException("peer id multihash must be identity or sha2-256");
        }
        return new PeerId(multihash);
    }

    /// <exception cref="FormatException">Neither a base58btc multihash nor a libp2p-key CIDv1.</exception>
    public static PeerId Parse(string text)
    {
        ArgumentException.ThrowIfNullOrEmpty(text);
        if (text.Length > 200)
        {
            throw new FormatException("peer id text too long");
        }
        if (text[0] == '1' || text.StartsWith("Qm", StringComparison.Ordinal))
        {
            if (Parsed.TryGetValue(text, out var known))
            {
                return known;
            }
            // Base58 is one-to-one, so the text is also what ToString would compute.
            var parsed = FromBytes(Base58.Decode(text));
            parsed._text = text;
            if (Parsed.Count >= MaxParsedKept)
            {
                Parsed.Clear();
            }
            Parsed[text] = parsed;
            return parsed;
        }
        var cid = Multibase.Decode(text);
        var version = Varint.Read(cid, out var versionLength);
        var codec = Varint.Read(cid.AsSpan(versionLength), out var codecLength);
        if (version != CidV1 || codec != LibP2pKeyCodec)
        {
            throw new FormatException("a CID peer id must be CIDv1 with the libp2p-key codec");
        }
        return FromBytes(cid.AsSpan(versionLength + codecLength));
    }

    public static bool TryParse(string? text, [NotNullWhen(true)] out PeerId? peerId)
    {
        peerId = null;
        if (string.IsNullOrEmpty(text))
        {
            return false;
        }
        try
        {
            peerId = Parse(text);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>The public key, when the peer id inlines it (identity multihash); null for hashed ids.</summary>
    public PublicKey? TryExtractPublicKey()
    {
        if (Multihash.Code != Multihash.IdentityCode)
        {
            return null;
        }
        try
        {
            return PublicKey.FromProtobuf(Multihash.Digest.Span);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>True when <paramref name="key"/> hashes to this peer id.</summary>
    public bool Matches(PublicKey key) => Equals(FromPublicKey(key));

    /// <summary>CIDv1 with the libp2p-key codec, base32 (the peer-id spec's recommended text form).</summary>
    public string ToCidString()
    {
        var bytes = new byte[2 + Multihash.Bytes.Length];
        bytes[0] = (byte)CidV1;
        bytes[1] = (byte)LibP2pKeyCodec;
        Multihash.Bytes.CopyTo(bytes.AsSpan(2));
        return Multibase.EncodeBase32(bytes);
    }

    // Computed on first use: base58 is costly, and most peer ids (thousands per lookup in a busy DHT) are never printed.
    public override string ToString() => _text ??= Base58.Encode(Multihash.Bytes);

    public bool Equals(PeerId? other) =>
        other is not null && (ReferenceEquals(this, other) || (_hashCode == other._hashCode && Multihash.Bytes.SequenceEqual(other.Multihash.Bytes)));

    public override bool Equals(object? obj) => Equals(obj as PeerId);

    public override int GetHashCode() => _hashCode;

    public static bool operator ==(PeerId? left, PeerId? right) => left is null ? right is null : left.Equals(right);

    public static bool operator !=(PeerId? left, PeerId? right) => !(left == right);
}
