using System.Security.Cryptography;
using System.Text;
using Parley.Chat.Crypto;
using Parley.Core.Crypto;

namespace Parley.Storage;

/// <summary>
/// The data key that encrypts what is kept at rest: secrets (account and prekey private keys, ratchet states) and
/// content (message text, names, room contents; docs/storage.md). It is kept in the database wrapped under the user's
/// passphrase (Argon2id + ChaCha20-Poly1305; scrypt before), or, for a user who chose no passphrase, as it is, so that
/// the file's protection is then the folder's owner-only permissions.
/// Each value is sealed as nonce (12 bytes) ‖ ChaCha20-Poly1305 ciphertext and tag. Lookups by a sealed value go
/// through <see cref="LookupTag"/>, a keyed hash under a key derived from the data key.
/// </summary>
public sealed class KeyVault : IDisposable
{
    public const string PlainScheme = "plain";
    public const string PassphraseScheme = "passphrase-v1";

    /// <summary>Bytes of a <see cref="LookupTag"/>: collisions among one user's values are out of reach, and the index stays small.</summary>
    public const int LookupTagLength = 16;

    private const int DataKeyLength = 32;
    private static readonly byte[] LookupKeyInfo = "Parley_StorageLookup_v1"u8.ToArray();

    private readonly ICryptoProvider _crypto;
    private readonly byte[] _dataKey;
    private readonly byte[] _lookupKey = new byte[32];
    private readonly IAead _aead;

    private KeyVault(ICryptoProvider crypto, byte[] dataKey, bool needsRewrap = false)
    {
        _crypto = crypto;
        _dataKey = dataKey;
        _aead = crypto.CreateChaCha20Poly1305(dataKey);
        NeedsRewrap = needsRewrap;
        crypto.HkdfSha256(dataKey, [], LookupKeyInfo, _lookupKey);
    }

    /// <summary>The stored key was wrapped with an older KDF or a lower cost: store <see cref="Export"/> again with the
    /// same passphrase (opening it once is the only moment the passphrase and the old wrapping are both at hand).</summary>
    public bool NeedsRewrap { get; }

    /// <summary>A new vault with a fresh random data key.</summary>
    public static KeyVault Create(ICryptoProvider crypto)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        var key = new byte[DataKeyLength];
        crypto.RandomBytes(key);
        return new KeyVault(crypto, key);
    }

    /// <summary>Unlocks a stored data key.</summary>
    /// <exception cref="PassphraseRequiredException">The key is passphrase-protected and no passphrase was given.</exception>
    /// <exception cref="WrongPassphraseException">The passphrase does not open it.</exception>
    /// <exception cref="StorageException">The stored key is damaged or of an unknown scheme.</exception>
    public static KeyVault Unlock(ICryptoProvider crypto, string scheme, byte[] storedKey, string? passphrase)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(storedKey);
        switch (scheme)
        {
            case PlainScheme when storedKey.Length == DataKeyLength:
                return new KeyVault(crypto, (byte[])storedKey.Clone());
            case PassphraseScheme when passphrase is null:
                throw new PassphraseRequiredException("this Parley data folder is protected by a passphrase; give it with --passphrase-file or PARLEY_PASSPHRASE");
            case PassphraseScheme:
                try
                {
                    return new KeyVault(crypto, PassphraseProtection.Unprotect(crypto, passphrase!, storedKey), !PassphraseProtection.IsCurrent(storedKey));
                }
                catch (FormatException e)
                {
                    throw new StorageException($"the stored data key is damaged: {e.Message}", e);
                }
            default:
                throw new StorageException($"the stored data key has an unknown scheme '{scheme}' or a wrong length");
        }
    }

    /// <summary>The data key as it is stored: wrapped under <paramref name="passphrase"/>, or as it is when null.</summary>
    public (string Scheme, byte[] StoredKey) Export(string? passphrase) => passphrase is null
        ? (PlainScheme, (byte[])_dataKey.Clone())
        : (PassphraseScheme, PassphraseProtection.Protect(_crypto, passphrase, _dataKey));

    public byte[] Seal(ReadOnlySpan<byte> secret)
    {
        var sealedSecret = new byte[IAead.NonceSize + secret.Length + IAead.TagSize];
        _crypto.RandomBytes(sealedSecret.AsSpan(0, IAead.NonceSize));
        _aead.Encrypt(sealedSecret.AsSpan(0, IAead.NonceSize), secret, [], sealedSecret.AsSpan(IAead.NonceSize));
        return sealedSecret;
    }

    public byte[] SealText(string text) => Seal(Encoding.UTF8.GetBytes(text));

    /// <exception cref="StorageException">The sealed text was altered or sealed under another key.</exception>
    public string OpenText(ReadOnlySpan<byte> sealedText) => Encoding.UTF8.GetString(Open(sealedText));

    /// <summary>
    /// HMAC-SHA256 under a key derived from the data key, of <paramref name="purpose"/> and <paramref name="value"/>,
    /// truncated to <see cref="LookupTagLength"/> bytes: equal values have equal tags, so a sealed column can be found
    /// by an index on its tag; without the data key a tag tells nothing of the value (not even a guess can be checked).
    /// </summary>
    public byte[] LookupTag(string purpose, ReadOnlySpan<byte> value)
    {
        var input = new byte[Encoding.ASCII.GetByteCount(purpose) + 1 + value.Length];
        var written = Encoding.ASCII.GetBytes(purpose, input);
        value.CopyTo(input.AsSpan(written + 1));
        Span<byte> mac = stackalloc byte[32];
        _crypto.HmacSha256(_lookupKey, input, mac);
        return mac[..LookupTagLength].ToArray();
    }

    /// <exception cref="StorageException">The sealed secret was altered or sealed under another key.</exception>
    public byte[] Open(ReadOnlySpan<byte> sealedSecret)
    {
        if (sealedSecret.Length < IAead.NonceSize + IAead.TagSize)
        {
            throw new StorageException("a stored secret is truncated");
        }
        var secret = new byte[sealedSecret.Length - IAead.NonceSize - IAead.TagSize];
        if (!_aead.TryDecrypt(sealedSecret[..IAead.NonceSize], sealedSecret[IAead.NonceSize..], [], secret))
        {
            throw new StorageException("a stored secret failed authentication: the database was altered or belongs to another key");
        }
        return secret;
    }

    public void Dispose()
    {
        _aead.Dispose();
        CryptographicOperations.ZeroMemory(_dataKey);
        CryptographicOperations.ZeroMemory(_lookupKey);
    }
}

/// <summary>The data folder is protected by a passphrase and none was given.</summary>
public sealed class PassphraseRequiredException : IOException
{
    public PassphraseRequiredException(string message)
        : base(message)
    {
    }

    public PassphraseRequiredException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public PassphraseRequiredException()
    {
    }
}
