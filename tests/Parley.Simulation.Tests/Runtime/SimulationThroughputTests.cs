using System.Diagnostics;
using Parley.Testing.Simulation;
using Xunit.Abstractions;

namespace Parley.Simulation.Tests.Runtime;

/// <summary>
/// Scale and reproducibility: many concurrent actors, the same trace on every run. How fast the run queue goes is a
/// figure, printed by <c>tools/Parley.Benchmarks -- sim-runtime</c>, not asserted here.
/// </summary>
[Collection(WallClockCollection.Name)]
public sealed class SimulationThroughputTests(ITestOutputHelper output)
{
    private const int Actors = 10_000;
    private const int DelaysPerActor = 100;

    [Fact]
    public void Ten_thousand_actors_doing_100_random_delays_each_give_the_same_trace_on_every_run_with_a_seed()
    {
        var first = RunActors(seed: 7);
        var second = RunActors(seed: 7);
        var otherSeed = RunActors(seed: 8);

        output.WriteLine(
            $"{Actors:N0} actors x {DelaysPerActor} delays = {first.Delays:N0} delays over {first.Simulated.TotalSeconds:F1} s simulated "
            + $"in {second.Wall.TotalMilliseconds:F0} ms wall: {second.Delays / second.Wall.TotalSeconds:N0} delays/s "
            + $"({second.Result.TimersFired:N0} timers fired, {second.Result.WorkItemsExecuted:N0} posts)");
        Assert.Equal(Actors * DelaysPerActor, first.Delays);
        Assert.Equal(first.Trace, second.Trace);
        Assert.Equal(first.FinishOrder, second.FinishOrder);
        Assert.Equal(first.Simulated, second.Simulated);
        Assert.NotEqual(first.Trace, otherSeed.Trace);
    }

    private static ActorRun RunActors(int seed)
    {
        var scheduler = new SimulationScheduler();
        var time = scheduler.Time;
        var start = scheduler.Now;
        ulong trace = 14695981039346656037;
        var delays = 0;
        var finishOrder = new List<int>(Actors);

        async Task Actor(int id)
        {
            var random = new Random((seed * 1_000_003) + id);
            for (var i = 0; i < DelaysPerActor; i++)
            {
                // Whole milliseconds, so many actors wake at the same instant and tie-breaking is exercised.
                await Task.Delay(TimeSpan.FromMilliseconds(1 + random.Next(1000)), time);
                delays++;
                trace = (trace ^ (ulong)id ^ ((ulong)time.GetTimestamp() << 20)) * 1099511628211;
            }
            finishOrder.Add(id);
        }

        var wall = Stopwatch.StartNew();
        var result = scheduler.Run(() => Task.WhenAll(Enumerable.Range(0, Actors).Select(Actor)));
        wall.Stop();
        Assert.Equal(SimulationStopReason.EntryCompleted, result.StopReason);
        return new ActorRun(trace, finishOrder, delays, scheduler.Now - start, wall.Elapsed, result);
    }

    private sealed record ActorRun(ulong Trace, List<int> FinishOrder, int Delays, TimeSpan Simulated, TimeSpan Wall, SimulationRunResult Result);
}
