using System.Diagnostics;
using Parley.Testing.Simulation;
using Xunit.Abstractions;

namespace Parley.Simulation.Tests.Runtime;

/// <summary>
/// Real async code (Task.Delay, CancellationTokenSource, PeriodicTimer, WaitAsync, async void) under the scheduler:
/// virtual time order, stop conditions, failures and escapes.
/// </summary>
[Collection(WallClockCollection.Name)]
public sealed class SimulationSchedulerTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset Start = VirtualTimeProvider.DefaultStart;

    [Fact]
    public void Delay_chains_complete_in_virtual_time_order()
    {
        var scheduler = new SimulationScheduler();
        var time = scheduler.Time;
        var finished = new List<(string Name, DateTimeOffset At)>();

        async Task Chain(string name, params int[] delaysMs)
        {
            foreach (var delay in delaysMs)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(delay), time);
            }
            finished.Add((name, time.GetUtcNow()));
        }

        var result = scheduler.Run(() => Task.WhenAll(Chain("a", 300, 300), Chain("b", 100, 100, 100), Chain("c", 50, 1000), Chain("d", 250)));

        Assert.Equal(SimulationStopReason.EntryCompleted, result.StopReason);
        Assert.Equal(
            [("d", Start.AddMilliseconds(250)), ("b", Start.AddMilliseconds(300)), ("a", Start.AddMilliseconds(600)), ("c", Start.AddMilliseconds(1050))],
            finished);
        Assert.Equal(Start.AddMilliseconds(1050), result.StoppedAt);
    }

    [Fact]
    public void One_simulated_hour_passes_without_waiting_for_the_wall_clock()
    {
        RunOneHour(); // warm up the JIT
        var wall = Stopwatch.StartNew();
        var result = RunOneHour();
        wall.Stop();

        output.WriteLine($"1 simulated hour (3600 one-second delays, 60 one-minute ticks): {wall.Elapsed.TotalMilliseconds:F2} ms wall");
        Assert.Equal(Start.AddHours(1), result.StoppedAt);
        // Thousands of times less than the hour, with room for a loaded machine: the virtual clock never sleeps.
        Assert.True(wall.Elapsed < TimeSpan.FromSeconds(5), $"took {wall.ElapsedMilliseconds} ms");

        static SimulationRunResult RunOneHour()
        {
            var scheduler = new SimulationScheduler();
            var time = scheduler.Time;
            return scheduler.Run(() => Task.WhenAll(Seconds(), Minutes()));

            async Task Seconds()
            {
                for (var i = 0; i < 3600; i++)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), time);
                }
            }

            async Task Minutes()
            {
                using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1), time);
                for (var i = 0; i < 60; i++)
                {
                    await timer.WaitForNextTickAsync();
                }
            }
        }
    }

    [Fact]
    public void CancellationTokenSource_with_a_virtual_delay_cancels_at_that_virtual_time()
    {
        var scheduler = new SimulationScheduler();
        var time = scheduler.Time;
        DateTimeOffset? cancelledAt = null;
        DateTimeOffset? movedCancelledAt = null;
        var disposedCancelled = false;

        scheduler.Run(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30), time);
            cts.Token.Register(() => cancelledAt = time.GetUtcNow());
            using var moved = new CancellationTokenSource(TimeSpan.FromSeconds(10), time);
            moved.Token.Register(() => movedCancelledAt = time.GetUtcNow());
            moved.CancelAfter(TimeSpan.FromSeconds(45));
            var disposed = new CancellationTokenSource(TimeSpan.FromSeconds(5), time);
            disposed.Token.Register(() => disposedCancelled = true);
            disposed.Dispose();

            var delay = Task.Delay(TimeSpan.FromHours(1), time, cts.Token);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => delay);
            Assert.Equal(Start.AddSeconds(30), time.GetUtcNow());
            await Task.Delay(TimeSpan.FromMinutes(1), time);
        });

        Assert.Equal(Start.AddSeconds(30), cancelledAt);
        Assert.Equal(Start.AddSeconds(45), movedCancelledAt);
        Assert.False(disposedCancelled);
    }

    [Fact]
    public void PeriodicTimer_ticks_every_virtual_period()
    {
        var scheduler = new SimulationScheduler();
        var time = scheduler.Time;
        var ticks = new List<DateTimeOffset>();

        scheduler.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(15), time);
            while (ticks.Count < 5 && await timer.WaitForNextTickAsync())
            {
                ticks.Add(time.GetUtcNow());
            }
        });

        Assert.Equal(Enumerable.Range(1, 5).Select(i => Start.AddSeconds(15 * i)), ticks);
    }

    [Fact]
    public void WaitAsync_times_out_at_the_virtual_timeout()
    {
        var scheduler = new SimulationScheduler();
        var time = scheduler.Time;
        var never = new TaskCompletionSource();

        scheduler.Run(async () =>
        {
            await Assert.ThrowsAsync<TimeoutException>(() => never.Task.WaitAsync(TimeSpan.FromSeconds(7), time));
            Assert.Equal(Start.AddSeconds(7), time.GetUtcNow());
            // A wait that completes in time disposes its timeout timer.
            Assert.Equal(42, await AnswerAfterOneSecond().WaitAsync(TimeSpan.FromSeconds(5), time));
        });

        Assert.Equal(Start.AddSeconds(8), scheduler.Now);
        Assert.Equal(0, time.ActiveTimerCount);

        async Task<int> AnswerAfterOneSecond()
        {
            await Task.Delay(TimeSpan.FromSeconds(1), time);
            return 42;
        }
    }

    [Fact]
    public void Scheduled_events_fire_at_their_virtual_times_and_RunUntil_stops_the_clock_at_the_limit()
    {
        var scheduler = new SimulationScheduler();
        var events = new List<(string Name, DateTimeOffset At)>();
        scheduler.Schedule(TimeSpan.FromMinutes(5), () => events.Add(("churn", scheduler.Now)));
        scheduler.Schedule(TimeSpan.FromMinutes(1), async () =>
        {
            events.Add(("lookup started", scheduler.Now));
            await Task.Delay(TimeSpan.FromMilliseconds(150), scheduler.Time);
            events.Add(("lookup done", scheduler.Now));
        });
        scheduler.Schedule(TimeSpan.FromHours(2), () => events.Add(("too late", scheduler.Now)));

        var result = scheduler.RunFor(TimeSpan.FromHours(1));

        Assert.Equal(SimulationStopReason.TimeLimitReached, result.StopReason);
        Assert.Equal(Start.AddHours(1), result.StoppedAt);
        Assert.Equal(
            [("lookup started", Start.AddMinutes(1)), ("lookup done", Start.AddMinutes(1).AddMilliseconds(150)), ("churn", Start.AddMinutes(5))],
            events);

        scheduler.RunUntil(Start.AddHours(3));
        Assert.Equal(("too late", Start.AddHours(2)), events[^1]);
        Assert.Equal(Start.AddHours(3), scheduler.Now);
    }

    [Fact]
    public void With_a_time_limit_background_work_runs_on_after_the_entry_and_stops_at_the_limit()
    {
        var scheduler = new SimulationScheduler();
        var time = scheduler.Time;
        var backgroundTicks = 0;

        var result = scheduler.Run(
            async () =>
            {
                var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), time);
                scheduler.Observe(Background(timer));
                await Task.Delay(TimeSpan.FromSeconds(10), time);
            },
            until: Start.AddMinutes(1));

        Assert.Equal(SimulationStopReason.EntryCompleted, result.StopReason);
        Assert.Equal(Start.AddMinutes(1), result.StoppedAt);
        Assert.Equal(60, backgroundTicks);

        async Task Background(PeriodicTimer timer)
        {
            while (await timer.WaitForNextTickAsync())
            {
                backgroundTicks++;
            }
        }
    }

    [Fact]
    public void A_time_limit_stops_an_unfinished_entry_which_a_later_run_can_finish()
    {
        var scheduler = new SimulationScheduler();
        var done = false;

        var first = scheduler.Run(
            async () =>
            {
                await Task.Delay(TimeSpan.FromHours(1), scheduler.Time);
                done = true;
            },
            until: Start.AddMinutes(30));
        var second = scheduler.RunFor(TimeSpan.FromHours(1));

        Assert.Equal(SimulationStopReason.TimeLimitReached, first.StopReason);
        Assert.Equal(Start.AddMinutes(30), first.StoppedAt);
        Assert.True(done);
        Assert.Equal(Start.AddMinutes(90), second.StoppedAt);
    }

    [Fact]
    public void An_entry_waiting_for_something_that_never_happens_is_reported_as_deadlocked()
    {
        var scheduler = new SimulationScheduler();
        var never = new TaskCompletionSource();

        var result = scheduler.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(3), scheduler.Time);
            await never.Task;
        });

        Assert.Equal(SimulationStopReason.Deadlocked, result.StopReason);
        Assert.Equal(Start.AddSeconds(3), result.StoppedAt);
    }

    [Fact]
    public void Posted_work_and_async_void_run_on_the_calling_thread_in_FIFO_order()
    {
        var scheduler = new SimulationScheduler();
        var thread = Environment.CurrentManagedThreadId;
        var callerContext = SynchronizationContext.Current;
        var order = new List<string>();
        var threads = new HashSet<int>();

        async void FireAndForget()
        {
            order.Add("async void start");
            await Task.Yield();
            threads.Add(Environment.CurrentManagedThreadId);
            order.Add("async void resumed");
        }

        scheduler.Run(async () =>
        {
            scheduler.CheckThread();
            var context = SynchronizationContext.Current!;
            context.Post(_ => order.Add("post 1"), null);
            FireAndForget();
            context.Post(_ => order.Add("post 2"), null);
            context.Send(_ => order.Add("send (inline)"), null);
            await Task.Delay(TimeSpan.FromMilliseconds(1), scheduler.Time);
            threads.Add(Environment.CurrentManagedThreadId);
            scheduler.CheckThread();
        });

        Assert.Equal(["async void start", "send (inline)", "post 1", "async void resumed", "post 2"], order);
        Assert.Equal([thread], threads);
        Assert.Same(callerContext, SynchronizationContext.Current);
        Assert.Throws<InvalidOperationException>(scheduler.CheckThread);
    }

    [Fact]
    public void An_exception_in_posted_work_stops_the_run_with_the_original_exception()
    {
        var scheduler = new SimulationScheduler();
        var boom = new FormatException("posted");

        var thrown = Assert.Throws<FormatException>(() => scheduler.Run(async () =>
        {
            SynchronizationContext.Current!.Post(_ => throw boom, null);
            await Task.Delay(TimeSpan.FromHours(1), scheduler.Time);
        }));

        Assert.Same(boom, thrown);
        Assert.Equal(Start, scheduler.Now);
    }

    [Fact]
    public void An_exception_in_async_void_code_stops_the_run_with_the_original_exception()
    {
        var scheduler = new SimulationScheduler();

        async void Crash()
        {
            await Task.Delay(TimeSpan.FromSeconds(2), scheduler.Time);
            throw new InvalidDataException("async void");
        }

        var thrown = Assert.Throws<InvalidDataException>(() => scheduler.Run(async () =>
        {
            Crash();
            await Task.Delay(TimeSpan.FromHours(1), scheduler.Time);
        }));

        Assert.Equal("async void", thrown.Message);
        Assert.Equal(Start.AddSeconds(2), scheduler.Now);
        Assert.Contains(nameof(Crash), thrown.StackTrace, StringComparison.Ordinal);
    }

    [Fact]
    public void A_faulted_entry_task_surfaces_its_original_exception()
    {
        var scheduler = new SimulationScheduler();

        var thrown = Assert.Throws<KeyNotFoundException>(() => scheduler.Run(
            async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1), scheduler.Time);
                throw new KeyNotFoundException("entry");
            },
            until: Start.AddHours(1)));

        Assert.Equal("entry", thrown.Message);
        Assert.Equal(Start.AddSeconds(1), scheduler.Now); // fails fast, does not run on to the limit
    }

    [Fact]
    public void Faults_of_observed_background_tasks_and_scheduled_async_events_stop_the_run()
    {
        var observed = new SimulationScheduler();
        var observedFault = Assert.Throws<IOException>(() => observed.Run(async () =>
        {
            observed.Observe(FailAfter(TimeSpan.FromSeconds(10), observed.Time, new IOException("background")));
            await Task.Delay(TimeSpan.FromHours(1), observed.Time);
        }));
        Assert.Equal("background", observedFault.Message);
        Assert.Equal(Start.AddSeconds(10), observed.Now);

        var scheduled = new SimulationScheduler();
        scheduled.Schedule(TimeSpan.FromMinutes(3), () => FailAfter(TimeSpan.FromSeconds(1), scheduled.Time, new IOException("event")));
        var scheduledFault = Assert.Throws<IOException>(() => scheduled.RunFor(TimeSpan.FromHours(1)));
        Assert.Equal("event", scheduledFault.Message);
        Assert.Equal(Start.AddMinutes(3).AddSeconds(1), scheduled.Now);

        var synchronous = new SimulationScheduler();
        Action fail = () => throw new IOException("action");
        synchronous.Schedule(TimeSpan.FromMinutes(3), fail);
        Assert.Equal("action", Assert.Throws<IOException>(() => synchronous.RunFor(TimeSpan.FromHours(1))).Message);

        static async Task FailAfter(TimeSpan delay, TimeProvider time, Exception exception)
        {
            await Task.Delay(delay, time);
            throw exception;
        }
    }

    [Fact]
    public void ConfigureAwait_false_escapes_the_virtual_world_and_fails_the_run()
    {
        var scheduler = new SimulationScheduler();

        var thrown = Assert.Throws<InvalidOperationException>(() => scheduler.Run(async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1), scheduler.Time).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromSeconds(1), scheduler.Time); // now on a thread-pool thread
        }));

        output.WriteLine(thrown.Message);
        Assert.Contains("escaped the virtual world", thrown.Message, StringComparison.Ordinal);
        Assert.Contains("CreateTimer", thrown.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Task_Run_escapes_the_virtual_world_and_fails_the_run()
    {
        var scheduler = new SimulationScheduler();
        var continuationRan = false;
        var poolThreadWasOutside = false;

        var thrown = Assert.Throws<InvalidOperationException>(() => scheduler.Run(async () =>
        {
            await Task.Run(() =>
            {
                poolThreadWasOutside = !scheduler.IsOnSimulationThread;
                Thread.Sleep(20); // still running when awaited, so it completes on the pool
            });
            continuationRan = true;
        }));

        Assert.Contains("SynchronizationContext.Post", thrown.Message, StringComparison.Ordinal);
        Assert.True(poolThreadWasOutside);
        Assert.False(continuationRan); // dropped, never run on the wrong thread
    }

    [Fact]
    public void A_timer_disposed_on_another_thread_such_as_the_finalizer_is_dropped_without_failing_the_run()
    {
        var scheduler = new SimulationScheduler();
        var fired = false;

        var result = scheduler.Run(async () =>
        {
            var timer = scheduler.Time.CreateTimer(_ => fired = true, null, TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan);
            var other = new Thread(timer.Dispose);
            other.Start();
            other.Join();
            await Task.Delay(TimeSpan.FromSeconds(10), scheduler.Time);
        });

        Assert.Equal(SimulationStopReason.EntryCompleted, result.StopReason);
        Assert.False(fired);
    }

    [Fact]
    public void Runs_cannot_be_nested()
    {
        var scheduler = new SimulationScheduler();

        Assert.Throws<InvalidOperationException>(() => scheduler.Run(() =>
        {
            scheduler.RunFor(TimeSpan.FromSeconds(1));
            return Task.CompletedTask;
        }));
        Assert.False(scheduler.IsRunning);
    }
}
