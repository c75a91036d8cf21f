using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// A sender's chain for one epoch as sent to one member over their pairwise Double Ratchet session: group id,
/// epoch id, chain id, the iteration the chain key belongs to, the chain key, and the chain's Ed25519 public key.
/// The pairwise session authenticates who sent it; the owner's signature over the chain's public part
/// (<see cref="OwnerSignature"/>) lets an admin pass the chain on to members the owner never talked to. It holds a
/// secret: <see cref="Wipe"/> it once encrypted.
/// </summary>
public sealed class SenderKeyDistribution
{
    public const uint Version = 1;

    /// <summary>Bound on an encoded distribution (about 120 bytes in practice).</summary>
    public const int MaxEncodedLength = 512;

    internal const int KeySize = 32;

    private const int SignatureSize = 64;

    private readonly byte[] _chainKey;

    private const string OwnerDomain = "parley-group-chain:";

    internal SenderKeyDistribution(Id256 groupId, Id256 epoch, uint chainId, uint iteration, ReadOnlySpan<byte> chainKey, ReadOnlySpan<byte> signingKey, PublicKey? owner = null, byte[]? ownerSignature = null)
    {
        GroupId = groupId;
        Epoch = epoch;
        ChainId = chainId;
        Iteration = iteration;
        _chainKey = chainKey.ToArray();
        SigningKey = signingKey.ToArray();
        Owner = owner;
        OwnerSignature = ownerSignature;
    }

    public Id256 GroupId { get; }

    public Id256 Epoch { get; }

    public uint ChainId { get; }

    public uint Iteration { get; }

    internal ReadOnlySpan<byte> ChainKey => _chainKey;

    public byte[] SigningKey { get; }

    /// <summary>The account whose chain this is, when the distribution names it (with <see cref="OwnerSignature"/>).</summary>
    public PublicKey? Owner { get; }

    /// <summary>Ed25519 by <see cref="Owner"/> over <see cref="OwnerSignedBytes"/>.</summary>
    public byte[]? OwnerSignature { get; }

    /// <summary>What the owner signs: <c>"parley-group-chain:" ‖ len ‖ group id ‖ len ‖ epoch ‖ len ‖ owner ‖ u32 chain id ‖ len ‖ signing key</c>.
    /// Neither the chain key nor the iteration: a member passes the chain on at the iteration it has reached.</summary>
    public static byte[] OwnerSignedBytes(Id256 groupId, Id256 epoch, PublicKey owner, uint chainId, ReadOnlySpan<byte> signingKey)
    {
        ArgumentNullException.ThrowIfNull(owner);
        return new CanonicalWriter(OwnerDomain).Bytes(groupId.Span).Bytes(epoch.Span).Bytes(owner.ToProtobuf()).UInt32(chainId).Bytes(signingKey).ToArray();
    }

    /// <summary>Whether the owner's signature verifies (false when the distribution carries none).</summary>
    public bool OwnerSignatureVerifies(ICryptoProvider crypto) =>
        Owner is { } owner && OwnerSignature is { } signature && owner.Verify(OwnerSignedBytes(GroupId, Epoch, owner, ChainId, SigningKey), signature, crypto);

    /// <summary>The protobuf form; it holds the chain key, so the caller wipes it after encrypting it.</summary>
    public byte[] ToBytes()
    {
        var proto = new SenderKeyDistributionProto
        {
            Version = Version,
            GroupId = ByteString.CopyFrom(GroupId.Span),
            Epoch = ByteString.CopyFrom(Epoch.Span),
            ChainId = ChainId,
            Iteration = Iteration,
            ChainKey = ByteString.CopyFrom(_chainKey),
            SigningKey = ByteString.CopyFrom(SigningKey),
        };
        if (Owner is not null && OwnerSignature is not null)
        {
            proto.Owner = ByteString.CopyFrom(Owner.ToProtobuf());
            proto.OwnerSignature = ByteString.CopyFrom(OwnerSignature);
        }
        return proto.ToByteArray();
    }

    /// <exception cref="FormatException">Not a version 1 distribution, or a field out of bounds.</exception>
    public static SenderKeyDistribution Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxEncodedLength)
        {
            throw new FormatException($"a sender-key distribution of {bytes.Length} bytes exceeds the maximum {MaxEncodedLength}");
        }
        SenderKeyDistributionProto proto;
        try
        {
            proto = SenderKeyDistributionProto.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException("the sender-key distribution is not a valid protobuf", e);
        }
        if (proto.Version != Version)
        {
            throw new FormatException($"unknown sender-key distribution version {proto.Version}");
        }
        if (proto.ChainKey.Length != KeySize || proto.SigningKey.Length != KeySize)
        {
            throw new FormatException($"chain and signing keys are {KeySize} bytes");
        }
        if ((proto.Owner.Length == 0) != (proto.OwnerSignature.Length == 0) || proto.OwnerSignature.Length is not (0 or SignatureSize))
        {
            throw new FormatException($"an owner comes with its {SignatureSize}-byte signature");
        }
        return new SenderKeyDistribution(
            Id256.FromBytes(proto.GroupId.Span),
            Id256.FromBytes(proto.Epoch.Span),
            proto.ChainId,
            proto.Iteration,
            proto.ChainKey.Span,
            proto.SigningKey.Span,
            proto.Owner.Length == 0 ? null : PublicKey.FromProtobuf(proto.Owner.Span),
            proto.OwnerSignature.Length == 0 ? null : proto.OwnerSignature.ToByteArray());
    }

    public void Wipe() => CryptographicOperations.ZeroMemory(_chainKey);

    public override string ToString() => $"SenderKeyDistribution {{ Epoch = {Epoch.ToShortString()}, ChainId = {ChainId}, Iteration = {Iteration} }}";
}
