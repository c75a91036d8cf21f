using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Parley.Node.Api;

/// <summary>
/// One-time permissions to download one file without the bearer token (docs/api.md). A page cannot put the token on a
/// link, and fetching a file into the page to save it holds all of it in memory; with a ticket the browser itself
/// downloads it, straight to disk. A ticket is random, names one path, serves one request, and lapses after a minute, so
/// one left in the browser's download list opens nothing.
/// </summary>
internal sealed class DownloadTickets(TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(1);

    /// <summary>Bounds what unused tickets can hold; the oldest are dropped first.</summary>
    private const int MaxOutstanding = 256;

    private readonly ConcurrentDictionary<string, (string Path, DateTimeOffset Expires)> _tickets = new(StringComparer.Ordinal);

    public DownloadTickets()
        : this(TimeProvider.System)
    {
    }

    /// <summary>A ticket for one GET of <paramref name="path"/>.</summary>
    public string Issue(string path)
    {
        var now = time.GetUtcNow();
        foreach (var stale in _tickets.Where(t => t.Value.Expires <= now).Select(t => t.Key).ToList())
        {
            _tickets.TryRemove(stale, out _);
        }
        while (_tickets.Count >= MaxOutstanding && _tickets.MinBy(t => t.Value.Expires) is { Key: { } oldest })
        {
            _tickets.TryRemove(oldest, out _);
        }
        var ticket = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        _tickets[ticket] = (path, now + Lifetime);
        return ticket;
    }

    /// <summary>Spends <paramref name="ticket"/>: true once, for the path it was issued for, within its lifetime.</summary>
    public bool Redeem(string ticket, string path) =>
        _tickets.TryRemove(ticket, out var issued)
        && string.Equals(issued.Path, path, StringComparison.OrdinalIgnoreCase)
        && time.GetUtcNow() < issued.Expires;
}
