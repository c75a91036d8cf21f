using Google.Protobuf;
using Parley.Chat.Directory.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Identity;

/// <summary>
/// The account's signature binding its X25519 identity DH key (used by X3DH and sealed sender) to its Ed25519 account
/// key: Ed25519 by the account over <c>"parley-identity-dh:" ‖ u32 len ‖ account key protobuf ‖ u32 len ‖ DH key</c>.
/// Instances are always verified.
/// </summary>
public sealed class IdentityDhCertificate
{
    public const int DhKeyLength = 32;

    private const string Domain = "parley-identity-dh:";

    private readonly byte[] _dhKey;
    private readonly byte[] _signature;

    private IdentityDhCertificate(PublicKey account, byte[] dhKey, byte[] signature)
    {
        Account = account;
        _dhKey = dhKey;
        _signature = signature;
    }

    public PublicKey Account { get; }

    /// <summary>The X25519 public key (a copy).</summary>
    public byte[] DhKey => (byte[])_dhKey.Clone();

    /// <summary>The account's signature (a copy).</summary>
    public byte[] Signature => (byte[])_signature.Clone();

    public static IdentityDhCertificate Create(IdentityKey account, byte[] dhPublicKey)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(dhPublicKey);
        if (dhPublicKey.Length != DhKeyLength)
        {
            throw new ArgumentException($"an X25519 public key is {DhKeyLength} bytes", nameof(dhPublicKey));
        }
        var dhKey = (byte[])dhPublicKey.Clone();
        return new IdentityDhCertificate(account.PublicKey, dhKey, account.Sign(SigningPayload(account.PublicKey, dhKey)));
    }

    /// <summary>Reads and verifies a certificate.</summary>
    /// <exception cref="FormatException">Not a well-formed certificate.</exception>
    /// <exception cref="InvalidSignatureException">Well-formed, but not signed by the account it names.</exception>
    public static IdentityDhCertificate Parse(ReadOnlySpan<byte> bytes)
    {
        IdentityDhCertificateMessage message;
        try
        {
            message = IdentityDhCertificateMessage.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException("identity DH certificate is not a well-formed protobuf", e);
        }
        return FromMessage(message);
    }

    public byte[] ToBytes() => ToMessage().ToByteArray();

    /// <inheritdoc cref="Parse"/>
    internal static IdentityDhCertificate FromMessage(IdentityDhCertificateMessage message)
    {
        var account = PublicKey.FromProtobuf(message.AccountKey.Span);
        if (message.DhKey.Length != DhKeyLength)
        {
            throw new FormatException($"identity DH key is {message.DhKey.Length} bytes, not {DhKeyLength}");
        }
        var dhKey = message.DhKey.ToByteArray();
        var signature = message.Signature.ToByteArray();
        if (!SignatureCheck.Verify(account, SigningPayload(account, dhKey), signature))
        {
            throw new InvalidSignatureException("identity DH certificate signature is invalid");
        }
        return new IdentityDhCertificate(account, dhKey, signature);
    }

    internal IdentityDhCertificateMessage ToMessage() => new()
    {
        AccountKey = ByteString.CopyFrom(Account.ToProtobuf()),
        DhKey = ByteString.CopyFrom(_dhKey),
        Signature = ByteString.CopyFrom(_signature),
    };

    internal static byte[] SigningPayload(PublicKey account, ReadOnlySpan<byte> dhKey) =>
        new CanonicalWriter(Domain).Bytes(account.ToProtobuf()).Bytes(dhKey).ToArray();
}
