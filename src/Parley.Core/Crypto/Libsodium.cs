using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Parley.Core.Crypto;

/// <summary>The few libsodium functions called directly (see <see cref="DefaultCryptoProvider"/> for why); the
/// library is the one the NSec.Cryptography package ships, found under the same name.</summary>
internal static partial class Libsodium
{
    private const string Library = "libsodium";

    static Libsodium()
    {
        // Idempotent and thread-safe; picks the fastest implementations for this processor.
        if (Initialize() < 0)
        {
            throw new CryptographicException("libsodium failed to initialise");
        }
    }

    public static void Check(int result, string operation)
    {
        if (result != 0)
        {
            throw new CryptographicException($"libsodium refused the {operation}");
        }
    }

    [LibraryImport(Library, EntryPoint = "sodium_init")]
    private static partial int Initialize();

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_curve25519_base")]
    public static partial int X25519Base(Span<byte> publicKey, ReadOnlySpan<byte> privateKey);

    [LibraryImport(Library, EntryPoint = "crypto_scalarmult_curve25519")]
    public static partial int X25519(Span<byte> shared, ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> publicKey);

    [LibraryImport(Library, EntryPoint = "crypto_sign_ed25519_seed_keypair")]
    public static partial int Ed25519SeedKeyPair(Span<byte> publicKey, Span<byte> secretKey, ReadOnlySpan<byte> seed);

    [LibraryImport(Library, EntryPoint = "crypto_sign_ed25519_detached")]
    public static partial int Ed25519SignDetached(Span<byte> signature, out ulong signatureLength, ReadOnlySpan<byte> message, ulong messageLength, ReadOnlySpan<byte> secretKey);

    [LibraryImport(Library, EntryPoint = "crypto_pwhash_scryptsalsa208sha256_ll")]
    public static partial int ScryptLowLevel(ReadOnlySpan<byte> password, nuint passwordLength, ReadOnlySpan<byte> salt, nuint saltLength, ulong n, uint r, uint p, Span<byte> output, nuint outputLength);
}
