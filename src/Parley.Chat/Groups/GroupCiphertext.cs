using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// One group message on the wire: the same bytes for every member (the engine deposits one copy per member). The
/// header fields are public so the engine can route it to its room before decrypting.
/// </summary>
public sealed class GroupCiphertext
{
    public const uint Version = 1;

    /// <summary>Bound on an encoded group message: the largest text plus headers.</summary>
    public const int MaxEncodedLength = GroupMessage.MaxTextBytes + 4096;

    private static readonly byte[] AdDomain = "parley-group-message-ad:"u8.ToArray();
    private static readonly byte[] SignatureDomain = "parley-group-message-sig:"u8.ToArray();

    internal GroupCiphertext(Id256 groupId, Id256 epoch, PublicKey sender, uint chainId, uint iteration, byte[] ciphertext, byte[] signature)
    {
        GroupId = groupId;
        Epoch = epoch;
        Sender = sender;
        ChainId = chainId;
        Iteration = iteration;
        Ciphertext = ciphertext;
        Signature = signature;
    }

    public Id256 GroupId { get; }

    public Id256 Epoch { get; }

    public PublicKey Sender { get; }

    public uint ChainId { get; }

    public uint Iteration { get; }

    internal byte[] Ciphertext { get; }

    internal byte[] Signature { get; }

    public byte[] ToBytes() => new GroupCiphertextProto
    {
        Version = Version,
        GroupId = ByteString.CopyFrom(GroupId.Span),
        Epoch = ByteString.CopyFrom(Epoch.Span),
        Sender = ByteString.CopyFrom(Sender.ToProtobuf()),
        ChainId = ChainId,
        Iteration = Iteration,
        Ciphertext = ByteString.CopyFrom(Ciphertext),
        Signature = ByteString.CopyFrom(Signature),
    }.ToByteArray();

    /// <exception cref="FormatException">Not a version 1 group message, or a field out of bounds.</exception>
    public static GroupCiphertext Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxEncodedLength)
        {
            throw new FormatException($"a group message of {bytes.Length} bytes exceeds the maximum {MaxEncodedLength}");
        }
        GroupCiphertextProto proto;
        try
        {
            proto = GroupCiphertextProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException("the group message is not a valid protobuf", e);
        }
        if (proto.Version != Version)
        {
            throw new FormatException($"unknown group message version {proto.Version}");
        }
        if (proto.Ciphertext.Length < 16 || proto.Signature.Length != 64)
        {
            throw new FormatException("a group message has a ciphertext with its 16-byte tag and a 64-byte signature");
        }
        return new GroupCiphertext(
            Id256.FromBytes(proto.GroupId.Span),
            Id256.FromBytes(proto.Epoch.Span),
            PublicKey.FromProtobuf(proto.Sender.Span),
            proto.ChainId,
            proto.Iteration,
            proto.Ciphertext.ToByteArray(),
            proto.Signature.ToByteArray());
    }

    /// <summary>AEAD associated data: "parley-group-message-ad:" ‖ len ‖ group id ‖ len ‖ epoch ‖ len ‖ sender ‖ chain id ‖ iteration.</summary>
    internal static byte[] AssociatedData(Id256 groupId, Id256 epoch, PublicKey sender, uint chainId, uint iteration) =>
        new CanonicalWriter(AdDomain).Bytes(groupId.Span).Bytes(epoch.Span).Bytes(sender.ToProtobuf()).UInt32(chainId).UInt32(iteration).ToArray();

    /// <summary>What the chain's signing key signs: "parley-group-message-sig:" ‖ len ‖ associated data ‖ len ‖ ciphertext.</summary>
    internal static byte[] SignedBytes(byte[] associatedData, ReadOnlySpan<byte> ciphertext) =>
        new CanonicalWriter(SignatureDomain).Bytes(associatedData).Bytes(ciphertext).ToArray();

    public override string ToString() => $"GroupCiphertext {{ Epoch = {Epoch.ToShortString()}, ChainId = {ChainId}, Iteration = {Iteration}, {Ciphertext.Length} bytes }}";
}
