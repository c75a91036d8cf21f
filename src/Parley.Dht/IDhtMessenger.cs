using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Protos;

namespace Parley.Dht;

/// <summary>Answers one inbound kad message; null means "no response" (ADD_PROVIDER).</summary>
public delegate Task<Message?> DhtRequestHandler(PeerId from, IReadOnlyList<Multiaddr> fromAddresses, Message request, CancellationToken cancellationToken);

/// <summary>
/// The only way the DHT reaches other peers. Over TCP it is <see cref="NetworkDhtMessenger"/> (kad messages on
/// libp2p streams); the simulator delivers messages in memory under virtual time.
/// </summary>
public interface IDhtMessenger
{
    PeerId LocalPeer { get; }

    /// <summary>The addresses other peers should use to reach this node.</summary>
    IReadOnlyList<Multiaddr> LocalAddresses { get; }

    /// <summary>Sends a request and waits for the response.</summary>
    /// <exception cref="DhtRequestException">Unreachable, timed out, or answered with garbage.</exception>
    Task<Message> RequestAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Message request, CancellationToken cancellationToken);

    /// <summary>Sends a message that has no response (ADD_PROVIDER).</summary>
    Task SendAsync(PeerId peer, IReadOnlyList<Multiaddr> addresses, Message message, CancellationToken cancellationToken);

    /// <summary>Starts answering (and, over libp2p, advertising) the kad protocol; null stops both (DHT client mode).</summary>
    void SetHandler(DhtRequestHandler? handler);

    /// <summary>The best addresses known for <paramref name="peer"/> (listen addresses learned by identify first); may be empty.</summary>
    IReadOnlyList<Multiaddr> AddressesOf(PeerId peer);
}

public sealed class DhtRequestException : IOException
{
    public DhtRequestException(string message)
        : base(message)
    {
    }

    public DhtRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public DhtRequestException()
    {
    }
}
