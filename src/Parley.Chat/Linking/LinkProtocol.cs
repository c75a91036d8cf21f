using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Linking.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Net;

namespace Parley.Chat.Linking;

/// <summary>Limits and timeouts of device linking.</summary>
public sealed class LinkOptions
{
    /// <summary>How long a link code can be used.</summary>
    public TimeSpan OfferLifetime { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How long the existing device waits for the user to compare the verification codes and confirm.</summary>
    public TimeSpan ConfirmTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Each read and write of a frame (a snapshot part is at most 1 MiB).</summary>
    public TimeSpan FrameTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the existing device waits for the new one to commit the import.</summary>
    public TimeSpan ImportTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Wrong codes an offer takes before it is withdrawn.</summary>
    public int MaxWrongAttempts { get; init; } = 5;

    /// <summary>Link requests answered per minute, over all peers.</summary>
    public int MaxRequestsPerMinute { get; init; } = 20;

    /// <summary>Bound on the whole transfer (the account, every snapshot part).</summary>
    public long MaxSnapshotBytes { get; init; } = 256L << 20;

    /// <summary>Messages handed over per conversation and per room.</summary>
    public int HistoryPerConversation { get; init; } = AccountSnapshot.HistoryPerConversation;
}

/// <summary>A link was refused or broke off; the message is for the user.</summary>
public sealed class LinkException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The wire side of <c>/parley/link/1.0.0</c> (docs/linking.md): the proof, the verification code, framing.</summary>
internal static class LinkProtocol
{
    public const string ProtocolId = "/parley/link/1.0.0";
    public const int MaxRequestBytes = 4 * 1024;
    public const int MaxFrameBytes = AccountSnapshot.MaxPartBytes + 1024;

    /// <summary>HMAC-SHA256 under the secret over the domain and both devices: only a holder of the code makes it, and only for this pair.</summary>
    public static byte[] Proof(ICryptoProvider crypto, ReadOnlySpan<byte> secret, PeerId existing, PeerId joining) =>
        Mac(crypto, secret, "parley-link-proof:", existing, joining);

    /// <summary>Six digits both devices show: the same only when both hold the secret and see the same two peer ids.</summary>
    public static string VerificationCode(ICryptoProvider crypto, ReadOnlySpan<byte> secret, PeerId existing, PeerId joining)
    {
        var mac = Mac(crypto, secret, "parley-link-verify:", existing, joining);
        var number = BinaryPrimitives.ReadUInt32BigEndian(mac) % 1_000_000;
        var digits = number.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);
        return $"{digits[..3]} {digits[3..]}";
    }

    public static bool ProofMatches(ICryptoProvider crypto, ReadOnlySpan<byte> secret, PeerId existing, PeerId joining, ReadOnlySpan<byte> proof) =>
        CryptographicOperations.FixedTimeEquals(Proof(crypto, secret, existing, joining), proof);

    public static async Task WriteAsync(PeerStream stream, IMessage message, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        await LengthPrefixed.WriteMessageAsync(stream, message.ToByteArray(), deadline.Token).ConfigureAwait(false);
    }

    /// <summary>Reads one frame within <paramref name="timeout"/>.</summary>
    /// <exception cref="LinkException">The other device went away, sent too much or sent nothing in time.</exception>
    public static async Task<T> ReadAsync<T>(PeerStream stream, MessageParser<T> parser, int maxBytes, TimeSpan timeout, string waitingFor, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var bytes = await LengthPrefixed.ReadMessageAsync(stream, maxBytes, deadline.Token).ConfigureAwait(false)
                ?? throw new LinkException($"the other device closed the link while this one waited for {waitingFor}");
            return parser.ParseFrom(bytes);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LinkException($"no answer from the other device within {timeout.TotalSeconds:0} s while waiting for {waitingFor}");
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidProtocolBufferException)
        {
            throw new LinkException($"the link broke while waiting for {waitingFor}: {e.Message}", e);
        }
    }

    private static byte[] Mac(ICryptoProvider crypto, ReadOnlySpan<byte> secret, string domain, PeerId existing, PeerId joining)
    {
        var mac = new byte[32];
        crypto.HmacSha256(secret, new CanonicalWriter(domain).Bytes(existing.Bytes).Bytes(joining.Bytes).ToArray(), mac);
        return mac;
    }
}
