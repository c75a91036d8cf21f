using Parley.Core.Identity;

namespace Parley.Net.Resources;

/// <summary>
/// What the layers above tell the connection manager about peers (anchored on go-libp2p's connection manager): a
/// protected peer's connections are never trimmed (routing-table peers, contacts, relays in use); tags add to a peer's
/// value, and the least valuable connections go first. Protections and tags are named, so each layer manages its own.
/// </summary>
public interface IPeerProtection
{
    /// <summary>Never trim <paramref name="peer"/>'s connections while any tag protects it.</summary>
    void Protect(PeerId peer, string tag);

    /// <summary>Removes one protection; true if another tag still protects the peer.</summary>
    bool Unprotect(PeerId peer, string tag);

    /// <summary>Sets the value of <paramref name="tag"/> on <paramref name="peer"/> (replacing an earlier one).</summary>
    void TagPeer(PeerId peer, string tag, int value);

    void UntagPeer(PeerId peer, string tag);
}

/// <summary>The protections and tags of every peer; thread-safe.</summary>
public sealed class PeerTags : IPeerProtection
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, HashSet<string>> _protections = [];
    private readonly Dictionary<PeerId, Dictionary<string, int>> _tags = [];
    private readonly List<Func<PeerId, bool>> _protectors = [];

    public void Protect(PeerId peer, string tag)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentException.ThrowIfNullOrEmpty(tag);
        lock (_gate)
        {
            if (!_protections.TryGetValue(peer, out var tags))
            {
                _protections[peer] = tags = [];
            }
            tags.Add(tag);
        }
    }

    public bool Unprotect(PeerId peer, string tag)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate)
        {
            if (!_protections.TryGetValue(peer, out var tags))
            {
                return false;
            }
            tags.Remove(tag);
            if (tags.Count == 0)
            {
                _protections.Remove(peer);
                return false;
            }
            return true;
        }
    }

    public void TagPeer(PeerId peer, string tag, int value)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentException.ThrowIfNullOrEmpty(tag);
        lock (_gate)
        {
            if (!_tags.TryGetValue(peer, out var tags))
            {
                _tags[peer] = tags = [];
            }
            tags[tag] = value;
        }
    }

    public void UntagPeer(PeerId peer, string tag)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate)
        {
            if (_tags.TryGetValue(peer, out var tags) && tags.Remove(tag) && tags.Count == 0)
            {
                _tags.Remove(peer);
            }
        }
    }

    /// <summary>Protects every peer <paramref name="isProtected"/> says yes to, asked at each trim: for sets another
    /// component already keeps (the DHT's routing table), so they need no second copy kept in step.</summary>
    public void AddProtector(Func<PeerId, bool> isProtected)
    {
        ArgumentNullException.ThrowIfNull(isProtected);
        lock (_gate)
        {
            _protectors.Add(isProtected);
        }
    }

    public bool IsProtected(PeerId peer)
    {
        Func<PeerId, bool>[] protectors;
        lock (_gate)
        {
            if (_protections.ContainsKey(peer))
            {
                return true;
            }
            protectors = [.. _protectors];
        }
        return protectors.Any(p => p(peer));
    }

    /// <summary>The sum of the peer's tag values.</summary>
    public int ValueOf(PeerId peer)
    {
        lock (_gate)
        {
            return _tags.TryGetValue(peer, out var tags) ? tags.Values.Sum() : 0;
        }
    }
}

/// <summary>One open connection as the trimmer sees it.</summary>
public readonly record struct TrimCandidate(object Connection, PeerId Peer, DateTimeOffset OpenedAt, int ActiveStreams, DateTimeOffset LastActivity);

/// <summary>
/// Chooses connections to close when there are more than <see cref="ResourceLimits.HighWatermark"/>: down to
/// <see cref="ResourceLimits.LowWatermark"/>, never a protected peer's or one younger than the grace period; the
/// lowest tag value first, then the fewest open streams, then the longest idle.
/// </summary>
public static class ConnectionTrimmer
{
    public static IReadOnlyList<TrimCandidate> Choose(IReadOnlyCollection<TrimCandidate> open, PeerTags tags, ResourceLimits limits, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(tags);
        ArgumentNullException.ThrowIfNull(limits);
        if (open.Count <= limits.HighWatermark)
        {
            return [];
        }
        return open
            .Where(c => now - c.OpenedAt >= limits.GracePeriod && !tags.IsProtected(c.Peer))
            .OrderBy(c => tags.ValueOf(c.Peer))
            .ThenBy(c => c.ActiveStreams)
            .ThenBy(c => c.LastActivity)
            .Take(open.Count - limits.LowWatermark)
            .ToList();
    }
}
