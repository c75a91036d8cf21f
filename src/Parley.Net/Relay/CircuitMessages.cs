using Google.Protobuf;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Protos.Circuit;

namespace Parley.Net.Relay;

/// <summary>Protocol ids, framing and limits shared by the relay service and its clients (circuit relay v2).</summary>
public static class CircuitRelay
{
    public const string HopProtocolId = "/libp2p/circuit/relay/0.2.0/hop";
    public const string StopProtocolId = "/libp2p/circuit/relay/0.2.0/stop";

    /// <summary>The signed-envelope domain of reservation vouchers.</summary>
    public const string VoucherDomain = "libp2p-relay-rsvp";

    /// <summary>go-libp2p's bound on a hop or stop message.</summary>
    public const int MaxMessageSize = 4096;

    /// <summary>The voucher's payload type: multicodec 0x0302 (libp2p-relay-rsvp) as two big-endian bytes, as go-libp2p and js-libp2p write it.</summary>
    internal static readonly byte[] VoucherPayloadType = [0x03, 0x02];

    internal static readonly TimeSpan MessageTimeout = TimeSpan.FromSeconds(10);

    internal static async Task<T> ReadAsync<T>(Stream stream, MessageParser<T> parser, CancellationToken cancellationToken)
        where T : IMessage<T>
    {
        var bytes = await LengthPrefixed.ReadMessageAsync(stream, MaxMessageSize, cancellationToken).ConfigureAwait(false)
            ?? throw new PeerConnectionException("the relay stream ended before a message");
        try
        {
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"malformed circuit relay message: {e.Message}", e);
        }
    }

    internal static Task WriteAsync(Stream stream, IMessage message, CancellationToken cancellationToken) =>
        LengthPrefixed.WriteMessageAsync(stream, message.ToByteArray(), cancellationToken);

    internal static Peer ToPeer(PeerId peer) => new() { Id = ByteString.CopyFrom(peer.Bytes) };

    internal static Limit? ToProto(RelayLimit? limit) => limit is null ? null : new Limit
    {
        Duration = (uint)Math.Min(uint.MaxValue, limit.Duration.TotalSeconds),
        Data = limit.DataBytes,
    };

    internal static RelayLimit? FromProto(Limit? limit) =>
        limit is null ? null : new RelayLimit(TimeSpan.FromSeconds(limit.HasDuration ? limit.Duration : 0), limit.HasData ? limit.Data : 0);

    internal static PeerId? TryPeerId(Peer? peer)
    {
        if (peer is null || !peer.HasId)
        {
            return null;
        }
        try
        {
            return PeerId.FromBytes(peer.Id.Span);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    internal static Multiaddr? TryAddress(ByteString bytes)
    {
        try
        {
            return Multiaddr.FromBytes(bytes.Span);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}

/// <summary>What a relay allows one relayed connection: its duration and bytes in each direction (zero: no limit).</summary>
public sealed record RelayLimit(TimeSpan Duration, ulong DataBytes);

/// <summary>A slot a relay keeps for us: peers reach us at <see cref="CircuitAddresses"/> until <see cref="Expires"/>.</summary>
public sealed record RelayReservation(PeerId Relay, DateTimeOffset Expires, IReadOnlyList<Multiaddr> CircuitAddresses, RelayLimit? Limit);

/// <summary>A relay answered a reservation or connection request with something other than OK.</summary>
public sealed class RelayRefusedException : PeerConnectionException
{
    internal RelayRefusedException(string message, Status status)
        : base(message)
    {
        Status = status;
    }

    internal Status Status { get; }
}
