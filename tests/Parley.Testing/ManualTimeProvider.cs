namespace Parley.Testing;

/// <summary>
/// A clock that moves only when told to: <see cref="Advance"/> fires due timers in time order, each with the
/// clock set to its due time. Thread-safe; timer callbacks run on the thread that advances the clock.
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private readonly object _gate = new();
    private readonly PriorityQueue<ManualTimer, (long DueTicks, long Sequence)> _queue = new();
    private DateTimeOffset _now;
    private long _sequence;

    public ManualTimeProvider(DateTimeOffset? start = null)
    {
        _now = start ?? new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    }

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>The due time of the earliest pending timer, or null when none is pending.</summary>
    public DateTimeOffset? NextDue
    {
        get
        {
            lock (_gate)
            {
                DropCancelled();
                return _queue.TryPeek(out _, out var due) ? new DateTimeOffset(due.DueTicks, TimeSpan.Zero) : null;
            }
        }
    }

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    public override long GetTimestamp() => GetUtcNow().UtcTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward by <paramref name="delta"/>, firing every timer that falls due on the way.</summary>
    public void Advance(TimeSpan delta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delta, TimeSpan.Zero);
        AdvanceTo(GetUtcNow() + delta);
    }

    public void AdvanceTo(DateTimeOffset target)
    {
        while (true)
        {
            ManualTimer timer;
            lock (_gate)
            {
                DropCancelled();
                if (!_queue.TryPeek(out timer!, out var due) || due.DueTicks > target.UtcTicks)
                {
                    if (target > _now)
                    {
                        _now = target;
                    }
                    return;
                }
                _queue.Dequeue();
                if (due.DueTicks > _now.UtcTicks)
                {
                    _now = new DateTimeOffset(due.DueTicks, TimeSpan.Zero);
                }
                timer.OnDequeued();
            }
            timer.Fire();
        }
    }

    private long Schedule(ManualTimer timer, long dueTicks)
    {
        var sequence = _sequence++;
        _queue.Enqueue(timer, (dueTicks, sequence));
        return sequence;
    }

    private void DropCancelled()
    {
        while (_queue.TryPeek(out var timer, out var due) && timer.LiveSequence != due.Sequence)
        {
            _queue.Dequeue();
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private TimeSpan _period = Timeout.InfiniteTimeSpan;

        /// <summary>Sequence number of the live queue entry; entries with another number are stale.</summary>
        public long LiveSequence { get; private set; } = -1;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._gate)
            {
                _period = period;
                LiveSequence = dueTime == Timeout.InfiniteTimeSpan
                    ? -1
                    : owner.Schedule(this, owner._now.UtcTicks + Math.Max(0, dueTime.Ticks));
                return true;
            }
        }

        public void OnDequeued()
        {
            LiveSequence = _period > TimeSpan.Zero && _period != Timeout.InfiniteTimeSpan
                ? owner.Schedule(this, owner._now.UtcTicks + _period.Ticks)
                : -1;
        }

        public void Fire() => callback(state);

        public void Dispose()
        {
            lock (owner._gate)
            {
                LiveSequence = -1;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
