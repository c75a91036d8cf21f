using System.Security.Cryptography;
using Parley.Core.Identity;

namespace Parley.Chat.Messaging;

/// <summary>Conversation ids both sides compute alike, without agreeing on anything first.</summary>
public static class ConversationIds
{
    private static readonly byte[] DirectDomain = "parley-direct-conversation:"u8.ToArray();

    /// <summary>SHA-256 over the domain and the two account ids, lower first, each length-prefixed.</summary>
    public static byte[] Direct(PeerId a, PeerId b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var (first, second) = a.Bytes.SequenceCompareTo(b.Bytes) <= 0 ? (a, b) : (b, a);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(DirectDomain);
        Append(hash, first.Bytes);
        Append(hash, second.Bytes);
        return hash.GetHashAndReset();
    }

    private static void Append(IncrementalHash hash, ReadOnlySpan<byte> part)
    {
        Span<byte> length = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(length, (uint)part.Length);
        hash.AppendData(length);
        hash.AppendData(part);
    }
}
