using System.Diagnostics;
using Parley.Chat.Crypto;
using Parley.Core.Crypto;

namespace Parley.Benchmarks;

/// <summary>
/// Cost of the chat crypto per 1 KiB message, in microseconds: the Double Ratchet in steady state (one sending chain),
/// with a DH ratchet step on every message (the sides take turns, so every decrypt starts a new chain), and the sealed
/// box. Each part runs a warm-up first; figures are means over the measured iterations.
/// </summary>
internal static class RatchetBenchmark
{
    private const int MessageSize = 1024;

    public sealed record Result(
        int Messages,
        double EncryptMicros,
        double DecryptMicros,
        int RatchetSteps,
        double EncryptAfterDhStepMicros,
        double DecryptWithDhStepMicros,
        double SealMicros,
        double OpenMicros);

    public static Result Run(int messages)
    {
        var crypto = DefaultCryptoProvider.Instance;
        var plaintext = new byte[MessageSize];
        Random.Shared.NextBytes(plaintext);

        SteadyState(crypto, plaintext, messages / 10);
        var (encrypt, decrypt) = SteadyState(crypto, plaintext, messages);
        var steps = Math.Max(messages / 10, 10);
        PingPong(crypto, plaintext, steps / 10);
        var (encryptAfterStep, decryptWithStep) = PingPong(crypto, plaintext, steps);
        SealedBoxes(crypto, plaintext, steps / 10);
        var (seal, open) = SealedBoxes(crypto, plaintext, steps);
        return new Result(messages, encrypt, decrypt, steps, encryptAfterStep, decryptWithStep, seal, open);
    }

    public static string Describe(Result r) =>
        $"ratchet, 1 KiB messages, steady state ({r.Messages}): encrypt {r.EncryptMicros:0.00} µs, decrypt {r.DecryptMicros:0.00} µs (goal: <= 20 and <= 30)\n" +
        $"ratchet, DH step on every message ({r.RatchetSteps}, alternating): encrypt {r.EncryptAfterDhStepMicros:0.00} µs, decrypt with the step {r.DecryptWithDhStepMicros:0.00} µs\n" +
        $"sealed box, 1 KiB ({r.RatchetSteps}): seal {r.SealMicros:0.00} µs, open {r.OpenMicros:0.00} µs";

    private static (RatchetSession Alice, RatchetSession Bob) Pair(ICryptoProvider crypto)
    {
        var signedPrekey = X25519KeyPair.Generate(crypto);
        var sharedSecret = new byte[32];
        crypto.RandomBytes(sharedSecret);
        var associatedData = new byte[170];
        var alice = RatchetSession.InitializeAsInitiator(crypto, sharedSecret, associatedData, signedPrekey.PublicKey);
        var bob = RatchetSession.InitializeAsResponder(crypto, sharedSecret, associatedData, signedPrekey);
        bob.Decrypt(alice.Encrypt([0]));
        return (alice, bob);
    }

    /// <summary>One sending chain throughout; batches of 1,000 keep the live set small, so the figures are the
    /// crypto rather than the garbage collector promoting tens of megabytes of held messages.</summary>
    private static (double Encrypt, double Decrypt) SteadyState(ICryptoProvider crypto, byte[] plaintext, int count)
    {
        var (alice, bob) = Pair(crypto);
        var batch = new RatchetMessage[Math.Min(count, 1000)];
        long encryptTicks = 0;
        long decryptTicks = 0;
        for (var done = 0; done < count; done += batch.Length)
        {
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < batch.Length; i++)
            {
                batch[i] = alice.Encrypt(plaintext);
            }
            var encrypted = Stopwatch.GetTimestamp();
            foreach (var message in batch)
            {
                bob.Decrypt(message);
            }
            encryptTicks += encrypted - started;
            decryptTicks += Stopwatch.GetTimestamp() - encrypted;
        }
        var measured = count / batch.Length * batch.Length;
        return (Micros(encryptTicks, measured), Micros(decryptTicks, measured));
    }

    private static (double Encrypt, double Decrypt) PingPong(ICryptoProvider crypto, byte[] plaintext, int count)
    {
        var (alice, bob) = Pair(crypto);
        long encryptTicks = 0;
        long decryptTicks = 0;
        for (var i = 0; i < count; i++)
        {
            var (sender, receiver) = i % 2 == 0 ? (bob, alice) : (alice, bob);
            var started = Stopwatch.GetTimestamp();
            var message = sender.Encrypt(plaintext);
            var encrypted = Stopwatch.GetTimestamp();
            receiver.Decrypt(message);
            encryptTicks += encrypted - started;
            decryptTicks += Stopwatch.GetTimestamp() - encrypted;
        }
        return (Micros(encryptTicks, count), Micros(decryptTicks, count));
    }

    private static (double Seal, double Open) SealedBoxes(ICryptoProvider crypto, byte[] plaintext, int count)
    {
        var recipient = X25519KeyPair.Generate(crypto);
        var boxes = new byte[count][];
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            boxes[i] = SealedBox.Seal(crypto, recipient.PublicKey, plaintext);
        }
        var seal = Stopwatch.GetElapsedTime(started);
        started = Stopwatch.GetTimestamp();
        foreach (var box in boxes)
        {
            SealedBox.Open(crypto, recipient, box);
        }
        var open = Stopwatch.GetElapsedTime(started);
        return (Micros(seal, count), Micros(open, count));
    }

    private static double Micros(TimeSpan elapsed, int count) => elapsed.TotalMicroseconds / count;

    private static double Micros(long ticks, int count) => ticks * 1_000_000.0 / Stopwatch.Frequency / count;
}
