using Parley.Chat.Identity;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Tests.Identity;

public class AccountTests
{
    [Fact]
    public void A_new_account_has_consistent_keys_id_tag_and_certificate()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);

        Assert.Equal(account.SigningKey.PublicKey, account.PublicKey);
        Assert.Equal(PeerId.FromPublicKey(account.PublicKey), account.Id);
        Assert.Equal(Handle.TagOf(account.PublicKey), account.Tag);
        Assert.Equal(DefaultCryptoProvider.Instance.X25519PublicKey(account.IdentityDhPrivateKey), account.IdentityDhPublicKey);
        var certificate = IdentityDhCertificate.Parse(account.IdentityDhCertificate.ToBytes());
        Assert.Equal(account.PublicKey, certificate.Account);
        Assert.Equal(account.IdentityDhPublicKey, certificate.DhKey);
        Assert.NotEqual(account.Id, Account.Create(DefaultCryptoProvider.Instance).Id);
    }

    [Fact]
    public void An_account_restored_from_its_secrets_is_the_same_account()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);

        var restored = Account.FromSecrets(account.AccountSeed, account.IdentityDhPrivateKey);

        Assert.Equal(account.Id, restored.Id);
        Assert.Equal(account.Tag, restored.Tag);
        Assert.Equal(account.IdentityDhPublicKey, restored.IdentityDhPublicKey);
        Assert.Equal(account.IdentityDhCertificate.ToBytes(), restored.IdentityDhCertificate.ToBytes());
    }

    [Fact]
    public void Secrets_of_the_wrong_length_are_refused()
    {
        Assert.Throws<ArgumentException>(() => Account.FromSecrets(new byte[31], new byte[32]));
        Assert.Throws<ArgumentException>(() => Account.FromSecrets(new byte[32], new byte[33]));
    }

    [Fact]
    public void The_account_certifies_devices_and_names_its_handles()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var device = IdentityKey.Generate();

        var certificate = DeviceCertificate.Parse(account.CertifyDevice(device.PublicKey, DateTimeOffset.UnixEpoch).ToBytes());

        Assert.Equal(account.PublicKey, certificate.Account);
        Assert.Equal(device.PeerId, certificate.DeviceId);
        Assert.Equal(new Handle("alice", account.Tag), account.HandleFor("Alice"));
    }

    [Fact]
    public void Returned_secrets_are_copies()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var id = account.Id;

        account.AccountSeed[0] ^= 1;
        account.IdentityDhPrivateKey[0] ^= 1;

        Assert.Equal(id, Account.FromSecrets(account.AccountSeed, account.IdentityDhPrivateKey).Id);
        Assert.Equal(account.IdentityDhPublicKey, Account.FromSecrets(account.AccountSeed, account.IdentityDhPrivateKey).IdentityDhPublicKey);
    }
}
