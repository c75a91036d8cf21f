using Parley.Core.Identity;

namespace Parley.Chat.Mailbox;

/// <summary>
/// A one-time X25519 prekey signed by the account: Ed25519 over
/// <c>"parley-one-time-prekey:" ‖ uint32 id ‖ uint32 length ‖ key</c> (big-endian), so a mailbox node cannot hand out a key of its own.
/// </summary>
public sealed record SignedOneTimePrekey(uint Id, byte[] PublicKey, byte[] Signature)
{
    public const int KeyLength = 32;
    public const int SignatureLength = 64;

    public static SignedOneTimePrekey Create(IdentityKey account, uint id, byte[] publicKey)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(publicKey);
        if (publicKey.Length != KeyLength)
        {
            throw new ArgumentException("an X25519 public key is 32 bytes", nameof(publicKey));
        }
        return new SignedOneTimePrekey(id, publicKey.ToArray(), account.Sign(MailboxSigning.OneTimePrekey(id, publicKey)));
    }

    /// <summary>True when the key is well formed and signed by <paramref name="account"/>.</summary>
    public bool Verify(PublicKey account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return PublicKey is { Length: KeyLength }
            && Signature is { Length: SignatureLength }
            && account.Verify(MailboxSigning.OneTimePrekey(Id, PublicKey), Signature);
    }
}
