using System.Diagnostics;
using Parley.Testing.Simulation;

namespace Parley.Benchmarks;

/// <summary>
/// How fast the simulator's run queue goes: posts to its synchronization context and resumptions after
/// <c>Task.Yield</c> per second, best of three (the best run is closest to the cost on an idle machine).
/// </summary>
public static class SimulationRuntimeBenchmark
{
    public sealed record Result(int Posts, double PostsPerSecond, int Yields, double ResumptionsPerSecond);

    public static Result Run(int posts, int yields)
    {
        MeasurePosts(10_000); // warm up the JIT
        MeasureYields(10_000);
        var postTime = Enumerable.Range(0, 3).Min(_ => MeasurePosts(posts));
        var yieldTime = Enumerable.Range(0, 3).Min(_ => MeasureYields(yields));
        return new Result(posts, posts / postTime.TotalSeconds, yields, yields / yieldTime.TotalSeconds);
    }

    public static string Describe(Result result) =>
        $"simulator run queue: {result.PostsPerSecond:N0} posts/s ({result.Posts:N0} posts), {result.ResumptionsPerSecond:N0} resumptions/s after Task.Yield ({result.Yields:N0})";

    private static TimeSpan MeasurePosts(int count)
    {
        var scheduler = new SimulationScheduler();
        var executed = 0;
        var wall = Stopwatch.StartNew();
        scheduler.Run(() =>
        {
            var context = SynchronizationContext.Current!;
            for (var i = 0; i < count; i++)
            {
                context.Post(_ => executed++, null);
            }
            return Task.CompletedTask;
        });
        wall.Stop();
        return executed == count ? wall.Elapsed : throw new InvalidOperationException($"{executed} of {count} posts ran");
    }

    private static TimeSpan MeasureYields(int count)
    {
        var scheduler = new SimulationScheduler();
        var wall = Stopwatch.StartNew();
        scheduler.Run(async () =>
        {
            for (var i = 0; i < count; i++)
            {
                await Task.Yield();
            }
        });
        return wall.Elapsed;
    }
}
