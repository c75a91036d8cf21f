using Parley.Chat.Channels;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Testing.Chat;

/// <summary>The devices of a test and the envelopes between them: a send calls the recipient's handler directly.</summary>
public sealed class PeerChannelHub
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, InMemoryPeerChannels> _devices = [];
    private int _nextPort = 1;

    /// <summary>Envelopes sent directly, for tests that count them.</summary>
    public int Sent { get; private set; }

    /// <summary>The largest envelope a device takes, as a chat stream reads at most <see cref="ChatOptions.MaxEnvelopeBytes"/>.</summary>
    public int MaxEnvelopeBytes { get; set; } = new ChatOptions().MaxEnvelopeBytes;

    /// <summary>The channels of a device; it can be reached while it serves.</summary>
    public InMemoryPeerChannels Connect(PeerId device)
    {
        lock (_gate)
        {
            var channels = new InMemoryPeerChannels(this, device, Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{_nextPort++}"));
            _devices[device] = channels;
            return channels;
        }
    }

    /// <summary>
    /// Envelopes to lose: true for one (called once per envelope sent, with the device it is for) and it is taken as
    /// delivered but never reaches the device, as when the recipient loses what it acknowledged.
    /// </summary>
    public Func<PeerId, bool>? Lose { get; set; }

    internal async Task<ChatResponse> DeliverAsync(PeerId device, Envelope envelope, CancellationToken cancellationToken)
    {
        EnvelopeHandler? handler;
        lock (_gate)
        {
            Sent++;
            handler = _devices.GetValueOrDefault(device)?.Handler;
            if (handler is not null && Lose?.Invoke(device) == true)
            {
                return new ChatResponse { Status = ChatResponse.Types.Status.Accepted };
            }
        }
        if (handler is null)
        {
            throw new PeerConnectionException($"device {device} is not online");
        }
        if (envelope.CalculateSize() > MaxEnvelopeBytes)
        {
            throw new IOException($"device {device} reads envelopes of at most {MaxEnvelopeBytes} bytes");
        }
        // A copy, as the wire would give: the recipient cannot share objects with the sender.
        return await handler(Envelope.Parser.ParseFrom(Google.Protobuf.MessageExtensions.ToByteArray(envelope)), cancellationToken);
    }
}

/// <summary><see cref="IPeerChannels"/> in memory, for the chat core's unit tests.</summary>
public sealed class InMemoryPeerChannels : IPeerChannels
{
    private readonly PeerChannelHub _hub;
    private readonly Multiaddr _address;

    internal InMemoryPeerChannels(PeerChannelHub hub, PeerId device, Multiaddr address)
    {
        _hub = hub;
        LocalDevice = device;
        _address = address;
    }

    public PeerId LocalDevice { get; }

    public IReadOnlyList<Multiaddr> ListenAddresses => Handler is null ? [] : [_address];

    internal EnvelopeHandler? Handler { get; private set; }

    public Task<ChatResponse> SendAsync(PeerId device, IReadOnlyList<Multiaddr> addresses, Envelope envelope, CancellationToken cancellationToken) =>
        _hub.DeliverAsync(device, envelope, cancellationToken);

    public void Serve(EnvelopeHandler handler) => Handler = handler;

    public void StopServing() => Handler = null;

    public ValueTask DisposeAsync()
    {
        Handler = null;
        return ValueTask.CompletedTask;
    }
}
