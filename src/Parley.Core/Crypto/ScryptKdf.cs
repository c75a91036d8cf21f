using System.Security.Cryptography;

namespace Parley.Core.Crypto;

/// <summary>scrypt (libsodium's), only to open data written before Argon2id: NSec's wrapper of it insists on 32-byte
/// salts and that data has 16.</summary>
public static class ScryptKdf
{
    /// <exception cref="CryptographicException">libsodium refused the parameters or ran out of memory.</exception>
    public static byte[] DeriveKey(ReadOnlySpan<byte> password, ReadOnlySpan<byte> salt, int n, int r, int p, int length)
    {
        var key = new byte[length];
        Libsodium.Check(Libsodium.ScryptLowLevel(password, (nuint)password.Length, salt, (nuint)salt.Length, (ulong)n, (uint)r, (uint)p, key, (nuint)length), "scrypt derivation");
        return key;
    }
}
