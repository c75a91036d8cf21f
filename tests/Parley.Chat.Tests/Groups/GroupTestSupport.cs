using System.Text;
using Parley.Chat.Groups;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Tests.Groups;

/// <summary>A named account for tests.</summary>
internal sealed class Person(string name)
{
    public string Name { get; } = name;

    public IdentityKey Key { get; } = IdentityKey.Generate(GroupTestSupport.Provider);

    public PublicKey Account => Key.PublicKey;

    public string Handle => $"{Name}#aaaaaaaa";

    public override string ToString() => Name;
}

/// <summary>One member's replica of a room: its membership log, sender keys and timeline.</summary>
internal sealed class Replica
{
    public Replica(Person person, MembershipLog log)
    {
        Person = person;
        Log = log;
        Session = new GroupSession(GroupTestSupport.Provider, person.Account, log.GroupId);
        Timeline = new GroupTimeline(log.GroupId);
    }

    public Person Person { get; }

    public MembershipLog Log { get; }

    public GroupSession Session { get; }

    public GroupTimeline Timeline { get; }

    public GroupState State => Log.State;
}

internal static class GroupTestSupport
{
    public static readonly DefaultCryptoProvider Provider = DefaultCryptoProvider.Instance;

    public const long Now = 1_767_000_000_000;

    /// <summary>A fresh log for the same room holding copies (bytes round trip) of <paramref name="entries"/>.</summary>
    public static MembershipLog Copy(MembershipLog source, IEnumerable<MembershipEntry>? entries = null)
    {
        var log = new MembershipLog(Provider, source.GroupId, source.LinkKey);
        foreach (var entry in entries ?? source.Entries.Select(e => e.Entry))
        {
            Assert.Equal(AddStatus.Accepted, log.Add(entry.ToBytes()).Status);
        }
        return log;
    }

    /// <summary>Alice creates the room; each other person is invited by Alice and joins. Returns Alice's log.</summary>
    public static MembershipLog Room(Person creator, params Person[] members)
    {
        var log = MembershipLog.Create(Provider, creator.Key, creator.Name, "room", historyEnabled: true, Now);
        foreach (var member in members)
        {
            log.Append(creator.Key, MembershipChange.Invite(member.Account, member.Name), Now);
            log.Append(member.Key, MembershipChange.Join(member.Name), Now);
        }
        return log;
    }

    /// <summary>Everything a member shows: the ordered log with void reasons and the state, as text.</summary>
    public static string Describe(MembershipLog log)
    {
        var state = log.State;
        var text = new StringBuilder();
        text.AppendLine($"name={state.Name} history={state.HistoryEnabled} epoch={state.Epoch}");
        foreach (var entry in log.Entries)
        {
            text.AppendLine($"entry {entry.Entry.Id} {entry.Entry.Kind} void={entry.VoidReason}:{entry.VoidDetail}");
        }
        foreach (var member in state.Members)
        {
            text.AppendLine($"member {member.Account.ToPeerId()} {member.DisplayName} admin={member.IsAdmin} by={member.AddedBy}/{member.AddedByAccount.ToPeerId()}");
        }
        foreach (var invitation in state.Invitations)
        {
            text.AppendLine($"invited {invitation.Account.ToPeerId()} {invitation.DisplayName}");
        }
        foreach (var request in state.Requests)
        {
            text.AppendLine($"request {request.Account.ToPeerId()} {request.DisplayName}");
        }
        foreach (var (account, entry) in state.Departures.OrderBy(d => d.Value))
        {
            text.AppendLine($"departed {account.ToPeerId()} {entry}");
        }
        foreach (var change in state.Audit)
        {
            text.AppendLine(change.Describe());
        }
        return text.ToString();
    }

    public static IEnumerable<T[]> Permutations<T>(T[] items)
    {
        if (items.Length <= 1)
        {
            yield return items;
            yield break;
        }
        for (var i = 0; i < items.Length; i++)
        {
            var rest = items.Where((_, j) => j != i).ToArray();
            foreach (var tail in Permutations(rest))
            {
                yield return [items[i], .. tail];
            }
        }
    }
}

/// <summary>A room's members, each with its own replica; distributions are handed over directly (the pairwise
/// sessions that carry them in production are tested on their own, and once end to end in GroupSessionTests).</summary>
internal sealed class GroupNetwork
{
    private readonly Dictionary<Person, Replica> _replicas = [];

    public GroupNetwork(Person creator, params Person[] members)
        : this(true, creator, members)
    {
    }

    /// <param name="sync">Whether the members exchange their chains pairwise at once (<see cref="Sync"/>).</param>
    public GroupNetwork(bool sync, Person creator, params Person[] members)
    {
        var log = GroupTestSupport.Room(creator, members);
        foreach (var person in members.Prepend(creator))
        {
            _replicas[person] = new Replica(person, GroupTestSupport.Copy(log));
        }
        if (sync)
        {
            Sync();
        }
    }

    public Replica this[Person person] => _replicas[person];

    public IEnumerable<Replica> Replicas => _replicas.Values;

    /// <summary>Signs a change on the author's replica and gives the entry to <paramref name="to"/> (default: everyone).</summary>
    public MembershipEntry Change(Person author, MembershipChange change, params Person[] to)
    {
        var entry = _replicas[author].Log.Append(author.Key, change, GroupTestSupport.Now);
        foreach (var replica in to.Length == 0 ? _replicas.Values : to.Select(p => _replicas[p]))
        {
            replica.Log.Add(entry.ToBytes());
        }
        return entry;
    }

    /// <summary>A replica for someone new, holding a copy of <paramref name="from"/>'s log.</summary>
    public Replica Add(Person person, Person from)
    {
        var replica = new Replica(person, GroupTestSupport.Copy(_replicas[from].Log));
        _replicas[person] = replica;
        return replica;
    }

    /// <summary>Every replica updates its session and the distributions reach their recipients (only those in
    /// <paramref name="only"/>, when given). Returns how many distributions were sent.</summary>
    public int Sync(params Person[] only)
    {
        var sent = 0;
        foreach (var replica in _replicas.Values.ToArray())
        {
            var update = replica.Session.Update(replica.State);
            foreach (var chain in update.Installed)
            {
                replica.Timeline.ExpectChain(chain);
            }
            foreach (var outgoing in update.Outgoing)
            {
                sent++;
                var recipient = _replicas.Values.Single(r => r.Person.Account.Equals(outgoing.Recipient));
                if (only.Length == 0 || only.Contains(recipient.Person))
                {
                    var result = recipient.Session.ReceiveDistribution(replica.Person.Account, outgoing.Payload, recipient.State);
                    if (result.Chain is { } chain)
                    {
                        recipient.Timeline.ExpectChain(chain);
                    }
                }
            }
        }
        return sent;
    }

    /// <summary>
    /// Chains travel as the engine sends them (docs/groups.md, "Keys through the admins"): each member signs its chain
    /// and sends it to the admins; then each admin sends its own and passes on the others' chains each member lacks.
    /// Returns the distributions each member sent.
    /// </summary>
    public Dictionary<Person, int> SyncThroughAdmins()
    {
        var sent = _replicas.Keys.ToDictionary(p => p, _ => 0);
        foreach (var replica in _replicas.Values.OrderBy(r => r.State.IsAdmin(r.Person.Account)).ToArray())
        {
            var state = replica.State;
            var isAdmin = state.IsAdmin(replica.Person.Account);
            var update = replica.Session.Update(state, replica.Person.Key, isAdmin ? null : state.IsAdmin);
            foreach (var chain in update.Installed)
            {
                replica.Timeline.ExpectChain(chain);
            }
            foreach (var outgoing in update.Outgoing.Concat(isAdmin ? replica.Session.Relay(state) : []))
            {
                sent[replica.Person]++;
                var recipient = _replicas.Values.Single(r => r.Person.Account.Equals(outgoing.Recipient));
                if (recipient.Session.ReceiveDistribution(replica.Person.Account, outgoing.Payload, recipient.State).Chain is { } chain)
                {
                    recipient.Timeline.ExpectChain(chain);
                }
            }
        }
        return sent;
    }

    public SentGroupMessage Send(Person sender, string text)
    {
        var replica = _replicas[sender];
        var (lamport, parents) = replica.Timeline.NextClock();
        var sent = replica.Session.Encrypt(text, lamport, parents, GroupTestSupport.Now);
        Assert.True(replica.Timeline.Add(sent.Message));
        return sent;
    }

    public GroupMessage Deliver(Person to, byte[] ciphertext)
    {
        var replica = _replicas[to];
        var message = replica.Session.Decrypt(ciphertext, replica.State);
        replica.Timeline.Add(message);
        return message;
    }
}
