using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Files;

/// <summary>Serves one inbound <c>/parley/file/1.0.0</c> stream.</summary>
public delegate Task FileStreamHandler(PeerStream stream, CancellationToken cancellationToken);

/// <summary>
/// Raw streams of <c>/parley/file/1.0.0</c> to and from other devices, the file transfer's seam beside
/// <see cref="Channels.IPeerChannels"/> (which carries whole envelopes, not a flow of chunks). <see cref="FileStreams"/>
/// opens them over the node's host.
/// <para>
/// Bulk data goes over direct connections only: a circuit relay carries a little (128 KiB per direction and two
/// minutes per circuit, docs/nat.md). The fetcher hands <see cref="OpenAsync"/> only a device's direct addresses and
/// waits ("waiting for a direct connection to bob") when a device has relayed ones only; an implementation whose host
/// can hold a relayed connection to the device must open the stream on a direct one (after hole punching) or fail,
/// never fall back to the relay.
/// </para>
/// </summary>
public interface IFileChannels
{
    /// <summary>Opens a stream to <paramref name="device"/> at one of its direct <paramref name="addresses"/>.</summary>
    /// <exception cref="PeerConnectionException">The device cannot be reached directly, or does not serve files.</exception>
    Task<PeerStream> OpenAsync(PeerId device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken);

    /// <summary>Starts handing inbound streams to <paramref name="handler"/>.</summary>
    void Serve(FileStreamHandler handler);

    void StopServing();

    /// <summary>Whether an address reaches its device without a relay in between.</summary>
    public static bool IsDirect(Multiaddr address) => !address.ToString().Contains("/p2p-circuit", StringComparison.Ordinal);
}

/// <summary><see cref="IFileChannels"/> over the node's <see cref="IPeerNetwork"/>.</summary>
public sealed class FileStreams(IPeerNetwork network, TimeSpan dialTimeout) : IFileChannels
{
    public async Task<PeerStream> OpenAsync(PeerId device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(addresses);
        network.PeerStore.AddAddresses(device, addresses.Where(IFileChannels.IsDirect).ToList());
        using var dial = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        dial.CancelAfter(dialTimeout);
        try
        {
            return await network.OpenStreamAsync(device, [FileTransferOptions.ProtocolId], dial.Token);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new PeerConnectionException($"device {device} did not answer within {dialTimeout.TotalSeconds:0} s", e);
        }
    }

    public void Serve(FileStreamHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        network.SetStreamHandler(FileTransferOptions.ProtocolId, (stream, ct) => handler(stream, ct));
    }

    public void StopServing() => network.RemoveStreamHandler(FileTransferOptions.ProtocolId);
}
