using System.Security.Cryptography;

namespace Parley.Chat.Mailbox;

/// <summary>
/// The byte strings owners sign. Each starts with its own domain string ending in ':' and length-prefixes every
/// variable-length part (uint32 big-endian), so no signature can be replayed as another kind or read two ways.
/// </summary>
internal static class MailboxSigning
{
    public static byte[] OneTimePrekey(uint id, ReadOnlySpan<byte> publicKey) =>
        new CanonicalWriter("parley-one-time-prekey:").UInt32(id).Bytes(publicKey).ToArray();

    public static byte[] Fetch(ReadOnlySpan<byte> ownerKey, long timestampUnixMs, ReadOnlySpan<byte> cursor) =>
        new CanonicalWriter("parley-mailbox-fetch:").Bytes(ownerKey).Int64(timestampUnixMs).Bytes(cursor).ToArray();

    public static byte[] Delete(ReadOnlySpan<byte> ownerKey, long timestampUnixMs, IEnumerable<ReadOnlyMemory<byte>> envelopeIds) =>
        new CanonicalWriter("parley-mailbox-delete:").Bytes(ownerKey).Int64(timestampUnixMs).List(envelopeIds).ToArray();

    public static byte[] Policy(ReadOnlySpan<byte> ownerKey, ulong sequence, IEnumerable<ReadOnlyMemory<byte>> tokenHashes) =>
        new CanonicalWriter("parley-mailbox-policy:").Bytes(ownerKey).UInt64(sequence).List(tokenHashes).ToArray();

    public static byte[] Prekeys(ReadOnlySpan<byte> ownerKey, ReadOnlySpan<byte> nodeId, long timestampUnixMs, IReadOnlyCollection<SignedOneTimePrekey> prekeys)
    {
        var payload = new CanonicalWriter("parley-mailbox-prekeys:").Bytes(ownerKey).Bytes(nodeId).Int64(timestampUnixMs).UInt32((uint)prekeys.Count);
        foreach (var prekey in prekeys)
        {
            payload.UInt32(prekey.Id).Bytes(prekey.PublicKey).Bytes(prekey.Signature);
        }
        return payload.ToArray();
    }

    /// <summary>A tombstone's id: the hash of what the owner signed, the same whatever protobuf encoder carried it.</summary>
    public static byte[] TombstoneId(byte[] deletePayload) => SHA256.HashData(deletePayload);
}
