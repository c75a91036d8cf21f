using Parley.Core.Identity;

namespace Parley.Net.Noise;

/// <summary>An authenticated, encrypted connection to <see cref="RemotePeer"/>. Disposing it closes the underlying transport.</summary>
public sealed class SecureChannel : IAsyncDisposable
{
    internal SecureChannel(Stream stream, PublicKey remoteKey, IReadOnlyList<string> remoteStreamMuxers)
    {
        Stream = stream;
        RemoteKey = remoteKey;
        RemotePeer = remoteKey.ToPeerId();
        RemoteStreamMuxers = remoteStreamMuxers;
    }

    /// <summary>Plaintext in both directions. One read and one write may be in progress at the same time.</summary>
    public Stream Stream { get; }

    public PeerId RemotePeer { get; }

    public PublicKey RemoteKey { get; }

    /// <summary>Muxers the peer advertised in its handshake extensions (early muxer negotiation); empty when it sent none.</summary>
    public IReadOnlyList<string> RemoteStreamMuxers { get; }

    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}
