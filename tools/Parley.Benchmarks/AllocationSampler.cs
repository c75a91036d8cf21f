using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Parley.Benchmarks;

/// <summary>
/// Which types a stretch of work allocates, from the runtime's own sampling: the GC reports one allocation about every
/// 100 KB (AllocationTick) with its type, so the counts are proportional to the bytes each type takes.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    private const int GcKeyword = 0x1;
    private readonly ConcurrentDictionary<string, long> _bytesByType = new();
    private volatile bool _sampling;

    public void Start() => _sampling = true;

    /// <summary>The <paramref name="top"/> types by sampled bytes, with their share of all sampled bytes.</summary>
    public IReadOnlyList<(string Type, double Share)> Stop(int top)
    {
        _sampling = false;
        var total = Math.Max(1, _bytesByType.Values.Sum());
        return _bytesByType.OrderByDescending(pair => pair.Value).Take(top).Select(pair => (pair.Key, (double)pair.Value / total)).ToList();
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)GcKeyword);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_sampling || eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.Payload is null)
        {
            return;
        }
        var type = eventData.PayloadNames?.IndexOf("TypeName") is int typeIndex and >= 0 ? eventData.Payload[typeIndex] as string : null;
        var amount = eventData.PayloadNames?.IndexOf("AllocationAmount64") is int amountIndex and >= 0 ? Convert.ToInt64(eventData.Payload[amountIndex], System.Globalization.CultureInfo.InvariantCulture) : 0;
        _bytesByType.AddOrUpdate(type ?? "?", amount, (_, sum) => sum + amount);
    }
}
