namespace Parley.Chat.Mailbox;

/// <summary>Runs work for many peers with a bound on how much is in flight at once.</summary>
internal static class Bounded
{
    public static async Task<TResult[]> ForEachAsync<T, TResult>(IReadOnlyList<T> items, int maxParallel, Func<T, Task<TResult>> work)
    {
        using var gate = new SemaphoreSlim(Math.Max(1, maxParallel));
        return await Task.WhenAll(items.Select(async item =>
        {
            await gate.WaitAsync();
            try
            {
                return await work(item);
            }
            finally
            {
                gate.Release();
            }
        }));
    }
}
