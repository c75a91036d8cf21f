using System.Diagnostics;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Transport;

namespace Parley.Net.Host;

/// <summary>
/// Which of a peer's addresses to dial when, as go-libp2p's dial ranker ("smart dialing") does: direct addresses a
/// quarter second apart (loopback, then private, then public), relayed ones at once unless a public direct address
/// may answer first, in which case half a second later. A loopback or private address of a peer on another network
/// cannot work and may not even fail (the SYN is dropped), so it never holds the relay back; and when every dial
/// started so far has failed, the next one starts at once instead of at its turn.
/// </summary>
internal static class DialRanking
{
    /// <summary>Between two direct addresses.</summary>
    public static readonly TimeSpan Step = TimeSpan.FromMilliseconds(250);

    /// <summary>Relayed addresses wait this long when the peer has a public direct address (go-libp2p's RelayDelay).</summary>
    public static readonly TimeSpan RelayDelay = TimeSpan.FromMilliseconds(500);

    /// <summary>Every address with its delay from the start of the race, earliest first.</summary>
    public static IReadOnlyList<(Multiaddr Address, TimeSpan Delay)> Schedule(IEnumerable<Multiaddr> direct, IEnumerable<Multiaddr> relayed)
    {
        var ranked = direct.OrderBy(a => AddressScopes.Of(a) ?? AddressScope.Public).ToList();
        var relayStart = ranked.Any(AddressScopes.IsPublic) ? RelayDelay : TimeSpan.Zero;
        return ranked.Select((a, i) => (Address: a, Delay: Step * i))
            .Concat(relayed.Select((a, i) => (Address: a, Delay: relayStart + (Step * i))))
            .OrderBy(s => s.Delay)
            .ToList();
    }

    /// <summary>
    /// Runs the schedule: starts each dial at its turn, or at once when nothing is in flight any more (everything
    /// started failed); the first dial that succeeds wins and the others are cancelled.
    /// </summary>
    /// <exception cref="PeerConnectionException">Every dial failed (the last failure is the message).</exception>
    public static async Task<T> RaceAsync<T>(PeerId peer, IReadOnlyList<(Multiaddr Address, TimeSpan Delay)> schedule, Func<Multiaddr, CancellationToken, Task<T>> dial, CancellationToken cancellationToken)
    {
        if (schedule.Count == 0)
        {
            throw new PeerConnectionException($"no known address for {peer}");
        }
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var started = Stopwatch.GetTimestamp();
        var movedUp = TimeSpan.Zero;
        var next = 0;
        var inFlight = new List<Task<T>>();
        var failures = new List<Exception>();
        while (true)
        {
            var now = Stopwatch.GetElapsedTime(started) + movedUp;
            while (next < schedule.Count && (schedule[next].Delay <= now || inFlight.Count == 0))
            {
                if (schedule[next].Delay > now)
                {
                    // Nothing left in flight: the rest of the schedule moves up.
                    movedUp += schedule[next].Delay - now;
                    now = schedule[next].Delay;
                }
                inFlight.Add(dial(schedule[next].Address, race.Token));
                next++;
            }
            if (inFlight.Count == 0)
            {
                break;
            }
            using var turn = CancellationTokenSource.CreateLinkedTokenSource(race.Token);
            var nextTurn = next < schedule.Count ? Task.Delay(schedule[next].Delay - now, turn.Token) : Task.Delay(Timeout.Infinite, turn.Token);
            var done = await Task.WhenAny(inFlight.Cast<Task>().Append(nextTurn)).ConfigureAwait(false);
            await turn.CancelAsync().ConfigureAwait(false);
            if (done is not Task<T> attempt)
            {
                cancellationToken.ThrowIfCancellationRequested();
                continue;
            }
            inFlight.Remove(attempt);
            try
            {
                var result = await attempt.ConfigureAwait(false);
                await race.CancelAsync().ConfigureAwait(false);
                return result;
            }
            catch (PeerConnectionException e)
            {
                failures.Add(e);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Not ours to report: this attempt's own dial was cut short.
            }
        }
        cancellationToken.ThrowIfCancellationRequested();
        throw new PeerConnectionException(
            failures.Count == 0 ? $"no dial of {peer} at {schedule.Count} addresses completed" : $"cannot reach {peer} at any of {schedule.Count} addresses: {failures[^1].Message}",
            new AggregateException(failures));
    }
}
