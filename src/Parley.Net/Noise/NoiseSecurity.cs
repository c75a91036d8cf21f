using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Net.Protos.Noise;

namespace Parley.Net.Noise;

/// <summary>
/// libp2p's <c>/noise</c> secure channel: Noise_XX_25519_ChaChaPoly_SHA256 with an empty prologue,
/// each side proving its libp2p identity by signing its Noise static key in the handshake payload.
/// </summary>
public static class NoiseSecurity
{
    public const string ProtocolId = "/noise";

    private const string StaticKeySignaturePrefix = "noise-libp2p-static-key:";

    /// <summary>Dials side. On success the returned channel owns <paramref name="insecure"/>; on failure the caller still does.</summary>
    /// <param name="expectedRemote">When set, the handshake fails unless the peer proves this identity.</param>
    /// <exception cref="NoiseHandshakeException">The handshake failed or timed out.</exception>
    public static Task<SecureChannel> SecureOutboundAsync(
        Stream insecure,
        IdentityKey localIdentity,
        PeerId? expectedRemote,
        ICryptoProvider crypto,
        NoiseOptions? options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(insecure);
        ArgumentNullException.ThrowIfNull(localIdentity);
        ArgumentNullException.ThrowIfNull(crypto);
        return HandshakeAsync(insecure, localIdentity, initiator: true, expectedRemote, crypto, HandshakeTimeout(options), cancellationToken);
    }

    /// <summary>Listening side. On success the returned channel owns <paramref name="insecure"/>; on failure the caller still does.</summary>
    /// <exception cref="NoiseHandshakeException">The handshake failed or timed out.</exception>
    public static Task<SecureChannel> SecureInboundAsync(
        Stream insecure,
        IdentityKey localIdentity,
        ICryptoProvider crypto,
        NoiseOptions? options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(insecure);
        ArgumentNullException.ThrowIfNull(localIdentity);
        ArgumentNullException.ThrowIfNull(crypto);
        return HandshakeAsync(insecure, localIdentity, initiator: false, expectedRemote: null, crypto, HandshakeTimeout(options), cancellationToken);
    }

    private static async Task<SecureChannel> HandshakeAsync(
        Stream insecure,
        IdentityKey localIdentity,
        bool initiator,
        PeerId? expectedRemote,
        ICryptoProvider crypto,
        TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeoutSource.CancelAfter(timeout);
        var token = timeoutSource.Token;

        // A fresh static key per session: the spec allows it, and nothing needs to persist it.
        var (staticPrivate, _) = crypto.GenerateX25519KeyPair();
        using var handshake = new HandshakeState(crypto, initiator, ReadOnlySpan<byte>.Empty, staticPrivate);
        CryptographicOperations.ZeroMemory(staticPrivate);
        try
        {
            RemoteIdentity remote;
            if (initiator)
            {
                await WriteMessageAsync(insecure, handshake.WriteMessage(ReadOnlySpan<byte>.Empty), token).ConfigureAwait(false);
                var responderPayload = handshake.ReadMessage(await ReadMessageAsync(insecure, token).ConfigureAwait(false));
                remote = VerifyPayload(responderPayload, handshake.RemoteStaticPublicKey, expectedRemote, crypto);
                await WriteMessageAsync(insecure, handshake.WriteMessage(BuildPayload(localIdentity, handshake.LocalStaticPublicKey)), token).ConfigureAwait(false);
            }
            else
            {
                var first = await ReadMessageAsync(insecure, token).ConfigureAwait(false);
                if (first.Length != HandshakeState.DhLength)
                {
                    // The initiator's first message is its bare ephemeral key; libp2p forbids a payload there.
                    throw new NoiseHandshakeException($"first noise handshake message must be {HandshakeState.DhLength} bytes, got {first.Length}");
                }
                handshake.ReadMessage(first);
                await WriteMessageAsync(insecure, handshake.WriteMessage(BuildPayload(localIdentity, handshake.LocalStaticPublicKey)), token).ConfigureAwait(false);
                var initiatorPayload = handshake.ReadMessage(await ReadMessageAsync(insecure, token).ConfigureAwait(false));
                remote = VerifyPayload(initiatorPayload, handshake.RemoteStaticPublicKey, expectedRemote: null, crypto);
            }
            var (send, receive) = handshake.Split();
            return new SecureChannel(new NoiseStream(insecure, send, receive), remote.Key, remote.StreamMuxers);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new NoiseHandshakeException("handshake timed out", e);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            if (timeoutSource.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // Some transports report a cancelled read as an I/O failure.
                throw new NoiseHandshakeException("handshake timed out", e);
            }
            var message = e is EndOfStreamException ? "connection closed during the noise handshake" : "transport failed during the noise handshake";
            throw new NoiseHandshakeException(message, e);
        }
    }

    private static TimeSpan HandshakeTimeout(NoiseOptions? options)
    {
        var timeout = (options ?? new NoiseOptions()).HandshakeTimeout;
        if (timeout != Timeout.InfiniteTimeSpan && (timeout <= TimeSpan.Zero || timeout.TotalMilliseconds > int.MaxValue))
        {
            throw new ArgumentOutOfRangeException(nameof(options), timeout, "HandshakeTimeout must be positive (at most int.MaxValue ms) or infinite");
        }
        return timeout;
    }

    private static byte[] BuildPayload(IdentityKey identity, ReadOnlySpan<byte> noiseStaticPublicKey)
    {
        var payload = new NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(identity.PublicKey.ToProtobuf()),
            IdentitySig = ByteString.CopyFrom(identity.Sign(StaticKeySignatureMessage(noiseStaticPublicKey))),
        };
        return payload.ToByteArray();
    }

    private static byte[] StaticKeySignatureMessage(ReadOnlySpan<byte> noiseStaticPublicKey)
    {
        var prefixLength = Encoding.UTF8.GetByteCount(StaticKeySignaturePrefix);
        var message = new byte[prefixLength + noiseStaticPublicKey.Length];
        Encoding.UTF8.GetBytes(StaticKeySignaturePrefix, message);
        noiseStaticPublicKey.CopyTo(message.AsSpan(prefixLength));
        return message;
    }

    internal static RemoteIdentity VerifyPayload(byte[] encodedPayload, ReadOnlySpan<byte> remoteStaticKey, PeerId? expectedRemote, ICryptoProvider crypto)
    {
        NoiseHandshakePayload payload;
        try
        {
            payload = NoiseHandshakePayload.Parser.ParseFrom(encodedPayload);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new NoiseHandshakeException("malformed noise handshake payload", e);
        }
        PublicKey key;
        try
        {
            key = PublicKey.FromProtobuf(payload.IdentityKey.Span);
        }
        catch (FormatException e)
        {
            throw new NoiseHandshakeException($"unusable identity key in noise handshake payload: {e.Message}", e);
        }
        if (!key.Verify(StaticKeySignatureMessage(remoteStaticKey), payload.IdentitySig.Span, crypto))
        {
            throw new NoiseHandshakeException("noise handshake payload signature does not match the peer's identity key and static key");
        }
        if (expectedRemote is not null && !expectedRemote.Matches(key))
        {
            throw new NoiseHandshakeException($"remote peer is {key.ToPeerId()}, expected {expectedRemote}");
        }
        var muxers = payload.Extensions?.StreamMuxers.ToArray() ?? [];
        return new RemoteIdentity(key, muxers);
    }

    private static async Task WriteMessageAsync(Stream insecure, byte[] message, CancellationToken cancellationToken)
    {
        var frame = new byte[NoiseStream.LengthPrefixSize + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, checked((ushort)message.Length));
        message.CopyTo(frame, NoiseStream.LengthPrefixSize);
        await insecure.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
        await insecure.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads exactly one framed message, never past it: transport data may follow in the same packet.</summary>
    private static async Task<byte[]> ReadMessageAsync(Stream insecure, CancellationToken cancellationToken)
    {
        var prefix = new byte[NoiseStream.LengthPrefixSize];
        await insecure.ReadExactlyAsync(prefix, cancellationToken).ConfigureAwait(false);
        var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(prefix)];
        await insecure.ReadExactlyAsync(message, cancellationToken).ConfigureAwait(false);
        return message;
    }

    internal sealed record RemoteIdentity(PublicKey Key, IReadOnlyList<string> StreamMuxers);
}
