namespace Parley.Net.Relay;

/// <summary>
/// The limits of the relay service a public node runs for others. Defaults are go-libp2p's (circuitv2 relay
/// DefaultResources): enough for chat messages and hole punching, not for bulk transfer.
/// </summary>
public sealed class RelayOptions
{
    /// <summary>Each relayed connection: at most this long and this many bytes in each direction, then it is reset.</summary>
    public RelayLimit Limit { get; init; } = new(TimeSpan.FromMinutes(2), 1 << 17);

    public TimeSpan ReservationTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>Reservations held for everyone together.</summary>
    public int MaxReservations { get; init; } = 128;

    /// <summary>Reservations held for peers connected from one IP address.</summary>
    public int MaxReservationsPerIp { get; init; } = 8;

    /// <summary>Open relayed connections one peer takes part in (as source or target).</summary>
    public int MaxCircuitsPerPeer { get; init; } = 16;

    /// <summary>Open relayed connections for everyone together.</summary>
    public int MaxCircuits { get; init; } = 1024;

    /// <summary>Hop requests (reserve or connect) one peer may make per minute; more are refused before any work.</summary>
    public int MaxRequestsPerPeerPerMinute { get; init; } = 60;

    /// <summary>Bytes read at a time from each side of a circuit.</summary>
    public int BufferSize { get; init; } = 2048;
}
