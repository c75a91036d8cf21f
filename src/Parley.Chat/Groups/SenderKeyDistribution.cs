using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Groups.Protos;

namespace Parley.Chat.Groups;

/// <summary>
/// A sender's chain for one epoch as sent to one member over their pairwise Double Ratchet session: group id,
/// epoch id, chain id, the iteration the chain key belongs to, the chain key, and the chain's Ed25519 public key.
/// The pairwise session authenticates who sent it. It holds a secret: <see cref="Wipe"/> it once encrypted.
/// </summary>
public sealed class SenderKeyDistribution
{
    public const uint Version = 1;

    /// <summary>Bound on an encoded distribution (about 120 bytes in practice).</summary>
    public const int MaxEncodedLength = 512;

    internal const int KeySize = 32;

    private readonly byte[] _chainKey;

    internal SenderKeyDistribution(Id256 groupId, Id256 epoch, uint chainId, uint iteration, ReadOnlySpan<byte> chainKey, ReadOnlySpan<byte> signingKey)
    {
        GroupId = groupId;
        Epoch = epoch;
        ChainId = chainId;
        Iteration = iteration;
        _chainKey = chainKey.ToArray();
        SigningKey = signingKey.ToArray();
    }

    public Id256 GroupId { get; }

    public Id256 Epoch { get; }

    public uint ChainId { get; }

    public uint Iteration { get; }

    internal ReadOnlySpan<byte> ChainKey => _chainKey;

    public byte[] SigningKey { get; }

    /// <summary>The protobuf form; it holds the chain key, so the caller wipes it after encrypting it.</summary>
    public byte[] ToBytes() => new SenderKeyDistributionProto
    {
        Version = Version,
        GroupId = ByteString.CopyFrom(GroupId.Span),
        Epoch = ByteString.CopyFrom(Epoch.Span),
        ChainId = ChainId,
        Iteration = Iteration,
        ChainKey = ByteString.CopyFrom(_chainKey),
        SigningKey = ByteString.CopyFrom(SigningKey),
    }.ToByteArray();

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
        return new SenderKeyDistribution(
            Id256.FromBytes(proto.GroupId.Span), Id256.FromBytes(proto.Epoch.Span), proto.ChainId, proto.Iteration, proto.ChainKey.Span, proto.SigningKey.Span);
    }

    public void Wipe() => CryptographicOperations.ZeroMemory(_chainKey);

    public override string ToString() => $"SenderKeyDistribution {{ Epoch = {Epoch.ToShortString()}, ChainId = {ChainId}, Iteration = {Iteration} }}";
}
