using Parley.Core.Identity;

namespace Parley.Chat.Mailbox;

/// <summary>
/// Counts prekeys handed to each requesting peer per fixed window. Bounded: when it tracks too many peers, peers it
/// does not know yet are refused until windows run out (forgetting would let a flood of identities reset the count).
/// </summary>
internal sealed class ClaimRateLimiter(int maxPerWindow, TimeSpan window, TimeProvider time, int maxTrackedPeers = 10_000)
{
    private readonly Dictionary<PeerId, (DateTimeOffset Start, int Count)> _claims = [];

    /// <summary>Takes one claim for <paramref name="peer"/>; false when it has used up its window or the table is full.</summary>
    public bool TryAcquire(PeerId peer)
    {
        lock (_claims)
        {
            var now = time.GetUtcNow();
            if (_claims.TryGetValue(peer, out var entry) && now - entry.Start < window)
            {
                if (entry.Count >= maxPerWindow)
                {
                    return false;
                }
                _claims[peer] = entry with { Count = entry.Count + 1 };
                return true;
            }
            if (!_claims.ContainsKey(peer) && _claims.Count >= maxTrackedPeers)
            {
                foreach (var stale in _claims.Where(c => now - c.Value.Start >= window).Select(c => c.Key).ToList())
                {
                    _claims.Remove(stale);
                }
                if (_claims.Count >= maxTrackedPeers)
                {
                    return false;
                }
            }
            _claims[peer] = (now, 1);
            return true;
        }
    }

    /// <summary>Gives back a claim that handed nothing out (the node had no prekey left).</summary>
    public void Release(PeerId peer)
    {
        lock (_claims)
        {
            if (_claims.TryGetValue(peer, out var entry) && entry.Count > 0)
            {
                _claims[peer] = entry with { Count = entry.Count - 1 };
            }
        }
    }
}
