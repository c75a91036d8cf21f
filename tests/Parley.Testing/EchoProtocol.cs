using Parley.Net;

namespace Parley.Testing;

/// <summary>A test protocol that sends back every byte it reads until the remote closes its side.</summary>
public static class EchoProtocol
{
    public const string Id = "/parley/echo/1.0.0";

    public static async Task HandleAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
        }
        await stream.CloseWriteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes <paramref name="payload"/> while reading the echo, then returns everything that came back.</summary>
    public static async Task<byte[]> RoundTripAsync(PeerStream stream, byte[] payload, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(payload);
        var writer = WriteAllAsync(stream, payload, cancellationToken);
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, cancellationToken).ConfigureAwait(false);
        await writer.ConfigureAwait(false);
        return received.ToArray();
    }

    private static async Task WriteAllAsync(PeerStream stream, byte[] payload, CancellationToken cancellationToken)
    {
        await Task.Yield();
        for (var offset = 0; offset < payload.Length; offset += 64 * 1024)
        {
            await stream.WriteAsync(payload.AsMemory(offset, Math.Min(64 * 1024, payload.Length - offset)), cancellationToken).ConfigureAwait(false);
        }
        await stream.CloseWriteAsync(cancellationToken).ConfigureAwait(false);
    }
}
