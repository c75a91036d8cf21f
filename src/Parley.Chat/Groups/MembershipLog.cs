using System.Security.Cryptography;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>What <see cref="MembershipLog.Add(MembershipEntry)"/> did with an entry.</summary>
public enum AddStatus
{
    /// <summary>Now in the log (possibly void: see <see cref="LoggedEntry.VoidReason"/>).</summary>
    Accepted,

    /// <summary>Already in the log or already held: a replay.</summary>
    Duplicate,

    /// <summary>Held until its missing parents arrive.</summary>
    Pending,

    /// <summary>Refused and not kept; see the reason.</summary>
    Rejected,
}

/// <param name="Reason">Why it was rejected (Rejected only).</param>
/// <param name="MissingParents">Parents not yet in the log (Pending only): fetch them from other members.</param>
/// <param name="Accepted">Entries that entered the log because of this call: the entry and any held ones it released, in the order added.</param>
public sealed record AddResult(
    AddStatus Status,
    MembershipFailure? Reason,
    string? Detail,
    IReadOnlyList<Id256> MissingParents,
    IReadOnlyList<MembershipEntry> Accepted)
{
    public override string ToString() => Reason is null ? Status.ToString() : $"{Status} ({Reason}: {Detail})";
}

/// <summary>An entry in log order, and why it is void if it is.</summary>
public sealed record LoggedEntry(MembershipEntry Entry, MembershipFailure? VoidReason, string? VoidDetail)
{
    public bool IsVoid => VoidReason is not null;
}

/// <summary>
/// A room's membership log: a DAG of signed entries (parents are the heads the author saw) replayed in one
/// deterministic order, ascending (Lamport clock, entry id). Since every entry's clock is 1 + its parents' largest,
/// that order is topological, and it depends only on the set of entries, never on the order they arrived in: every
/// member holding the same entries has the same ordered log and the same <see cref="State"/>. An entry is
/// <em>rejected</em> when it could not have been valid even in its author's view (the state at its parents), and is
/// then invalid for every member alike; otherwise it is kept for good, and is <em>void</em> when, at its place in the
/// order, its author no longer had the right (two admins acting at once). See docs/groups.md section 1.
/// Not thread-safe.
/// </summary>
public sealed class MembershipLog
{
    /// <summary>Bound on entries held while waiting for their parents.</summary>
    public const int MaxPendingEntries = 1000;

    private readonly ICryptoProvider _crypto;
    private readonly byte[] _linkKey;
    private readonly byte[] _linkKeyHash;
    private readonly Dictionary<Id256, MembershipEntry> _byId = [];
    private readonly List<Node> _ordered = [];
    private readonly HashSet<Id256> _heads = [];
    private readonly Dictionary<Id256, MembershipEntry> _pending = [];
    private GroupStateBuilder _builder;
    private GroupState? _state;

    /// <summary>An entry was inserted before others already applied: the builder (and the void marks) are replayed at the
    /// next read, so that a burst of concurrent entries costs one replay, not one each.</summary>
    private bool _replayPending;

    /// <summary>An empty log for a room known by its id and link key (from the invite link or the welcome an inviter
    /// sends). The first entry it accepts is the room's Create.</summary>
    public MembershipLog(ICryptoProvider crypto, Id256 groupId, ReadOnlySpan<byte> linkKey)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        if (linkKey.Length != MembershipEntry.LinkKeySize)
        {
            throw new ArgumentException($"a link key is {MembershipEntry.LinkKeySize} bytes", nameof(linkKey));
        }
        _crypto = crypto;
        GroupId = groupId;
        _linkKey = linkKey.ToArray();
        _linkKeyHash = MembershipEntry.ComputeLinkKeyHash(crypto, linkKey);
        _builder = new GroupStateBuilder(crypto, groupId);
    }

    public Id256 GroupId { get; }

    /// <summary>The secret in the room's invite link; members need it to check join requests.</summary>
    public ReadOnlySpan<byte> LinkKey => _linkKey;

    /// <summary>Every accepted entry in log order, void ones included.</summary>
    public IReadOnlyList<LoggedEntry> Entries
    {
        get
        {
            ReplayIfPending();
            return [.. _ordered.Select(n => new LoggedEntry(n.Entry, n.Void?.Reason, n.Void?.Detail))];
        }
    }

    public int Count => _ordered.Count;

    /// <summary>Entries no other entry names as a parent, ascending.</summary>
    public IReadOnlyList<Id256> Heads => [.. _heads.Order()];

    /// <summary>
    /// The parents of the next entry, ascending: the heads, at most <see cref="MembershipEntry.MaxParents"/> of them,
    /// latest first so that the newest head (whose clock the next entry's clock follows) is always among them. Heads
    /// left out (after a burst of concurrent requests) stay heads and are named by a later entry.
    /// </summary>
    public IReadOnlyList<Id256> NextParents => ParentsFor(null, null);

    /// <summary>
    /// <see cref="NextParents"/> for an entry by <paramref name="author"/> about <paramref name="target"/>: heads
    /// concerning either come right after the newest, because the entry is checked against the state at its parents
    /// (approving a request needs that request among its ancestors).
    /// </summary>
    private List<Id256> ParentsFor(PublicKey? author, PublicKey? target)
    {
        bool Concerns(MembershipEntry e) =>
            (author is not null && (e.Author == author || e.Target == author)) || (target is not null && (e.Author == target || e.Target == target));
        var byRecency = _heads.OrderByDescending(id => _byId[id].Lamport).ThenBy(id => id).ToList();
        if (byRecency.Count <= MembershipEntry.MaxParents)
        {
            return [.. byRecency.Order()];
        }
        var chosen = byRecency.Take(1)
            .Concat(byRecency.Skip(1).Where(id => Concerns(_byId[id])))
            .Concat(byRecency.Skip(1).Where(id => !Concerns(_byId[id])));
        return [.. chosen.Take(MembershipEntry.MaxParents).Order()];
    }

    /// <summary>The Lamport clock of the next entry: 1 + the largest clock in the log.</summary>
    public ulong NextLamport => _ordered.Count == 0 ? 1 : _ordered[^1].Entry.Lamport + 1;

    public int PendingCount => _pending.Count;

    /// <summary>Parents that held entries wait for: ask other members for them.</summary>
    public IReadOnlyList<Id256> MissingParents =>
        [.. _pending.Values.SelectMany(e => e.Parents).Where(p => !_byId.ContainsKey(p) && !_pending.ContainsKey(p)).Distinct().Order()];

    /// <exception cref="InvalidOperationException">The log has no Create entry yet.</exception>
    public GroupState State
    {
        get
        {
            ReplayIfPending();
            return _state ??= _builder.Snapshot();
        }
    }

    /// <summary>Creates a room: a random group id and link key, and the Create entry signed by the first admin.</summary>
    public static MembershipLog Create(ICryptoProvider crypto, IdentityKey creator, string creatorName, string roomName, bool historyEnabled, long timestampMs)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(creator);
        Span<byte> random = stackalloc byte[Id256.Size + MembershipEntry.LinkKeySize];
        crypto.RandomBytes(random);
        var log = new MembershipLog(crypto, Id256.FromBytes(random[..Id256.Size]), random[Id256.Size..]);
        CryptographicOperations.ZeroMemory(random);
        var create = MembershipEntry.Sign(
            crypto, creator, log.GroupId, [], 1, MembershipChange.Create(creatorName, roomName, historyEnabled), log._linkKeyHash, null, timestampMs);
        log.Add(create);
        return log;
    }

    /// <summary>The room's invite link naming <paramref name="adminHandle"/> as the admin to ask.</summary>
    public GroupInviteLink InviteLink(string adminHandle) => new(GroupId, _linkKey, adminHandle);

    public bool Contains(Id256 id) => _byId.ContainsKey(id);

    public MembershipEntry? Find(Id256 id) => _byId.GetValueOrDefault(id);

    /// <summary>Signs <paramref name="change"/> by <paramref name="author"/> on top of the current heads and adds it.</summary>
    /// <returns>The entry, to send to every member (and, for an invitation, the whole log to the invitee).</returns>
    /// <exception cref="MembershipException">The author may not make this change now; the reason says why.</exception>
    /// <exception cref="ArgumentException">A field is out of bounds.</exception>
    public MembershipEntry Append(IdentityKey author, MembershipChange change, long timestampMs)
    {
        ArgumentNullException.ThrowIfNull(author);
        ArgumentNullException.ThrowIfNull(change);
        if (change.Kind is MembershipKind.Create or MembershipKind.Request)
        {
            throw new ArgumentException($"{change.Kind} entries come from MembershipLog.Create and MembershipEntry.SignRequest", nameof(change));
        }
        var entry = MembershipEntry.Sign(
            _crypto, author, GroupId, ParentsFor(author.PublicKey, change.Target), NextLamport, change, null, null, timestampMs);
        var result = Add(entry);
        return result.Status == AddStatus.Accepted
            ? entry
            : throw new MembershipException(result.Reason ?? MembershipFailure.Malformed, result.Detail ?? result.Status.ToString());
    }

    /// <summary>Parses and adds an entry received from another member.</summary>
    public AddResult Add(ReadOnlySpan<byte> encoded)
    {
        try
        {
            return Add(MembershipEntry.Parse(encoded, _crypto));
        }
        catch (MembershipException e)
        {
            return Rejected(e.Reason, e.Message);
        }
    }

    public AddResult Add(MembershipEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.GroupId != GroupId)
        {
            return Rejected(MembershipFailure.WrongGroup, $"the entry is for room {entry.GroupId.ToShortString()}, not {GroupId.ToShortString()}");
        }
        if (_byId.ContainsKey(entry.Id) || _pending.ContainsKey(entry.Id))
        {
            return new AddResult(AddStatus.Duplicate, null, "the entry is already in the log", [], []);
        }
        if (entry.Parents.Count > MembershipEntry.MaxParents)
        {
            // What the parser refuses on the wire is refused here too, so an author never keeps what nobody else can.
            return Rejected(MembershipFailure.Malformed, $"an entry names at most {MembershipEntry.MaxParents} parents, this one {entry.Parents.Count}");
        }
        if (!entry.VerifySignature(_crypto))
        {
            return Rejected(MembershipFailure.ForgedSignature, $"the signature does not verify under the author's key ({entry.Author.ToPeerId()})");
        }
        if (entry.Kind == MembershipKind.Create && !CryptographicOperations.FixedTimeEquals(entry.LinkKeyHash, _linkKeyHash))
        {
            return Rejected(MembershipFailure.BadLinkProof, "the Create entry commits to another link key than the one this log was given");
        }
        if (entry.Kind == MembershipKind.Request &&
            !CryptographicOperations.FixedTimeEquals(entry.LinkProof, MembershipEntry.ComputeLinkProof(_crypto, _linkKey, GroupId, entry.Author)))
        {
            return Rejected(MembershipFailure.BadLinkProof, "the request does not prove that its author holds the room's link");
        }
        var missing = entry.Parents.Where(p => !_byId.ContainsKey(p)).ToArray();
        if (missing.Length > 0)
        {
            if (_pending.Count >= MaxPendingEntries)
            {
                return Rejected(MembershipFailure.TooManyPending, $"{MaxPendingEntries} entries already wait for their parents");
            }
            _pending.Add(entry.Id, entry);
            return new AddResult(AddStatus.Pending, null, $"waiting for {missing.Length} parent(s)", missing, []);
        }
        var failure = Insert(entry);
        if (failure is { } f)
        {
            return Rejected(f.Reason, f.Detail);
        }
        var accepted = new List<MembershipEntry> { entry };
        ReleasePending(accepted);
        return new AddResult(AddStatus.Accepted, null, null, [], accepted);
    }

    private static AddResult Rejected(MembershipFailure reason, string detail) => new(AddStatus.Rejected, reason, detail, [], []);

    /// <summary>Held entries whose parents have all arrived enter the log; those invalid at their parents are dropped.</summary>
    private void ReleasePending(List<MembershipEntry> accepted)
    {
        bool progress;
        do
        {
            progress = false;
            foreach (var held in _pending.Values.Where(e => e.Parents.All(_byId.ContainsKey)).OrderBy(e => e.Lamport).ThenBy(e => e.Id).ToArray())
            {
                _pending.Remove(held.Id);
                if (Insert(held) is null)
                {
                    accepted.Add(held);
                    progress = true;
                }
            }
        }
        while (progress);
    }

    /// <summary>Checks an entry whose parents are all present against the state at its parents, then adds it.</summary>
    private (MembershipFailure Reason, string Detail)? Insert(MembershipEntry entry)
    {
        var expectedClock = entry.Parents.Count == 0 ? 1 : entry.Parents.Max(p => _byId[p].Lamport) + 1;
        if (entry.Lamport != expectedClock)
        {
            return (MembershipFailure.BadClock, $"the Lamport clock is {entry.Lamport}, but its parents make it {expectedClock}");
        }
        if (entry.Kind == MembershipKind.Create && _ordered.Count > 0)
        {
            return (MembershipFailure.SecondCreate, "the log already has a Create entry");
        }
        var failure = StateAtParents(entry).Check(entry);
        if (failure is not null)
        {
            return failure;
        }
        _byId.Add(entry.Id, entry);
        foreach (var parent in entry.Parents)
        {
            _heads.Remove(parent);
        }
        _heads.Add(entry.Id);
        _state = null;
        var node = new Node(entry);
        if (_ordered.Count == 0 || Compare(_ordered[^1].Entry, entry) < 0)
        {
            _ordered.Add(node);
            if (!_replayPending)
            {
                // The common case: the entry sorts last, so the state so far stays valid.
                node.Void = _builder.Apply(entry);
            }
            return null;
        }
        // A concurrent entry sorts before others already applied: everything is replayed in the new order, once the
        // state or the void marks are read.
        var index = _ordered.FindIndex(n => Compare(n.Entry, entry) > 0);
        _ordered.Insert(index, node);
        _replayPending = true;
        return null;
    }

    /// <summary>Does the replay an earlier insertion left pending, so that the builder and the void marks are current.</summary>
    private void ReplayIfPending()
    {
        if (!_replayPending)
        {
            return;
        }
        _builder = new GroupStateBuilder(_crypto, GroupId);
        foreach (var n in _ordered)
        {
            n.Void = _builder.Apply(n.Entry);
        }
        _replayPending = false;
    }

    /// <summary>The state the author saw: the replay of the entry's ancestors alone.</summary>
    private GroupStateBuilder StateAtParents(MembershipEntry entry)
    {
        if (entry.Parents.Count == _heads.Count && entry.Parents.All(_heads.Contains))
        {
            // Naming every head means every entry in the log is an ancestor.
            ReplayIfPending();
            return _builder;
        }
        var ancestors = new HashSet<Id256>();
        var stack = new Stack<Id256>(entry.Parents);
        while (stack.TryPop(out var id))
        {
            if (ancestors.Add(id))
            {
                foreach (var parent in _byId[id].Parents)
                {
                    stack.Push(parent);
                }
            }
        }
        var builder = new GroupStateBuilder(_crypto, GroupId);
        foreach (var node in _ordered)
        {
            if (ancestors.Contains(node.Entry.Id))
            {
                builder.Apply(node.Entry);
            }
        }
        return builder;
    }

    private static int Compare(MembershipEntry a, MembershipEntry b)
    {
        var byClock = a.Lamport.CompareTo(b.Lamport);
        return byClock != 0 ? byClock : a.Id.CompareTo(b.Id);
    }

    private sealed class Node(MembershipEntry entry)
    {
        public MembershipEntry Entry { get; } = entry;

        public (MembershipFailure Reason, string Detail)? Void { get; set; }
    }
}
