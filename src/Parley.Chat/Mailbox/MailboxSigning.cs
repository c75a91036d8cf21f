using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Parley.Chat.Mailbox;

/// <summary>
/// The byte strings owners sign. Each starts with its own domain string ending in ':' and length-prefixes every
/// variable-length part (uint32 big-endian), so no signature can be replayed as another kind or read two ways.
/// </summary>
internal static class MailboxSigning
{
    public static byte[] OneTimePrekey(uint id, ReadOnlySpan<byte> publicKey) =>
        new Payload("parley-one-time-prekey:").UInt32(id).Bytes(publicKey).ToArray();

    public static byte[] Fetch(ReadOnlySpan<byte> ownerKey, long timestampUnixMs, ReadOnlySpan<byte> cursor) =>
        new Payload("parley-mailbox-fetch:").Bytes(ownerKey).Int64(timestampUnixMs).Bytes(cursor).ToArray();

    public static byte[] Delete(ReadOnlySpan<byte> ownerKey, long timestampUnixMs, IEnumerable<ReadOnlyMemory<byte>> envelopeIds) =>
        new Payload("parley-mailbox-delete:").Bytes(ownerKey).Int64(timestampUnixMs).List(envelopeIds).ToArray();

    public static byte[] Policy(ReadOnlySpan<byte> ownerKey, ulong sequence, IEnumerable<ReadOnlyMemory<byte>> tokenHashes) =>
        new Payload("parley-mailbox-policy:").Bytes(ownerKey).UInt64(sequence).List(tokenHashes).ToArray();

    public static byte[] Prekeys(ReadOnlySpan<byte> ownerKey, ReadOnlySpan<byte> nodeId, long timestampUnixMs, IReadOnlyCollection<SignedOneTimePrekey> prekeys)
    {
        var payload = new Payload("parley-mailbox-prekeys:").Bytes(ownerKey).Bytes(nodeId).Int64(timestampUnixMs).UInt32((uint)prekeys.Count);
        foreach (var prekey in prekeys)
        {
            payload.UInt32(prekey.Id).Bytes(prekey.PublicKey).Bytes(prekey.Signature);
        }
        return payload.ToArray();
    }

    /// <summary>A tombstone's id: the hash of what the owner signed, the same whatever protobuf encoder carried it.</summary>
    public static byte[] TombstoneId(byte[] deletePayload) => SHA256.HashData(deletePayload);

    private sealed class Payload
    {
        private readonly ArrayBufferWriter<byte> _buffer = new();

        public Payload(string domain)
        {
            _buffer.Write(Encoding.ASCII.GetBytes(domain));
        }

        public Payload Bytes(ReadOnlySpan<byte> part)
        {
            UInt32((uint)part.Length);
            _buffer.Write(part);
            return this;
        }

        public Payload UInt32(uint value)
        {
            BinaryPrimitives.WriteUInt32BigEndian(_buffer.GetSpan(4), value);
            _buffer.Advance(4);
            return this;
        }

        public Payload UInt64(ulong value)
        {
            BinaryPrimitives.WriteUInt64BigEndian(_buffer.GetSpan(8), value);
            _buffer.Advance(8);
            return this;
        }

        public Payload Int64(long value)
        {
            BinaryPrimitives.WriteInt64BigEndian(_buffer.GetSpan(8), value);
            _buffer.Advance(8);
            return this;
        }

        public Payload List(IEnumerable<ReadOnlyMemory<byte>> parts)
        {
            var list = parts as IReadOnlyCollection<ReadOnlyMemory<byte>> ?? parts.ToList();
            UInt32((uint)list.Count);
            foreach (var part in list)
            {
                Bytes(part.Span);
            }
            return this;
        }

        public byte[] ToArray() => _buffer.WrittenSpan.ToArray();
    }
}
