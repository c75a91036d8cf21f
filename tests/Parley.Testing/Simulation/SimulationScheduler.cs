using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Parley.Testing.Simulation;

/// <summary>
/// Runs async code deterministically on one thread under virtual time. A run installs a
/// <see cref="System.Threading.SynchronizationContext"/> on the calling thread whose Post appends to a first-in
/// first-out run queue; the run drains that queue, and when it is empty moves the <see cref="Time"/> clock to the
/// next timer's due time and fires that timer, and so on. Every <c>await</c> resumes through the context, so the
/// whole simulated world stays on this thread, runs in a reproducible order, and hours of simulated time pass in
/// seconds: nothing ever waits for real time.
/// </summary>
/// <remarks>
/// <para>
/// Code run under the scheduler must take all time from <see cref="Time"/> (Task.Delay(delay, time),
/// new CancellationTokenSource(delay, time), new PeriodicTimer(period, time), task.WaitAsync(timeout, time)) and must
/// not use <c>ConfigureAwait(false)</c>, <c>Task.Run</c>, <c>Task.Factory.StartNew</c>, <c>Thread.Sleep</c>, blocking
/// waits (<c>.Result</c>, <c>.Wait()</c>), real timers or the real clock, nor overloads that take a timeout without a
/// TimeProvider (Task.Delay(delay), CancellationTokenSource(delay), SemaphoreSlim.WaitAsync(timeout)): each of those
/// escapes the virtual world, runs on the thread pool or in real time, and makes runs nondeterministic or hangs them.
/// A continuation after <c>ConfigureAwait(false)</c> goes to the thread pool here, because a custom context is
/// installed. Task.Delay counts whole milliseconds (a runtime rule); timers from <see cref="Time"/> are exact.
/// </para>
/// <para>
/// Escapes are detected where it is cheap: a Post, timer creation or timer change from another thread during a run
/// fails the run with an <see cref="InvalidOperationException"/> naming the cause; the work itself is dropped, never
/// run on the wrong thread. Detection is best effort: escaped work reaches the scheduler only once the thread pool runs
/// it, and an escape noticed after a run ended fails the next run. <see cref="CheckThread"/> lets simulated code
/// assert that it is still inside.
/// </para>
/// <para>
/// Failures surface as the original exception, thrown by the Run method: an exception thrown by posted work, a timer
/// callback or an async void method stops the run at once; so does a fault in the entry task or in a task handed to
/// <see cref="Observe"/> or <see cref="Schedule(TimeSpan, Func{Task})"/>.
/// </para>
/// </remarks>
public sealed class SimulationScheduler
{
    // When a run has nothing left to do but the entry task is unfinished, work that escaped to the thread pool may
    // still be on its way back. Waiting until the pool has had no queued work for a moment lets the run fail with the
    // escape instead of a misleading deadlock; a starved pool (as under a test runner) can take 500 ms to start it.
    private static readonly TimeSpan EscapeQuietPeriod = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan EscapeMaxWait = TimeSpan.FromSeconds(2);

    private readonly Queue<(SendOrPostCallback Callback, object? State)> _runQueue = new();
    private readonly ConcurrentQueue<ExceptionDispatchInfo> _failures = new();
    private readonly SimulationSynchronizationContext _context;
    private volatile bool _hasFailure;
    private volatile int _runThreadId;

    public SimulationScheduler()
        : this(new VirtualTimeProvider())
    {
    }

    public SimulationScheduler(VirtualTimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        if (time.Scheduler is not null)
        {
            throw new ArgumentException("This clock already belongs to another scheduler.", nameof(time));
        }
        time.Scheduler = this;
        Time = time;
        _context = new SimulationSynchronizationContext(this);
    }

    /// <summary>The virtual clock; hand it to every component under simulation as its TimeProvider.</summary>
    public VirtualTimeProvider Time { get; }

    public DateTimeOffset Now => Time.GetUtcNow();

    /// <summary>The context a run installs; Post enqueues on the run queue, Send runs inline.</summary>
    public SynchronizationContext SynchronizationContext => _context;

    public bool IsRunning => _runThreadId != 0;

    /// <summary>Work posted and not yet run.</summary>
    public int PendingWorkItems => _runQueue.Count;

    /// <summary>Posted work items run so far, over all runs.</summary>
    public long WorkItemsExecuted { get; private set; }

    /// <summary>True on the thread of the run in progress, inside its context (so not after ConfigureAwait(false)).</summary>
    public bool IsOnSimulationThread => IsRunThread && SynchronizationContext.Current == _context;

    internal bool IsRunThread => _runThreadId == Environment.CurrentManagedThreadId;

    /// <summary>A run is in progress and the caller is on some other thread.</summary>
    internal bool IsForeignThread
    {
        get
        {
            var runThread = _runThreadId;
            return runThread != 0 && runThread != Environment.CurrentManagedThreadId;
        }
    }

    /// <summary>
    /// Calls <paramref name="entry"/> on this thread and runs the simulation until the entry task completes. With
    /// <paramref name="until"/>, the run goes on to that time even after the entry completed (background work keeps
    /// running) and never beyond it, even if the entry has not completed.
    /// </summary>
    /// <returns>Why the run stopped; <see cref="SimulationStopReason.Deadlocked"/> when the entry waits for
    /// something that can no longer happen.</returns>
    /// <exception cref="Exception">The original exception of the entry task or of any failed work.</exception>
    public SimulationRunResult Run(Func<Task> entry, DateTimeOffset? until = null)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (until is { } limit)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(limit, Now, nameof(until));
        }
        return RunCore(entry, until?.UtcTicks);
    }

    /// <summary>Runs the work already scheduled until the clock reaches <paramref name="until"/>.</summary>
    public SimulationRunResult RunUntil(DateTimeOffset until)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(until, Now);
        return RunCore(entry: null, until.UtcTicks);
    }

    /// <summary>Runs the work already scheduled for <paramref name="duration"/> of virtual time.</summary>
    public SimulationRunResult RunFor(TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        return RunUntil(Now + duration);
    }

    /// <summary>Runs <paramref name="action"/> on the simulation thread once <paramref name="delay"/> of virtual time has passed.</summary>
    public void Schedule(TimeSpan delay, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ScheduleCore(delay, static state => ((Action)state!)(), action);
    }

    /// <summary>
    /// Starts <paramref name="action"/> on the simulation thread once <paramref name="delay"/> of virtual time has
    /// passed, and fails the run if the task it returns faults.
    /// </summary>
    public void Schedule(TimeSpan delay, Func<Task> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        ScheduleCore(delay, static state => ((ScheduledWork)state!).Start(), new ScheduledWork(this, action));
    }

    /// <summary>Fails the run with the task's exception if it faults; use it for fire-and-forget background loops.</summary>
    public void Observe(Task task)
    {
        ArgumentNullException.ThrowIfNull(task);
        if (task.IsCompleted)
        {
            RecordFault(task);
            return;
        }
        task.ContinueWith(
            static (completed, state) => ((SimulationScheduler)state!).RecordFault(completed),
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Throws unless called from the running simulation, inside its context.</summary>
    public void CheckThread()
    {
        if (!IsOnSimulationThread)
        {
            throw new InvalidOperationException(
                $"Expected to run on the simulation thread {_runThreadId} inside its SynchronizationContext, but this is thread "
                + $"{Environment.CurrentManagedThreadId} with context {SynchronizationContext.Current?.GetType().Name ?? "none"}. "
                + "Simulated code must not use ConfigureAwait(false), Task.Run or real timers.");
        }
    }

    /// <summary>Records an escape from the virtual world; the run fails with the returned exception.</summary>
    internal InvalidOperationException ReportEscape(string operation)
    {
        var escape = new InvalidOperationException(
            $"{operation} was called on thread {Environment.CurrentManagedThreadId} while the simulation runs on thread "
            + $"{_runThreadId}: work escaped the virtual world (ConfigureAwait(false), Task.Run, a real timer or another "
            + "thread). Such work runs in real time and makes the simulation nondeterministic. Escaped from:\n"
            + Environment.StackTrace);
        RecordFailure(ExceptionDispatchInfo.Capture(escape));
        return escape;
    }

    private void Enqueue(SendOrPostCallback callback, object? state)
    {
        if (IsForeignThread)
        {
            // Never throw here: Post runs inside runtime continuation machinery on that thread, and an exception
            // there would crash the process instead of failing the run.
            ReportEscape("SynchronizationContext.Post");
            return;
        }
        _runQueue.Enqueue((callback, state));
    }

    private void ScheduleCore(TimeSpan delay, TimerCallback callback, object state)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        // One-shot: after firing, the timer is out of the queue and nothing references it.
        Time.CreateTimer(callback, state, delay, Timeout.InfiniteTimeSpan);
    }

    private SimulationRunResult RunCore(Func<Task>? entry, long? untilTicks)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("The simulation is already running; runs cannot be nested.");
        }
        ThrowIfFailed();
        var workBefore = WorkItemsExecuted;
        var timersBefore = Time.TimersFired;
        var previousContext = SynchronizationContext.Current;
        _runThreadId = Environment.CurrentManagedThreadId;
        SynchronizationContext.SetSynchronizationContext(_context);
        try
        {
            Task? entryTask = null;
            if (entry is not null)
            {
                entryTask = entry() ?? throw new InvalidOperationException("The entry delegate returned no task.");
            }
            var reason = Loop(entryTask, untilTicks);
            ThrowIfFailed();
            if (entryTask is { IsCompleted: true })
            {
                entryTask.GetAwaiter().GetResult(); // the original exception of a faulted or cancelled entry
            }
            return new SimulationRunResult(reason, Now, WorkItemsExecuted - workBefore, Time.TimersFired - timersBefore);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previousContext);
            _runThreadId = 0;
        }
    }

    private SimulationStopReason Loop(Task? entryTask, long? untilTicks)
    {
        while (true)
        {
            DrainRunQueue();
            if (entryTask is { IsCompleted: true } && (untilTicks is null || !entryTask.IsCompletedSuccessfully))
            {
                return SimulationStopReason.EntryCompleted;
            }
            var entryDone = entryTask is null or { IsCompleted: true };
            if (!Time.TryPeekNextDue(out var dueTicks))
            {
                if (!entryDone)
                {
                    WaitBrieflyForEscapes();
                    return SimulationStopReason.Deadlocked;
                }
                Time.SetNow(untilTicks!.Value);
                return entryTask is null ? SimulationStopReason.TimeLimitReached : SimulationStopReason.EntryCompleted;
            }
            if (untilTicks is { } limit && dueTicks > limit)
            {
                Time.SetNow(limit);
                return entryDone && entryTask is not null
                    ? SimulationStopReason.EntryCompleted
                    : SimulationStopReason.TimeLimitReached;
            }
            Time.FireNext();
            if (_hasFailure)
            {
                ThrowIfFailed();
            }
        }
    }

    private void DrainRunQueue()
    {
        var queue = _runQueue;
        while (queue.TryDequeue(out var item))
        {
            WorkItemsExecuted++;
            item.Callback(item.State);
            if (_hasFailure)
            {
                ThrowIfFailed();
            }
        }
    }

    private void WaitBrieflyForEscapes()
    {
        var waited = Stopwatch.StartNew();
        var quietSince = TimeSpan.Zero;
        while (!_hasFailure && waited.Elapsed < EscapeMaxWait && waited.Elapsed - quietSince < EscapeQuietPeriod)
        {
            if (ThreadPool.PendingWorkItemCount > 0)
            {
                quietSince = waited.Elapsed;
            }
            Thread.Sleep(1);
        }
    }

    private void RecordFault(Task task)
    {
        if (task.IsFaulted)
        {
            RecordFailure(ExceptionDispatchInfo.Capture(task.Exception!.InnerExceptions[0]));
        }
    }

    private void RecordFailure(ExceptionDispatchInfo failure)
    {
        _failures.Enqueue(failure);
        _hasFailure = true;
    }

    /// <summary>Throws the oldest recorded failure; later ones stay queued for the next check.</summary>
    private void ThrowIfFailed()
    {
        // Clear the flag before dequeuing, so a failure recorded meanwhile on another thread sets it again.
        _hasFailure = false;
        if (_failures.TryDequeue(out var failure))
        {
            if (!_failures.IsEmpty)
            {
                _hasFailure = true;
            }
            failure.Throw();
        }
    }

    private sealed class ScheduledWork(SimulationScheduler scheduler, Func<Task> action)
    {
        public void Start() => scheduler.Observe(action());
    }

    private sealed class SimulationSynchronizationContext(SimulationScheduler scheduler) : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
            ArgumentNullException.ThrowIfNull(d);
            scheduler.Enqueue(d, state);
        }

        public override void Send(SendOrPostCallback d, object? state)
        {
            ArgumentNullException.ThrowIfNull(d);
            scheduler.CheckThread();
            d(state);
        }

        // The default copies to a plain SynchronizationContext, which would post to the thread pool.
        public override SynchronizationContext CreateCopy() => this;
    }
}
