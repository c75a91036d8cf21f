using System.Collections.Concurrent;
using System.Security.Cryptography;
using Parley.Core.Identity;

namespace Parley.Chat.Identity;

/// <summary>
/// Ed25519 verification that remembers what it has verified: storing nodes re-validate records on every read, and a
/// presence record holds up to 8 device certificates, so a hash lookup replaces most verifications.
/// </summary>
internal static class SignatureCheck
{
    private const int SignatureLength = 64;
    private const int MaxRemembered = 50_000;

    private static readonly ConcurrentDictionary<string, byte> Verified = new(StringComparer.Ordinal);

    public static bool Verify(PublicKey key, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != SignatureLength)
        {
            return false;
        }
        // The cache key covers the signer, everything signed and the signature, so only exact repeats hit.
        var entry = Convert.ToBase64String(SHA256.HashData([.. key.Raw, .. payload, .. signature]));
        if (Verified.ContainsKey(entry))
        {
            return true;
        }
        if (!key.Verify(payload, signature))
        {
            return false;
        }
        if (Verified.Count >= MaxRemembered)
        {
            Verified.Clear();
        }
        Verified.TryAdd(entry, 0);
        return true;
    }
}
