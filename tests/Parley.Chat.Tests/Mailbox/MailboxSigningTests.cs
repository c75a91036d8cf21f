using System.Security.Cryptography;
using Parley.Chat.Mailbox;
using Parley.Core.Identity;

namespace Parley.Chat.Tests.Mailbox;

public sealed class MailboxSigningTests
{
    // RFC 8032 test 1 key.
    private static readonly IdentityKey Rfc8032Key = IdentityKey.FromSeed(Convert.FromHexString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));

    [Fact]
    public void The_mailbox_address_is_sha256_of_the_prefix_and_the_key_protobuf()
    {
        // SHA-256("parley/mailbox/" || 08 01 12 20 || d75a98...511a), computed independently.
        Assert.Equal("eb989dd39c2bb11e97a21b93ae31529398db353d7337ad3b0584df3202d9fb26", Convert.ToHexString(MailboxAddress.Of(Rfc8032Key.PublicKey)).ToLowerInvariant());
    }

    [Fact]
    public void Signing_payloads_have_a_domain_and_length_prefixed_parts()
    {
        var key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        Assert.Equal(
            [.. "parley-one-time-prekey:"u8, 0, 0, 0, 7, 0, 0, 0, 32, .. key],
            MailboxSigning.OneTimePrekey(7, key));
        Assert.Equal(
            [.. "parley-mailbox-delete:"u8, 0, 0, 0, 2, 0xAA, 0xBB, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 1, 0x01, 0, 0, 0, 2, 0x02, 0x03],
            MailboxSigning.Delete([0xAA, 0xBB], 5, [new byte[] { 1 }, new byte[] { 2, 3 }]));
        // Moving a byte from one id to the next changes what is signed.
        Assert.NotEqual(MailboxSigning.Delete([], 5, [new byte[] { 1, 2 }, new byte[] { 3 }]), MailboxSigning.Delete([], 5, [new byte[] { 1 }, new byte[] { 2, 3 }]));
    }

    [Fact]
    public void A_one_time_prekey_verifies_only_against_its_account_and_unchanged()
    {
        var prekey = SignedOneTimePrekey.Create(Rfc8032Key, 42, RandomNumberGenerator.GetBytes(32));
        Assert.True(prekey.Verify(Rfc8032Key.PublicKey));
        Assert.False(prekey.Verify(IdentityKey.Generate().PublicKey));
        Assert.False((prekey with { Id = 43 }).Verify(Rfc8032Key.PublicKey));
        Assert.False((prekey with { PublicKey = RandomNumberGenerator.GetBytes(32) }).Verify(Rfc8032Key.PublicKey));
        Assert.False((prekey with { Signature = prekey.Signature[..63] }).Verify(Rfc8032Key.PublicKey));
        Assert.Throws<ArgumentException>(() => SignedOneTimePrekey.Create(Rfc8032Key, 1, new byte[31]));
    }
}
