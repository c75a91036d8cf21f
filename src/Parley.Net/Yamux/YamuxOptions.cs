namespace Parley.Net.Yamux;

/// <summary>Tuning knobs of a <see cref="YamuxSession"/>. Defaults match js-libp2p-yamux.</summary>
public sealed class YamuxOptions
{
    public const string ProtocolId = "/yamux/1.0.0";

    /// <summary>The window every yamux peer assumes for a new stream before any window update.</summary>
    internal const int DefaultStreamWindowSize = 256 * 1024;

    /// <summary>Receive window granted to each new stream; must be at least 256 KiB (the protocol default).</summary>
    public int InitialStreamWindowSize { get; init; } = DefaultStreamWindowSize;

    /// <summary>Upper bound for the receive window when it is auto-tuned for fast readers.</summary>
    public int MaxStreamWindowSize { get; init; } = 16 * 1024 * 1024;

    /// <summary>Largest payload of a Data frame we send.</summary>
    public int MaxFrameDataLength { get; init; } = 64 * 1024;

    /// <summary>Streams the remote may have open at once (including those not yet accepted); excess SYNs are reset.</summary>
    public int MaxInboundStreams { get; init; } = 256;

    /// <summary>Streams we may have open at once; <see cref="YamuxSession.OpenStreamAsync"/> fails beyond it.</summary>
    public int MaxOutboundStreams { get; init; } = 1024;

    /// <summary>When set, a ping is sent at this interval and the session closes if it is not answered within the interval.</summary>
    public TimeSpan? KeepAliveInterval { get; init; }

    /// <summary>What the session reads time from: keepalive and close timers, ping round trips, activity, window tuning.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    internal void Validate()
    {
        if (InitialStreamWindowSize < DefaultStreamWindowSize)
        {
            throw new ArgumentOutOfRangeException(nameof(InitialStreamWindowSize), InitialStreamWindowSize, "Must be at least 256 KiB, the window every peer assumes.");
        }

        if (MaxStreamWindowSize < InitialStreamWindowSize)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxStreamWindowSize), MaxStreamWindowSize, "Must be at least InitialStreamWindowSize.");
        }

        if (MaxFrameDataLength is < 1024 or > 16 * 1024 * 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxFrameDataLength), MaxFrameDataLength, "Must be between 1 KiB and 16 MiB.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(MaxInboundStreams, nameof(MaxInboundStreams));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxOutboundStreams, nameof(MaxOutboundStreams));
        if (KeepAliveInterval is { } interval && interval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(KeepAliveInterval), interval, "Must be positive.");
        }
    }
}
