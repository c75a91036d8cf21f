using Google.Protobuf;
using Parley.Chat.Directory.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Identity;

/// <summary>
/// The account's signature binding a device key (a node's libp2p identity) to the account: Ed25519 by the account over
/// <c>"parley-device-cert:" ‖ u32 len ‖ account key protobuf ‖ u32 len ‖ device key protobuf ‖ i64 issued-at (Unix ms)</c>.
/// Instances are always verified.
/// </summary>
public sealed class DeviceCertificate
{
    private const string Domain = "parley-device-cert:";

    private readonly byte[] _signature;

    private DeviceCertificate(PublicKey account, PublicKey device, DateTimeOffset issuedAt, byte[] signature)
    {
        Account = account;
        Device = device;
        DeviceId = device.ToPeerId();
        IssuedAt = issuedAt;
        _signature = signature;
    }

    public PublicKey Account { get; }

    public PublicKey Device { get; }

    /// <summary>The device's peer id, as its node is known on the network.</summary>
    public PeerId DeviceId { get; }

    /// <summary>When the account certified the device, to the millisecond.</summary>
    public DateTimeOffset IssuedAt { get; }

    /// <summary>The account's signature (a copy).</summary>
    public byte[] Signature => (byte[])_signature.Clone();

    /// <summary>Certifies <paramref name="device"/> for <paramref name="account"/>; the time is kept to the millisecond.</summary>
    public static DeviceCertificate Create(IdentityKey account, PublicKey device, DateTimeOffset issuedAt)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(device);
        var issuedAtMs = issuedAt.ToUnixTimeMilliseconds();
        var signature = account.Sign(SigningPayload(account.PublicKey, device, issuedAtMs));
        return new DeviceCertificate(account.PublicKey, device, DateTimeOffset.FromUnixTimeMilliseconds(issuedAtMs), signature);
    }

    /// <summary>Reads and verifies a certificate.</summary>
    /// <exception cref="FormatException">Not a well-formed certificate.</exception>
    /// <exception cref="InvalidSignatureException">Well-formed, but not signed by the account it names.</exception>
    public static DeviceCertificate Parse(ReadOnlySpan<byte> bytes)
    {
        DeviceCertificateMessage message;
        try
        {
            message = DeviceCertificateMessage.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException("device certificate is not a well-formed protobuf", e);
        }
        return FromMessage(message);
    }

    public byte[] ToBytes() => ToMessage().ToByteArray();

    /// <inheritdoc cref="Parse"/>
    internal static DeviceCertificate FromMessage(DeviceCertificateMessage message)
    {
        var account = PublicKey.FromProtobuf(message.AccountKey.Span);
        var device = PublicKey.FromProtobuf(message.DeviceKey.Span);
        DateTimeOffset issuedAt;
        try
        {
            issuedAt = DateTimeOffset.FromUnixTimeMilliseconds(message.IssuedAtUnixMs);
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new FormatException("device certificate issue time is out of range", e);
        }
        var signature = message.Signature.ToByteArray();
        if (!SignatureCheck.Verify(account, SigningPayload(account, device, message.IssuedAtUnixMs), signature))
        {
            throw new InvalidSignatureException("device certificate signature is invalid");
        }
        return new DeviceCertificate(account, device, issuedAt, signature);
    }

    internal DeviceCertificateMessage ToMessage() => new()
    {
        AccountKey = ByteString.CopyFrom(Account.ToProtobuf()),
        DeviceKey = ByteString.CopyFrom(Device.ToProtobuf()),
        IssuedAtUnixMs = IssuedAt.ToUnixTimeMilliseconds(),
        Signature = ByteString.CopyFrom(_signature),
    };

    internal static byte[] SigningPayload(PublicKey account, PublicKey device, long issuedAtUnixMs) =>
        new CanonicalWriter(Domain).Bytes(account.ToProtobuf()).Bytes(device.ToProtobuf()).Int64(issuedAtUnixMs).ToArray();
}
