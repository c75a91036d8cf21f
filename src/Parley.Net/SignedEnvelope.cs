using System.Text;
using Google.Protobuf;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Protos.Envelope;

namespace Parley.Net;

/// <summary>
/// A libp2p signed envelope (RFC 0002): a payload with its type, signed by a peer's key under a domain string so that a
/// signature made for one purpose cannot be replayed for another.
/// </summary>
public sealed record SignedEnvelope(PublicKey Signer, byte[] PayloadType, byte[] Payload)
{
    /// <summary>Envelopes are small records; this bounds what is parsed.</summary>
    public const int MaxEncodedLength = 8 * 1024;

    public PeerId SignerId => Signer.ToPeerId();

    public static byte[] Seal(IdentityKey signer, string domain, ReadOnlySpan<byte> payloadType, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(signer);
        var signature = signer.Sign(SignedBytes(domain, payloadType, payload));
        return new Envelope
        {
            PublicKey = ByteString.CopyFrom(signer.PublicKey.ToProtobuf()),
            PayloadType = ByteString.CopyFrom(payloadType),
            Payload = ByteString.CopyFrom(payload),
            Signature = ByteString.CopyFrom(signature),
        }.ToByteArray();
    }

    /// <summary>Parses an envelope and checks its signature under <paramref name="domain"/>.</summary>
    /// <exception cref="FormatException">Malformed, too long, an unusable key, or a signature that does not verify.</exception>
    public static SignedEnvelope Open(ReadOnlySpan<byte> encoded, string domain)
    {
        if (encoded.Length > MaxEncodedLength)
        {
            throw new FormatException($"signed envelope longer than {MaxEncodedLength} bytes");
        }
        Envelope envelope;
        try
        {
            envelope = Envelope.Parser.ParseFrom(encoded);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException("malformed signed envelope", e);
        }
        var key = PublicKey.FromProtobuf(envelope.PublicKey.Span);
        if (!key.Verify(SignedBytes(domain, envelope.PayloadType.Span, envelope.Payload.Span), envelope.Signature.Span))
        {
            throw new FormatException("the signed envelope's signature does not verify");
        }
        return new SignedEnvelope(key, envelope.PayloadType.ToByteArray(), envelope.Payload.ToByteArray());
    }

    /// <summary>uvarint length + domain, uvarint length + payload type, uvarint length + payload (the RFC's signing buffer).</summary>
    private static byte[] SignedBytes(string domain, ReadOnlySpan<byte> payloadType, ReadOnlySpan<byte> payload)
    {
        var domainBytes = Encoding.UTF8.GetBytes(domain);
        var buffer = new List<byte>(domainBytes.Length + payloadType.Length + payload.Length + 3 * Varint.MaxLength);
        Append(buffer, domainBytes);
        Append(buffer, payloadType);
        Append(buffer, payload);
        return buffer.ToArray();
    }

    private static void Append(List<byte> buffer, ReadOnlySpan<byte> field)
    {
        Span<byte> prefix = stackalloc byte[Varint.MaxLength];
        var length = Varint.Write((ulong)field.Length, prefix);
        buffer.AddRange(prefix[..length]);
        buffer.AddRange(field);
    }
}
