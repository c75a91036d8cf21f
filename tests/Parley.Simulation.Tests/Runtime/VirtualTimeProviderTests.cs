using Parley.Testing.Simulation;

namespace Parley.Simulation.Tests.Runtime;

/// <summary>The clock on its own, advanced by hand: timer ordering, Change, Dispose, periods, timestamps.</summary>
public sealed class VirtualTimeProviderTests
{
    private static readonly DateTimeOffset Start = VirtualTimeProvider.DefaultStart;

    [Fact]
    public void Timers_fire_in_due_time_order_with_the_clock_at_their_due_time()
    {
        var time = new VirtualTimeProvider();
        var fired = new List<(string Name, DateTimeOffset At)>();
        using var late = time.CreateTimer(_ => fired.Add(("late", time.GetUtcNow())), null, TimeSpan.FromSeconds(3), Timeout.InfiniteTimeSpan);
        using var early = time.CreateTimer(_ => fired.Add(("early", time.GetUtcNow())), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        using var never = time.CreateTimer(_ => fired.Add(("never", time.GetUtcNow())), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal([("early", Start.AddSeconds(1)), ("late", Start.AddSeconds(3))], fired);
        Assert.Equal(Start.AddSeconds(10), time.GetUtcNow());
        Assert.Equal(0, time.ActiveTimerCount);
    }

    [Fact]
    public void Timers_due_at_the_same_instant_fire_in_the_order_they_were_scheduled()
    {
        var time = new VirtualTimeProvider();
        var fired = new List<int>();
        var timers = Enumerable.Range(0, 50)
            .Select(i => time.CreateTimer(_ => fired.Add(i), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan))
            .ToList();
        timers[0].Change(TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan); // rescheduling moves it to the back

        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal([.. Enumerable.Range(1, 49), 0], fired);
    }

    [Fact]
    public void Change_reschedules_and_dispose_cancels()
    {
        var time = new VirtualTimeProvider();
        var fired = new List<DateTimeOffset>();
        var moved = time.CreateTimer(_ => fired.Add(time.GetUtcNow()), null, TimeSpan.FromSeconds(1), Timeout.InfiniteTimeSpan);
        var disposed = time.CreateTimer(_ => fired.Add(DateTimeOffset.MinValue), null, TimeSpan.FromSeconds(2), Timeout.InfiniteTimeSpan);
        var stopped = time.CreateTimer(_ => fired.Add(DateTimeOffset.MaxValue), null, TimeSpan.FromSeconds(3), Timeout.InfiniteTimeSpan);

        Assert.True(moved.Change(TimeSpan.FromSeconds(5), Timeout.InfiniteTimeSpan));
        disposed.Dispose();
        Assert.True(stopped.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan));
        time.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal([Start.AddSeconds(5)], fired);
        Assert.False(disposed.Change(TimeSpan.Zero, Timeout.InfiniteTimeSpan));
        Assert.Throws<ArgumentOutOfRangeException>(() => moved.Change(TimeSpan.FromSeconds(-2), Timeout.InfiniteTimeSpan));
    }

    [Fact]
    public void Periodic_timers_tick_every_period_until_disposed_even_from_their_own_callback()
    {
        var time = new VirtualTimeProvider();
        var ticks = new List<DateTimeOffset>();
        ITimer? timer = null;
        timer = time.CreateTimer(
            _ =>
            {
                ticks.Add(time.GetUtcNow());
                if (ticks.Count == 4)
                {
                    timer!.Dispose();
                }
            },
            null,
            TimeSpan.FromSeconds(1),
            TimeSpan.FromSeconds(2));

        time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal([Start.AddSeconds(1), Start.AddSeconds(3), Start.AddSeconds(5), Start.AddSeconds(7)], ticks);
        Assert.Equal(0, time.ActiveTimerCount);
    }

    [Fact]
    public void Timestamps_and_elapsed_time_follow_the_virtual_clock()
    {
        var time = new VirtualTimeProvider(new DateTimeOffset(2030, 6, 1, 12, 0, 0, TimeSpan.FromHours(2)));
        var before = time.GetTimestamp();

        time.Advance(TimeSpan.FromMilliseconds(1234.5));

        Assert.Equal(TimeSpan.FromMilliseconds(1234.5), time.GetElapsedTime(before));
        Assert.Equal(new DateTimeOffset(2030, 6, 1, 10, 0, 1, 234, TimeSpan.Zero).AddTicks(5000), time.GetUtcNow());
        Assert.Equal(TimeSpan.Zero, time.GetUtcNow().Offset);
        Assert.Equal(TimeSpan.TicksPerSecond, time.TimestampFrequency);
    }

    [Fact]
    public void Many_disposed_timeouts_are_compacted_away_and_live_timers_still_fire_in_order()
    {
        var time = new VirtualTimeProvider();
        var fired = new List<int>();
        var live = new List<ITimer>();
        for (var i = 0; i < 100_000; i++)
        {
            // Like RPC timeouts: most are disposed long before they fall due.
            var timer = time.CreateTimer(static state => ((List<int>)state!).Add(-1), fired, TimeSpan.FromHours(1), Timeout.InfiniteTimeSpan);
            if (i % 1000 == 0)
            {
                var order = i;
                live.Add(time.CreateTimer(_ => fired.Add(order), null, TimeSpan.FromSeconds(100_000 - (i / 1000)), Timeout.InfiniteTimeSpan));
            }
            timer.Dispose();
        }

        Assert.Equal(100, time.ActiveTimerCount);
        time.Advance(TimeSpan.FromDays(2));

        Assert.Equal(Enumerable.Range(0, 100).Select(i => i * 1000).Reverse(), fired);
    }

    [Fact]
    public void A_clock_driven_by_a_scheduler_cannot_be_advanced_by_hand()
    {
        var scheduler = new SimulationScheduler();

        Assert.Throws<InvalidOperationException>(() => scheduler.Time.Advance(TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentException>(() => new SimulationScheduler(scheduler.Time));
    }
}
