using System.Diagnostics;
using System.Security.Cryptography;
using Parley.Core.Identity;

namespace Parley.Net.Protocols;

/// <summary><c>/ipfs/ping/1.0.0</c>: the dialer sends 32 random bytes, the listener echoes them.</summary>
public static class PingProtocol
{
    public const string ProtocolId = "/ipfs/ping/1.0.0";
    public const int PayloadSize = 32;

    /// <summary>Echoes 32-byte pings until the peer closes the stream. A partial ping at the end is dropped.</summary>
    public static async Task HandleAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = new byte[PayloadSize];
        while (true)
        {
            var filled = await stream.ReadAtLeastAsync(buffer, PayloadSize, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            if (filled < PayloadSize)
            {
                return;
            }
            await stream.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>One round trip to <paramref name="peer"/>, dialling it if needed; the time covers the echo only, not the dial.</summary>
    /// <exception cref="PeerConnectionException">Unreachable, no ping support, or the echo did not match.</exception>
    public static async Task<TimeSpan> PingAsync(IPeerNetwork network, PeerId peer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(network);
        await using var stream = await network.OpenStreamAsync(peer, [ProtocolId], cancellationToken).ConfigureAwait(false);
        var payload = RandomNumberGenerator.GetBytes(PayloadSize);
        var echo = new byte[PayloadSize];
        var started = Stopwatch.GetTimestamp();
        try
        {
            await stream.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            await stream.ReadExactlyAsync(echo, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or EndOfStreamException)
        {
            throw new PeerConnectionException($"ping to {peer} failed: {e.Message}", e);
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (!payload.AsSpan().SequenceEqual(echo))
        {
            throw new PeerConnectionException($"ping to {peer} came back altered");
        }
        return elapsed;
    }
}
