namespace Parley.Testing;

/// <summary>Two connected in-memory stream ends, for testing protocol code without sockets.</summary>
public static class DuplexStream
{
    public static (Stream A, Stream B) CreatePair(TimeSpan latency = default, TimeProvider? time = null)
    {
        var (a, b) = InMemoryStreamEnd.CreatePair(latency, time ?? TimeProvider.System);
        return (a, b);
    }
}
