using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>Iterations <paramref name="FirstIteration"/> to <paramref name="LastIteration"/> (inclusive) of one sender's
/// chain that have not arrived although later ones have: ask other members for them, or show a gap.</summary>
public sealed record MessageGap(PublicKey Sender, Id256 Epoch, uint ChainId, uint FirstIteration, uint LastIteration);

/// <summary>
/// A room's messages in the one order every member shows (docs/groups.md section 3): ascending (Lamport clock, sender
/// key bytes, id). Keeps the Lamport clock and the heads (messages no other names as parent) for the next message,
/// and reports what is missing: parents never seen, and holes in each sender's iterations. Not thread-safe.
/// </summary>
public sealed class GroupTimeline
{
    /// <summary>The most heads a new message names.</summary>
    public const int MaxParentsPerMessage = 8;

    private readonly SortedSet<GroupMessage> _ordered = new(GroupMessage.DisplayOrder);
    private readonly Dictionary<Id256, GroupMessage> _byId = [];
    private readonly HashSet<Id256> _fromHistory = [];
    private readonly HashSet<Id256> _referenced = [];
    private readonly HashSet<Id256> _heads = [];
    private readonly Dictionary<(PublicKey Sender, Id256 Epoch, uint ChainId), ChainProgress> _chains = [];
    private ulong _maxLamport;

    public GroupTimeline(Id256 groupId) => GroupId = groupId;

    public Id256 GroupId { get; }

    public int Count => _ordered.Count;

    /// <summary>Every message, in display order.</summary>
    public IReadOnlyList<GroupMessage> Messages => [.. _ordered];

    /// <summary>Parents named by messages here that are not here themselves, ascending.</summary>
    public IReadOnlyList<Id256> MissingParents => [.. _referenced.Where(id => !_byId.ContainsKey(id)).Order()];

    /// <summary>Holes in each sender's iterations, per chain: between the first iteration expected (or the lowest seen)
    /// and the highest seen.</summary>
    public IReadOnlyList<MessageGap> Gaps =>
        [.. GapsWhere(_ => true).OrderBy(g => Convert.ToHexString(g.Sender.Raw), StringComparer.Ordinal).ThenBy(g => g.Epoch).ThenBy(g => g.ChainId).ThenBy(g => g.FirstIteration)];

    /// <summary>The gaps in one sender's chains (read after each of its messages: no sorting of everyone's).</summary>
    public IEnumerable<MessageGap> GapsOf(PublicKey sender) => GapsWhere(sender.Equals);

    private IEnumerable<MessageGap> GapsWhere(Func<PublicKey, bool> sender)
    {
        foreach (var ((from, epoch, chainId), progress) in _chains)
        {
            if (progress.Seen.Count == 0 || !sender(from))
            {
                continue;
            }
            long expected = Math.Min(progress.FirstExpected ?? progress.Seen.Min, progress.Seen.Min);
            foreach (var iteration in progress.Seen)
            {
                if (iteration > expected)
                {
                    yield return new MessageGap(from, epoch, chainId, (uint)expected, iteration - 1);
                }
                expected = (long)iteration + 1;
            }
        }
    }

    public bool Contains(Id256 id) => _byId.ContainsKey(id);

    public GroupMessage? Find(Id256 id) => _byId.GetValueOrDefault(id);

    /// <summary>Whether the message came from a history bundle rather than from its sender's chain.</summary>
    public bool IsFromHistory(Id256 id) => _fromHistory.Contains(id);

    /// <summary>The clock and parents for the next message this member sends: 1 + the largest clock seen, and the
    /// latest heads (at most <see cref="MaxParentsPerMessage"/>).</summary>
    public (ulong Lamport, IReadOnlyList<Id256> Parents) NextClock() =>
        (_maxLamport + 1, [.. _heads.Select(id => _byId[id]).OrderDescending(GroupMessage.DisplayOrder).Take(MaxParentsPerMessage).Select(m => m.Id).Order()]);

    /// <summary>Says from which iteration a chain is readable (<see cref="SenderChainInfo.FirstIteration"/>), so that
    /// messages lost before the first one that arrives count as a gap.</summary>
    public void ExpectChain(SenderChainInfo chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        var progress = Progress(chain.Sender, chain.Epoch, chain.ChainId);
        progress.FirstExpected = progress.FirstExpected is { } first ? Math.Min(first, chain.FirstIteration) : chain.FirstIteration;
    }

    /// <summary>Replaces a message by its erased form (its author deleted it): it keeps its place, its content is gone.</summary>
    public void Erase(Id256 id)
    {
        if (_byId.TryGetValue(id, out var message) && !message.IsErased)
        {
            _ordered.Remove(message);
            var erased = message.Erase();
            _ordered.Add(erased);
            _byId[id] = erased;
        }
    }

    /// <summary>Adds a message sent or received; false if it is already here.</summary>
    public bool Add(GroupMessage message) => Add(message, fromHistory: false);

    /// <summary>Merges a history bundle; messages already here are skipped. Returns how many were added.</summary>
    /// <exception cref="ArgumentException">The bundle is for another room.</exception>
    public int Merge(HistoryBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        if (bundle.GroupId != GroupId)
        {
            throw new ArgumentException("the history bundle is for another room", nameof(bundle));
        }
        return bundle.Messages.Count(m => Add(m, fromHistory: true));
    }

    internal bool Add(GroupMessage message, bool fromHistory)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.GroupId != GroupId)
        {
            throw new ArgumentException("the message is for another room", nameof(message));
        }
        if (!_byId.TryAdd(message.Id, message))
        {
            return false;
        }
        _ordered.Add(message);
        if (fromHistory)
        {
            _fromHistory.Add(message.Id);
        }
        _maxLamport = Math.Max(_maxLamport, message.Lamport);
        foreach (var parent in message.Parents)
        {
            _referenced.Add(parent);
            _heads.Remove(parent);
        }
        if (!_referenced.Contains(message.Id))
        {
            _heads.Add(message.Id);
        }
        Progress(message.Sender, message.Epoch, message.ChainId).Seen.Add(message.Iteration);
        return true;
    }

    private ChainProgress Progress(PublicKey sender, Id256 epoch, uint chainId)
    {
        if (!_chains.TryGetValue((sender, epoch, chainId), out var progress))
        {
            _chains[(sender, epoch, chainId)] = progress = new ChainProgress();
        }
        return progress;
    }

    private sealed class ChainProgress
    {
        public SortedSet<uint> Seen { get; } = [];

        public uint? FirstExpected { get; set; }
    }
}
