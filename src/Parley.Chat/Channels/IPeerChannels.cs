using Parley.Chat.Protos;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Channels;

/// <summary>Answers one envelope that arrived directly from a device, once it is stored (or refused).</summary>
public delegate Task<ChatResponse> EnvelopeHandler(Envelope envelope, CancellationToken cancellationToken);

/// <summary>
/// Direct envelope exchange with other devices (<c>/parley/chat/1.0.0</c>): send one envelope and wait for the
/// recipient's answer, and serve the envelopes others send us. <see cref="ChatStreams"/> does it over libp2p streams;
/// tests use an in-memory hub (Parley.Testing).
/// </summary>
public interface IPeerChannels : IAsyncDisposable
{
    /// <summary>This device's id.</summary>
    PeerId LocalDevice { get; }

    /// <summary>Where this device can be reached now; published in presence.</summary>
    IReadOnlyList<Multiaddr> ListenAddresses { get; }

    /// <summary>Sends one envelope to <paramref name="device"/> and waits for its answer.</summary>
    /// <exception cref="Net.PeerConnectionException">The device cannot be reached, or the channel broke before it answered.</exception>
    /// <exception cref="OperationCanceledException">No answer in time, or cancelled.</exception>
    Task<ChatResponse> SendAsync(PeerId device, IReadOnlyList<Multiaddr> addresses, Envelope envelope, CancellationToken cancellationToken);

    /// <summary>Starts handing envelopes that arrive to <paramref name="handler"/>.</summary>
    void Serve(EnvelopeHandler handler);

    /// <summary>Stops serving; envelopes that arrive afterwards are not taken.</summary>
    void StopServing();
}
