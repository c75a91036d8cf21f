using System.Buffers.Binary;
using Google.Protobuf;
using Parley.Core.Identity;
using SignedRecordProto = Parley.Dht.Protos.SignedRecordEnvelope;

namespace Parley.Dht.Records;

/// <summary>
/// An owner-signed DHT record whose signature, owner and expiry have been checked by
/// <see cref="SignedRecordValidator.Open"/>; instances never come from unverified bytes.
/// <para>
/// The value stored in the DHT is the protobuf <c>parley.dht.SignedRecord</c> (Protos/signed_record.proto). Its
/// signature is Ed25519 by <c>public_key</c> over this byte string, every length and number big-endian:
/// <code>
/// "parley-signed-record:"          21 ASCII bytes (domain separation from every other Parley signature)
/// uint32 length of key, key        the DHT key's bytes (RecordKey.Bytes)
/// uint64 sequence
/// int64  expires_unix_ms
/// uint32 length of value, value    the payload
/// </code>
/// The length prefixes make the encoding injective, so no two different records share a signed message.
/// </para>
/// </summary>
public sealed class SignedRecord
{
    private static readonly byte[] Domain = "parley-signed-record:"u8.ToArray();

    internal SignedRecord(RecordKey key, PublicKey owner, ulong sequence, DateTimeOffset expiresAt, byte[] value)
    {
        Key = key;
        OwnerKey = owner;
        Owner = owner.ToPeerId();
        Sequence = sequence;
        ExpiresAt = expiresAt;
        Value = value;
    }

    public RecordKey Key { get; }

    public PeerId Owner { get; }

    public PublicKey OwnerKey { get; }

    public ulong Sequence { get; }

    public DateTimeOffset ExpiresAt { get; }

    public ReadOnlyMemory<byte> Value { get; }

    /// <summary>Signs <paramref name="value"/> as <paramref name="owner"/>'s record under <paramref name="key"/>; returns the bytes to put in the DHT.</summary>
    public static byte[] Create(IdentityKey owner, RecordKey key, byte[] value, ulong sequence, DateTimeOffset expires)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        var expiresUnixMs = expires.ToUnixTimeMilliseconds();
        var signature = owner.Sign(SigningPayload(key.Bytes, sequence, expiresUnixMs, value));
        return new SignedRecordProto
        {
            PublicKey = ByteString.CopyFrom(owner.PublicKey.ToProtobuf()),
            Sequence = sequence,
            ExpiresUnixMs = expiresUnixMs,
            Value = ByteString.CopyFrom(value),
            Signature = ByteString.CopyFrom(signature),
        }.ToByteArray();
    }

    /// <summary>The message the owner signs; see the class summary.</summary>
    internal static byte[] SigningPayload(ReadOnlySpan<byte> key, ulong sequence, long expiresUnixMs, ReadOnlySpan<byte> value)
    {
        var payload = new byte[Domain.Length + 4 + key.Length + 8 + 8 + 4 + value.Length];
        var span = payload.AsSpan();
        Domain.CopyTo(span);
        span = span[Domain.Length..];
        BinaryPrimitives.WriteUInt32BigEndian(span, (uint)key.Length);
        key.CopyTo(span[4..]);
        span = span[(4 + key.Length)..];
        BinaryPrimitives.WriteUInt64BigEndian(span, sequence);
        BinaryPrimitives.WriteInt64BigEndian(span[8..], expiresUnixMs);
        BinaryPrimitives.WriteUInt32BigEndian(span[16..], (uint)value.Length);
        value.CopyTo(span[20..]);
        return payload;
    }
}
