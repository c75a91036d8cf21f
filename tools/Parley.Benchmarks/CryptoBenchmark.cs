using System.Diagnostics;
using Parley.Chat.Crypto;
using Parley.Core.Crypto;

namespace Parley.Benchmarks;

/// <summary>
/// The curve primitives under the ratchet, the sealed box and Noise, in microseconds per operation, and the passphrase
/// KDF in milliseconds: each part runs a tenth of its iterations as a warm-up first; figures are means.
/// </summary>
internal static class CryptoBenchmark
{
    public sealed record Result(int Iterations, double X25519AgreeMicros, double X25519KeyPairMicros, double Ed25519SignMicros, double Ed25519VerifyMicros, double PassphraseUnlockMillis);

    public static Result Run(int iterations)
    {
        var crypto = DefaultCryptoProvider.Instance;
        var (privateKey, _) = crypto.GenerateX25519KeyPair();
        var (_, peerPublicKey) = crypto.GenerateX25519KeyPair();
        var (seed, publicKey) = crypto.GenerateEd25519KeyPair();
        var message = new byte[256];
        Random.Shared.NextBytes(message);
        var signature = crypto.Ed25519Sign(seed, message);

        var agree = Measure(iterations, () => crypto.X25519Agree(privateKey, peerPublicKey));
        var keyPair = Measure(iterations, () => crypto.GenerateX25519KeyPair());
        var sign = Measure(iterations, () => crypto.Ed25519Sign(seed, message));
        var verify = Measure(iterations, () =>
        {
            if (!crypto.Ed25519Verify(publicKey, message, signature))
            {
                throw new InvalidOperationException("a valid signature did not verify");
            }
        });
        var protectedSecret = PassphraseProtection.Protect(crypto, "correct horse battery staple", new byte[32]);
        var unlock = Measure(5, () => PassphraseProtection.Unprotect(crypto, "correct horse battery staple", protectedSecret)) / 1000;
        return new Result(iterations, agree, keyPair, sign, verify, unlock);
    }

    public static string Describe(Result r) =>
        $"crypto ({r.Iterations} each): X25519 agreement {r.X25519AgreeMicros:0.00} µs, X25519 key pair {r.X25519KeyPairMicros:0.00} µs, " +
        $"Ed25519 sign (256 B) {r.Ed25519SignMicros:0.00} µs, verify {r.Ed25519VerifyMicros:0.00} µs; passphrase unlock (default cost) {r.PassphraseUnlockMillis:0.0} ms";

    private static double Measure(int iterations, Action operation)
    {
        for (var i = 0; i < Math.Max(iterations / 10, 1); i++)
        {
            operation();
        }
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < iterations; i++)
        {
            operation();
        }
        return Stopwatch.GetElapsedTime(started).TotalMicroseconds / iterations;
    }
}
