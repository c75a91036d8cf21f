using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Identity;

/// <summary>
/// The user: an Ed25519 account key (the identity; its peer id is the account id) and an X25519 identity DH key bound to
/// it by an <see cref="Chat.Identity.IdentityDhCertificate"/>. The two secrets are all that must be stored to restore it.
/// </summary>
public sealed class Account
{
    public const int SecretLength = 32;

    private readonly byte[] _accountSeed;
    private readonly byte[] _dhPrivateKey;
    private readonly byte[] _dhPublicKey;

    private Account(byte[] accountSeed, byte[] dhPrivateKey, ICryptoProvider crypto)
    {
        _accountSeed = accountSeed;
        _dhPrivateKey = dhPrivateKey;
        _dhPublicKey = crypto.X25519PublicKey(dhPrivateKey);
        SigningKey = IdentityKey.FromSeed(accountSeed, crypto);
        Tag = Handle.TagOf(SigningKey.PublicKey);
        IdentityDhCertificate = IdentityDhCertificate.Create(SigningKey, _dhPublicKey);
    }

    public IdentityKey SigningKey { get; }

    public PublicKey PublicKey => SigningKey.PublicKey;

    /// <summary>The account id: the peer id of the account key.</summary>
    public PeerId Id => SigningKey.PeerId;

    /// <summary>The tag of every handle of this account.</summary>
    public string Tag { get; }

    /// <summary>The Ed25519 seed of the account key (a copy), for storage.</summary>
    public byte[] AccountSeed => (byte[])_accountSeed.Clone();

    /// <summary>The X25519 identity private key (a copy).</summary>
    public byte[] IdentityDhPrivateKey => (byte[])_dhPrivateKey.Clone();

    /// <summary>The X25519 identity public key (a copy).</summary>
    public byte[] IdentityDhPublicKey => (byte[])_dhPublicKey.Clone();

    public IdentityDhCertificate IdentityDhCertificate { get; }

    /// <summary>A new account with fresh keys.</summary>
    public static Account Create(ICryptoProvider crypto)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        var (seed, _) = crypto.GenerateEd25519KeyPair();
        var (dhPrivateKey, _) = crypto.GenerateX25519KeyPair();
        return new Account(seed, dhPrivateKey, crypto);
    }

    /// <summary>The account restored from its two stored secrets (<see cref="AccountSeed"/>, <see cref="IdentityDhPrivateKey"/>).</summary>
    public static Account FromSecrets(ReadOnlySpan<byte> accountSeed, ReadOnlySpan<byte> identityDhPrivateKey, ICryptoProvider? crypto = null)
    {
        if (accountSeed.Length != SecretLength)
        {
            throw new ArgumentException($"an account seed is {SecretLength} bytes", nameof(accountSeed));
        }
        if (identityDhPrivateKey.Length != SecretLength)
        {
            throw new ArgumentException($"an X25519 private key is {SecretLength} bytes", nameof(identityDhPrivateKey));
        }
        return new Account(accountSeed.ToArray(), identityDhPrivateKey.ToArray(), crypto ?? DefaultCryptoProvider.Instance);
    }

    /// <summary>This account's handle for <paramref name="name"/>.</summary>
    /// <exception cref="FormatException">The name is not valid.</exception>
    public Handle HandleFor(string name) => new(name, Tag);

    /// <summary>Certifies <paramref name="deviceKey"/> (a node's libp2p identity) as a device of this account.</summary>
    public DeviceCertificate CertifyDevice(PublicKey deviceKey, DateTimeOffset issuedAt) => DeviceCertificate.Create(SigningKey, deviceKey, issuedAt);
}
