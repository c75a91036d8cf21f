namespace Parley.Net.Yamux;

/// <summary>
/// A budget for the receive windows a session grants (what the remote may make us buffer): a stream opens only with its
/// initial window reserved, a window grows only while the budget allows, and a closed stream gives its window back.
/// </summary>
public interface IStreamMemory
{
    bool TryReserve(int bytes);

    void Release(int bytes);
}

/// <summary>No budget beyond each stream's own window limits.</summary>
internal sealed class UnlimitedStreamMemory : IStreamMemory
{
    public static UnlimitedStreamMemory Instance { get; } = new();

    public bool TryReserve(int bytes) => true;

    public void Release(int bytes)
    {
    }
}
