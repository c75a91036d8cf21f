using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using static Parley.Chat.Tests.Directory.DirectoryTestSupport;

namespace Parley.Chat.Tests.Identity;

public class CertificateTests
{
    private static readonly DateTimeOffset IssuedAt = new(2026, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);

    [Fact]
    public void An_identity_DH_certificate_round_trips()
    {
        var certificate = Alice.IdentityDhCertificate;

        var parsed = IdentityDhCertificate.Parse(certificate.ToBytes());

        Assert.Equal(Alice.PublicKey, parsed.Account);
        Assert.Equal(Alice.IdentityDhPublicKey, parsed.DhKey);
        Assert.Equal(certificate.Signature, parsed.Signature);
        Assert.Equal(certificate.ToBytes(), parsed.ToBytes());
    }

    [Fact]
    public void The_identity_DH_signature_covers_the_documented_payload()
    {
        var message = IdentityDhCertificateMessage.Parser.ParseFrom(Alice.IdentityDhCertificate.ToBytes());
        byte[] expected = [.. "parley-identity-dh:"u8, .. Length(36), .. Alice.PublicKey.ToProtobuf(), .. Length(32), .. Alice.IdentityDhPublicKey];

        Assert.True(Alice.PublicKey.Verify(expected, message.Signature.Span));
    }

    [Fact]
    public void A_tampered_identity_DH_certificate_is_rejected()
    {
        var badSignature = MutateDh(Alice.IdentityDhCertificate, m => m.Signature = Flip(m.Signature));
        var otherKey = MutateDh(Alice.IdentityDhCertificate, m => m.DhKey = ByteString.CopyFrom(Bob.IdentityDhPublicKey));

        Assert.Throws<InvalidSignatureException>(() => IdentityDhCertificate.Parse(badSignature));
        Assert.Throws<InvalidSignatureException>(() => IdentityDhCertificate.Parse(otherKey));
    }

    [Fact]
    public void A_certificate_forged_for_another_account_is_rejected()
    {
        // Mallory signs a certificate naming Alice's account and her own DH key.
        var forged = IdentityDhCertificate.Create(Mallory.SigningKey, Mallory.IdentityDhPublicKey);
        var claimed = MutateDh(forged, m => m.AccountKey = ByteString.CopyFrom(Alice.PublicKey.ToProtobuf()));

        var error = Assert.Throws<InvalidSignatureException>(() => IdentityDhCertificate.Parse(claimed));
        Assert.Contains("signature is invalid", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Malformed_identity_DH_certificates_are_format_errors()
    {
        Assert.Throws<FormatException>(() => IdentityDhCertificate.Parse([0xff, 0xff]));
        Assert.Throws<FormatException>(() => IdentityDhCertificate.Parse(MutateDh(Alice.IdentityDhCertificate, m => m.DhKey = ByteString.CopyFrom(new byte[31]))));
        Assert.Throws<FormatException>(() => IdentityDhCertificate.Parse(MutateDh(Alice.IdentityDhCertificate, m => m.AccountKey = ByteString.CopyFrom([1, 2, 3]))));
        Assert.Throws<ArgumentException>(() => IdentityDhCertificate.Create(Alice.SigningKey, new byte[31]));
    }

    [Fact]
    public void A_device_certificate_round_trips_to_the_millisecond()
    {
        var certificate = Alice.CertifyDevice(Laptop.PublicKey, IssuedAt.AddTicks(1234));

        var parsed = DeviceCertificate.Parse(certificate.ToBytes());

        Assert.Equal(Alice.PublicKey, parsed.Account);
        Assert.Equal(Laptop.PublicKey, parsed.Device);
        Assert.Equal(Laptop.PeerId, parsed.DeviceId);
        Assert.Equal(IssuedAt, parsed.IssuedAt);
        Assert.Equal(IssuedAt, certificate.IssuedAt);
        Assert.Equal(certificate.Signature, parsed.Signature);
    }

    [Fact]
    public void The_device_signature_covers_the_documented_payload()
    {
        var message = DeviceCertificateMessage.Parser.ParseFrom(Alice.CertifyDevice(Laptop.PublicKey, IssuedAt).ToBytes());
        var issuedAt = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(issuedAt, IssuedAt.ToUnixTimeMilliseconds());
        byte[] expected = [.. Encoding.ASCII.GetBytes("parley-device-cert:"), .. Length(36), .. Alice.PublicKey.ToProtobuf(), .. Length(36), .. Laptop.PublicKey.ToProtobuf(), .. issuedAt];

        Assert.True(Alice.PublicKey.Verify(expected, message.Signature.Span));
    }

    [Fact]
    public void A_tampered_or_forged_device_certificate_is_rejected()
    {
        var certificate = Alice.CertifyDevice(Laptop.PublicKey, IssuedAt);

        Assert.Throws<InvalidSignatureException>(() => DeviceCertificate.Parse(MutateDevice(certificate, m => m.Signature = Flip(m.Signature))));
        Assert.Throws<InvalidSignatureException>(() => DeviceCertificate.Parse(MutateDevice(certificate, m => m.IssuedAtUnixMs++)));
        Assert.Throws<InvalidSignatureException>(() => DeviceCertificate.Parse(MutateDevice(certificate, m => m.DeviceKey = ByteString.CopyFrom(Phone.PublicKey.ToProtobuf()))));
        var forged = MutateDevice(Mallory.CertifyDevice(Laptop.PublicKey, IssuedAt), m => m.AccountKey = ByteString.CopyFrom(Alice.PublicKey.ToProtobuf()));
        Assert.Throws<InvalidSignatureException>(() => DeviceCertificate.Parse(forged));
        Assert.Throws<FormatException>(() => DeviceCertificate.Parse([0x0b]));
        Assert.Throws<FormatException>(() => DeviceCertificate.Parse(MutateDevice(certificate, m => m.IssuedAtUnixMs = long.MaxValue)));
    }

    [Fact]
    public void A_device_signature_does_not_verify_as_an_identity_DH_certificate()
    {
        // Domain separation: the same key signing two kinds of payload.
        var device = DeviceCertificateMessage.Parser.ParseFrom(Alice.CertifyDevice(Laptop.PublicKey, IssuedAt).ToBytes());
        var transplanted = MutateDh(Alice.IdentityDhCertificate, m => m.Signature = device.Signature);

        Assert.Throws<InvalidSignatureException>(() => IdentityDhCertificate.Parse(transplanted));
    }

    private static byte[] Length(int length)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, length);
        return bytes;
    }

    private static ByteString Flip(ByteString signature)
    {
        var bytes = signature.ToByteArray();
        bytes[10] ^= 1;
        return ByteString.CopyFrom(bytes);
    }

    private static byte[] MutateDh(IdentityDhCertificate certificate, Action<IdentityDhCertificateMessage> change)
    {
        var message = IdentityDhCertificateMessage.Parser.ParseFrom(certificate.ToBytes());
        change(message);
        return message.ToByteArray();
    }

    private static byte[] MutateDevice(DeviceCertificate certificate, Action<DeviceCertificateMessage> change)
    {
        var message = DeviceCertificateMessage.Parser.ParseFrom(certificate.ToBytes());
        change(message);
        return message.ToByteArray();
    }
}
