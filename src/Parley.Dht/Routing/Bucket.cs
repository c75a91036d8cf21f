using Parley.Core.Identity;
using Parley.Dht.Keys;

namespace Parley.Dht.Routing;

/// <summary>One k-bucket: its peers, the peers waiting to replace them, and its refresh and liveness-check state.</summary>
internal sealed class Bucket(DateTimeOffset lastUsed)
{
    /// <summary>Least recently seen first; the first entry is the eviction candidate.</summary>
    public List<RoutingEntry> Entries { get; } = [];

    /// <summary>Most recently seen first; null until a newcomer finds the bucket full.</summary>
    public List<RoutingEntry>? Replacements { get; private set; }

    /// <summary>Peers per subnet group among <see cref="Entries"/>; null while none has a non-exempt address.</summary>
    public Dictionary<long, int>? SubnetCounts { get; set; }

    /// <summary>When a lookup last targeted this bucket.</summary>
    public DateTimeOffset LastUsed { get; set; } = lastUsed;

    /// <summary>The entry handed out for a liveness check that has not been reported yet.</summary>
    public RoutingEntry? CheckPending { get; set; }

    public DateTimeOffset CheckStarted { get; set; }

    public int IndexOf(PeerId peer, KadId id) => IndexOf(Entries, peer, id);

    public static int IndexOf(List<RoutingEntry>? entries, PeerId peer, KadId id)
    {
        if (entries is null)
        {
            return -1;
        }
        for (var i = 0; i < entries.Count; i++)
        {
            // The id comparison is four word compares and almost always settles it.
            if (entries[i].Id == id && entries[i].Peer == peer)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Inserts keeping <see cref="Entries"/> ordered by last-seen time, oldest first.</summary>
    public void InsertByLastSeen(RoutingEntry entry)
    {
        var position = Entries.Count;
        while (position > 0 && Entries[position - 1].LastSeen > entry.LastSeen)
        {
            position--;
        }
        Entries.Insert(position, entry);
    }

    /// <summary>Adds or refreshes a waiting peer, newest first, dropping the oldest beyond <paramref name="capacity"/>.</summary>
    public void AddReplacement(RoutingEntry entry, int capacity)
    {
        if (capacity == 0)
        {
            return;
        }
        Replacements ??= [];
        RemoveReplacement(entry.Peer, entry.Id);
        var position = 0;
        while (position < Replacements.Count && Replacements[position].LastSeen > entry.LastSeen)
        {
            position++;
        }
        Replacements.Insert(position, entry);
        if (Replacements.Count > capacity)
        {
            Replacements.RemoveAt(Replacements.Count - 1);
        }
    }

    public void RemoveReplacement(PeerId peer, KadId id)
    {
        var position = IndexOf(Replacements, peer, id);
        if (position >= 0)
        {
            Replacements!.RemoveAt(position);
        }
    }
}
