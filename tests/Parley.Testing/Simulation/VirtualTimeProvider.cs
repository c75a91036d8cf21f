namespace Parley.Testing.Simulation;

/// <summary>
/// A virtual clock and its timer queue: time moves only when the clock is advanced, never with the wall clock.
/// Under a <see cref="SimulationScheduler"/> the scheduler advances it, one timer at a time; alone, call
/// <see cref="Advance"/> or <see cref="AdvanceTo"/>. Each timer fires with the clock set to its due time; timers due
/// at the same instant fire in the order they were scheduled (or last changed).
/// </summary>
/// <remarks>
/// Not thread-safe, by design: a simulation runs on one thread. While a scheduler runs, creating or changing a
/// timer from another thread is reported as an escape from the virtual world (see <see cref="SimulationScheduler"/>).
/// Disposing a timer is allowed from any thread, because finalizers (PeriodicTimer has one) dispose timers on the
/// finalizer thread.
/// </remarks>
public sealed class VirtualTimeProvider : TimeProvider
{
    /// <summary>Where the clock starts unless told otherwise: a fixed instant, so runs are reproducible.</summary>
    public static readonly DateTimeOffset DefaultStart = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    // Changed or disposed timers leave their old entry in the heap (removal from a binary heap is O(n)); the heap is
    // rebuilt once such stale entries outnumber the live ones, which keeps memory bounded when many short-lived
    // timeouts (CancellationTokenSource, WaitAsync) are disposed long before they would fall due.
    private const int MinStaleEntriesBeforeCompaction = 1024;

    private readonly PriorityQueue<VirtualTimer, TimerKey> _queue = new();
    private long _nowTicks;
    private long _nextSequence;
    private int _staleEntries;

    public VirtualTimeProvider()
        : this(DefaultStart)
    {
    }

    public VirtualTimeProvider(DateTimeOffset start)
    {
        _nowTicks = start.UtcTicks;
    }

    /// <summary>Timestamps are virtual ticks (100 ns), so <see cref="TimeProvider.GetElapsedTime(long)"/> is exact.</summary>
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

    /// <summary>Timers scheduled to fire; one disposed on another thread counts until the clock reaches it.</summary>
    public int ActiveTimerCount => _queue.Count - _staleEntries;

    /// <summary>How many timer callbacks have run on this clock.</summary>
    public long TimersFired { get; private set; }

    /// <summary>The due time of the earliest active timer, or null when none is scheduled.</summary>
    public DateTimeOffset? NextDueTime =>
        TryPeekNextDue(out var dueTicks) ? new DateTimeOffset(dueTicks, TimeSpan.Zero) : null;

    /// <summary>The scheduler that drives this clock, if any; it polices threads and forbids manual advancing.</summary>
    internal SimulationScheduler? Scheduler { get; set; }

    public override DateTimeOffset GetUtcNow() => new(_nowTicks, TimeSpan.Zero);

    public override long GetTimestamp() => _nowTicks;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        ValidateTimerTimes(dueTime, period);
        ThrowIfForeignThread(nameof(CreateTimer));
        var timer = new VirtualTimer(this, callback, state);
        Schedule(timer, dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock forward by <paramref name="delta"/>, firing every timer due on the way, in order.</summary>
    public void Advance(TimeSpan delta)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delta, TimeSpan.Zero);
        AdvanceTo(GetUtcNow() + delta);
    }

    /// <summary>Moves the clock to <paramref name="target"/>, firing every timer due up to it, in order.</summary>
    /// <exception cref="InvalidOperationException">A scheduler drives this clock; use its RunUntil instead.</exception>
    public void AdvanceTo(DateTimeOffset target)
    {
        if (Scheduler is not null)
        {
            throw new InvalidOperationException(
                "This clock belongs to a SimulationScheduler, which advances it; use SimulationScheduler.RunUntil or RunFor.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(target.UtcTicks, _nowTicks, nameof(target));
        while (TryPeekNextDue(out var dueTicks) && dueTicks <= target.UtcTicks)
        {
            FireNext();
        }
        _nowTicks = target.UtcTicks;
    }

    /// <summary>Finds the earliest live timer, discarding stale heap entries in front of it.</summary>
    internal bool TryPeekNextDue(out long dueTicks)
    {
        while (_queue.TryPeek(out var timer, out var key))
        {
            if (timer.QueuedSequence == key.Sequence)
            {
                if (!timer.IsDisposed)
                {
                    dueTicks = key.DueTicks;
                    return true;
                }
                // Disposed from another thread, which may not touch the heap: drop it now.
                timer.QueuedSequence = -1;
            }
            else
            {
                _staleEntries--;
            }
            _queue.Dequeue();
        }
        dueTicks = 0;
        return false;
    }

    /// <summary>Fires the earliest timer; call only after <see cref="TryPeekNextDue"/> returned true.</summary>
    internal void FireNext()
    {
        if (!_queue.TryDequeue(out var timer, out var key))
        {
            throw new InvalidOperationException("No timer is due; call TryPeekNextDue first.");
        }
        if (key.DueTicks > _nowTicks)
        {
            _nowTicks = key.DueTicks;
        }
        timer.QueuedSequence = -1;
        if (timer.PeriodTicks > 0)
        {
            // Next tick counts from this due time, not from when the callback finishes, so periods never drift.
            Enqueue(timer, SaturatingAdd(key.DueTicks, timer.PeriodTicks));
        }
        TimersFired++;
        timer.Invoke();
    }

    internal void SetNow(long ticks)
    {
        if (ticks > _nowTicks)
        {
            _nowTicks = ticks;
        }
    }

    /// <summary>
    /// Whether this thread may change the heap: always when used alone, otherwise only the thread running the
    /// scheduler (between runs a finalizer thread could race with the thread setting up the next run).
    /// </summary>
    private bool MayTouchQueue => Scheduler is null || Scheduler.IsRunThread;

    private void ThrowIfForeignThread(string operation)
    {
        if (Scheduler is { } scheduler && scheduler.IsForeignThread)
        {
            throw scheduler.ReportEscape($"TimeProvider.{operation}");
        }
    }

    private void Schedule(VirtualTimer timer, TimeSpan dueTime, TimeSpan period)
    {
        Unqueue(timer);
        timer.PeriodTicks = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            Enqueue(timer, SaturatingAdd(_nowTicks, dueTime.Ticks));
        }
    }

    private void Enqueue(VirtualTimer timer, long dueTicks)
    {
        var sequence = _nextSequence++;
        timer.QueuedSequence = sequence;
        _queue.Enqueue(timer, new TimerKey(dueTicks, sequence));
    }

    private void Unqueue(VirtualTimer timer)
    {
        if (timer.QueuedSequence < 0)
        {
            return;
        }
        timer.QueuedSequence = -1;
        _staleEntries++;
        if (_staleEntries >= MinStaleEntriesBeforeCompaction && _staleEntries > _queue.Count / 2)
        {
            Compact();
        }
    }

    private void Compact()
    {
        var live = new List<(VirtualTimer, TimerKey)>(_queue.Count - _staleEntries);
        foreach (var (timer, key) in _queue.UnorderedItems)
        {
            if (timer.QueuedSequence != key.Sequence)
            {
                continue;
            }
            if (timer.IsDisposed)
            {
                timer.QueuedSequence = -1;
            }
            else
            {
                live.Add((timer, key));
            }
        }
        _queue.Clear();
        _queue.EnqueueRange(live);
        _staleEntries = 0;
    }

    private static long SaturatingAdd(long ticks, long delta) =>
        ticks > DateTimeOffset.MaxValue.UtcTicks - delta ? DateTimeOffset.MaxValue.UtcTicks : ticks + delta;

    private static void ValidateTimerTimes(TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime < TimeSpan.Zero && dueTime != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(dueTime), dueTime, "Must be non-negative or Timeout.InfiniteTimeSpan.");
        }
        if (period < TimeSpan.Zero && period != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(period), period, "Must be non-negative or Timeout.InfiniteTimeSpan.");
        }
    }

    /// <summary>Heap order: due time, then scheduling order, so equal due times fire first-in first-out.</summary>
    private readonly record struct TimerKey(long DueTicks, long Sequence) : IComparable<TimerKey>
    {
        public int CompareTo(TimerKey other)
        {
            var byDue = DueTicks.CompareTo(other.DueTicks);
            return byDue != 0 ? byDue : Sequence.CompareTo(other.Sequence);
        }
    }

    private sealed class VirtualTimer(VirtualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private TimerCallback? _callback = callback;
        private object? _state = state;
        private volatile bool _disposed;

        /// <summary>Sequence of this timer's live heap entry, or -1 when it is not scheduled.</summary>
        public long QueuedSequence { get; set; } = -1;

        /// <summary>Zero for a one-shot timer (a period of zero means one-shot, as for System.Threading.Timer).</summary>
        public long PeriodTicks { get; set; }

        public bool IsDisposed => _disposed;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            ValidateTimerTimes(dueTime, period);
            owner.ThrowIfForeignThread("ITimer.Change");
            if (_disposed)
            {
                return false;
            }
            owner.Schedule(this, dueTime, period);
            return true;
        }

        public void Invoke() => _callback!(_state);

        public void Dispose()
        {
            _disposed = true;
            if (!owner.MayTouchQueue)
            {
                return; // the simulation thread drops the heap entry when it reaches it
            }
            owner.Unqueue(this);
            // Release what the callback holds (a task, a CancellationTokenSource) even while a stale entry lingers.
            _callback = null;
            _state = null;
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
