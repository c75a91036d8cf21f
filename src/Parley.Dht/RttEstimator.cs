namespace Parley.Dht;

/// <summary>
/// Smoothed round-trip time and its variation (the TCP retransmission-timer estimator of RFC 6298), so request
/// timeouts follow the network this node is actually on instead of one fixed guess.
/// </summary>
internal sealed class RttEstimator(TimeSpan min, TimeSpan max)
{
    private readonly object _gate = new();
    private double _smoothedMs = -1;
    private double _variationMs;

    /// <summary>When a request is overdue: smoothed RTT plus four variations, within bounds (RFC 6298 section 2).</summary>
    public TimeSpan Timeout
    {
        get
        {
            lock (_gate)
            {
                return _smoothedMs < 0 ? max : Clamp(_smoothedMs + 4 * _variationMs);
            }
        }
    }

    /// <summary>
    /// When a request is slow enough that a lookup should not wait for it before asking someone else: smoothed RTT plus
    /// one variation, without the lower bound of <see cref="Timeout"/>. A slow request is not given up (its answer
    /// still counts), so a short threshold costs only extra requests, while waiting costs every lookup on the slow peer.
    /// </summary>
    public TimeSpan SlowThreshold
    {
        get
        {
            lock (_gate)
            {
                return _smoothedMs < 0 ? min : TimeSpan.FromMilliseconds(Math.Min(_smoothedMs + _variationMs, max.TotalMilliseconds));
            }
        }
    }

    public void Observe(TimeSpan rtt)
    {
        var sample = rtt.TotalMilliseconds;
        lock (_gate)
        {
            if (_smoothedMs < 0)
            {
                _smoothedMs = sample;
                _variationMs = sample / 2;
                return;
            }
            _variationMs = 0.75 * _variationMs + 0.25 * Math.Abs(_smoothedMs - sample);
            _smoothedMs = 0.875 * _smoothedMs + 0.125 * sample;
        }
    }

    private TimeSpan Clamp(double milliseconds) =>
        TimeSpan.FromMilliseconds(Math.Clamp(milliseconds, min.TotalMilliseconds, max.TotalMilliseconds));
}
