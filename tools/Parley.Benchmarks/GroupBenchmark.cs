using System.Diagnostics;
using Parley.Chat.Crypto;
using Parley.Chat.Groups;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Benchmarks;

/// <summary>
/// Group chat costs, in memory, with real Double Ratchet sessions (set up by X3DH from generated keys) between the
/// members involved: (a) one group message: the sender's CPU and the bytes it sends; (b) removing a member: the
/// remover's CPU to sign the Remove, make its new chain and encrypt it to every remaining member, and each remaining
/// member's CPU to check the entry, rotate, encrypt its chain to everyone and decrypt everyone's. A sample of members
/// is measured in full (their sessions with every other member exist); the room-wide total is the sampled mean times
/// the number of remaining members. CPU is the process's processor time (all threads, so GC included); wall-clock
/// time is printed beside it.
/// </summary>
internal static class GroupBenchmark
{
    private const int MessageSize = 1024;
    private const int Messages = 200;

    public sealed record Result(
        int Members,
        int Sampled,
        double EncryptMicros,
        double DecryptMicros,
        int CiphertextBytes,
        double PairwiseFanOutMicros,
        double RemoverCpuMs,
        double RemoverWallMs,
        int DistributionBytes,
        double MemberCpuMeanMs,
        double MemberCpuMaxMs,
        double MemberWallMeanMs,
        double MemberInboundCpuMeanMs,
        double MemberInboundWithDhStepsCpuMeanMs,
        double AllMembersCpuSeconds);

    public static Result Run(int members, int sampled)
    {
        var crypto = DefaultCryptoProvider.Instance;
        sampled = Math.Min(sampled, members - 2);
        var typical = new Room(crypto, members, sampled, sampledSpokeLast: false).Measure();
        // Again, with the sampled members having spoken last in their pairwise sessions, so that nearly every
        // distribution they receive starts a new chain and costs a DH ratchet step to open.
        var withDhSteps = new Room(crypto, members, sampled, sampledSpokeLast: true).Measure();
        return typical with { MemberInboundWithDhStepsCpuMeanMs = withDhSteps.MemberInboundCpuMeanMs };
    }

    public static string Describe(Result r) =>
        $"groups, {r.Members} members: one 1 KiB message: encrypt {r.EncryptMicros:0.0} µs, decrypt {r.DecryptMicros:0.0} µs, ciphertext {r.CiphertextBytes} bytes " +
        $"({r.CiphertextBytes * (long)(r.Members - 1):N0} bytes for {r.Members - 1} copies; pairwise encryption to each instead: {r.PairwiseFanOutMicros / 1000:0.0} ms)\n" +
        $"groups, {r.Members} members: remove one: remover {r.RemoverCpuMs:0.0} ms CPU ({r.RemoverWallMs:0.0} ms wall; sign, new chain, {r.Members - 2} distributions of {r.DistributionBytes} bytes over the ratchet) (goal: <= 1000 ms)\n" +
        $"groups, {r.Members} members: each remaining member (mean of {r.Sampled}): {r.MemberCpuMeanMs:0.0} ms CPU (max {r.MemberCpuMaxMs:0.0}, wall {r.MemberWallMeanMs:0.0}) " +
        $"to check the entry, rotate and send {r.Members - 3} distributions, plus {r.MemberInboundCpuMeanMs:0.0} ms to open the {r.Members - 3} it receives " +
        $"({r.MemberInboundWithDhStepsCpuMeanMs:0.0} ms when nearly each needs a DH ratchet step); all {r.Members - 2} remaining members together: {r.AllMembersCpuSeconds:0.0} s CPU " +
        $"({(r.MemberCpuMeanMs + r.MemberInboundWithDhStepsCpuMeanMs) * (r.Members - 2) / 1000:0.0} s with the DH steps); " +
        $"until everyone has the new keys (excluding network, with the DH steps): about {r.RemoverWallMs + r.MemberWallMeanMs + r.MemberInboundWithDhStepsCpuMeanMs:0} ms";

    private sealed class Room
    {
        private readonly ICryptoProvider _crypto;
        private readonly Person[] _people;
        private readonly int _sampled;
        private readonly MembershipLog _log;
        private readonly Dictionary<(int From, int To), RatchetSession> _sessions = [];
        private readonly Dictionary<PublicKey, int> _index;

        public Room(ICryptoProvider crypto, int members, int sampled, bool sampledSpokeLast)
        {
            _crypto = crypto;
            _sampled = sampled;
            _people = [.. Enumerable.Range(0, members).Select(i => new Person(crypto, i))];
            _index = _people.ToDictionary(p => p.Account, p => p.Index);
            _log = MembershipLog.Create(crypto, _people[0].Key, "p0", "bench", historyEnabled: false, 0);
            foreach (var person in _people.Skip(1))
            {
                _log.Append(_people[0].Key, MembershipChange.Invite(person.Account, $"p{person.Index}"), 0);
                _log.Append(person.Key, MembershipChange.Join(), 0);
            }
            // The remover (0) and the sampled members (1..sampled) have sessions with everyone.
            for (var low = 0; low <= sampled; low++)
            {
                for (var high = low + 1; high < members; high++)
                {
                    Pair(low, high, sampledSpokeLast);
                }
            }
        }

        private IEnumerable<int> SampledMembers => Enumerable.Range(1, _sampled);

        private int Removed => _people.Length - 1;

        public Result Measure()
        {
            var remover = Replica(0);
            var receiver = Replica(1);
            var groupId = _log.GroupId;
            Deliver(remover, receiver);
            var plaintext = new string('x', MessageSize);

            // (a) One message: warm-up, then the mean over Messages.
            for (var i = 0; i < 20; i++)
            {
                receiver.Session.Decrypt(remover.Session.Encrypt(plaintext, 1, [], 0).Ciphertext, receiver.Log.State);
            }
            var sent = new byte[Messages][];
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < Messages; i++)
            {
                sent[i] = remover.Session.Encrypt(plaintext, 1, [], 0).Ciphertext;
            }
            var encrypt = Stopwatch.GetElapsedTime(started).TotalMicroseconds / Messages;
            started = Stopwatch.GetTimestamp();
            foreach (var ciphertext in sent)
            {
                receiver.Session.Decrypt(ciphertext, receiver.Log.State);
            }
            var decrypt = Stopwatch.GetElapsedTime(started).TotalMicroseconds / Messages;
            var pairwise = PairwiseFanOut(System.Text.Encoding.UTF8.GetBytes(plaintext));

            // (b) The removal, as the remover does it.
            var cpu = Cpu();
            started = Stopwatch.GetTimestamp();
            var entry = remover.Log.Append(_people[0].Key, MembershipChange.Remove(_people[Removed].Account), 1);
            var update = remover.Session.Update(remover.Log.State);
            var wire = new Dictionary<PublicKey, byte[]>(update.Outgoing.Count);
            foreach (var outgoing in update.Outgoing)
            {
                wire[outgoing.Recipient] = _sessions[(0, IndexOf(outgoing.Recipient))].Encrypt(outgoing.Payload).ToBytes();
            }
            var removerWall = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var removerCpu = (Cpu() - cpu).TotalMilliseconds;
            var distributionBytes = update.Outgoing[0].Payload.Length;
            var entryBytes = entry.ToBytes();
            var state = remover.Log.State;

            // Each other remaining member's new chain, made up front for the sampled members to receive.
            var inbound = SampledMembers.ToDictionary(m => m, _ => new List<(int From, byte[] Wire)>());
            for (var j = 1; j < Removed; j++)
            {
                var session = new GroupSession(_crypto, _people[j].Account, groupId);
                foreach (var outgoing in session.Update(state).Outgoing)
                {
                    var to = IndexOf(outgoing.Recipient);
                    if (inbound.TryGetValue(to, out var list))
                    {
                        list.Add((j, _sessions[(j, to)].Encrypt(outgoing.Payload).ToBytes()));
                    }
                }
            }
            foreach (var (m, list) in inbound)
            {
                list.Add((0, wire[_people[m].Account]));
            }

            // Every sampled member: check the entry, rotate, send its chain to everyone, open everyone's.
            var memberCpu = new List<double>();
            var memberWall = new List<double>();
            var inboundCpu = new List<double>();
            foreach (var m in SampledMembers)
            {
                var member = m == 1 ? receiver : Replica(m);
                cpu = Cpu();
                started = Stopwatch.GetTimestamp();
                var added = member.Log.Add(entryBytes);
                if (added.Status != AddStatus.Accepted)
                {
                    throw new InvalidOperationException($"member {m} did not accept the removal: {added}");
                }
                var rotation = member.Session.Update(member.Log.State);
                foreach (var outgoing in rotation.Outgoing)
                {
                    _sessions[(m, IndexOf(outgoing.Recipient))].Encrypt(outgoing.Payload).ToBytes();
                }
                memberWall.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                memberCpu.Add((Cpu() - cpu).TotalMilliseconds);
                cpu = Cpu();
                var memberState = member.Log.State;
                foreach (var (from, bytes) in inbound[m])
                {
                    var payload = _sessions[(m, from)].Decrypt(RatchetMessage.Parse(bytes));
                    member.Session.ReceiveDistribution(_people[from].Account, payload, memberState);
                }
                inboundCpu.Add((Cpu() - cpu).TotalMilliseconds);
            }
            // The removed member gets nothing; check that the remover's next message is readable by a remaining member only.
            var after = remover.Session.Encrypt("after", 2, [], 0).Ciphertext;
            receiver.Session.Decrypt(after, receiver.Log.State);

            var perMember = memberCpu.Average() + inboundCpu.Average();
            return new Result(
                _people.Length,
                _sampled,
                encrypt,
                decrypt,
                sent[0].Length,
                pairwise,
                removerCpu,
                removerWall,
                distributionBytes,
                memberCpu.Average(),
                memberCpu.Max(),
                memberWall.Average(),
                inboundCpu.Average(),
                0,
                perMember * (_people.Length - 2) / 1000);
        }

        /// <summary>What sending the message to each member over its own pairwise session would cost instead.</summary>
        private double PairwiseFanOut(byte[] plaintext)
        {
            var started = Stopwatch.GetTimestamp();
            for (var j = 1; j < _people.Length; j++)
            {
                _sessions[(0, j)].Encrypt(plaintext);
            }
            return Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }

        private static TimeSpan Cpu() => Process.GetCurrentProcess().TotalProcessorTime;

        private int IndexOf(PublicKey account) => _index[account];

        /// <summary>A member's own log (checked entry by entry from the bytes) and sender keys; its first chain installed at the receiver 1.</summary>
        private Member Replica(int index)
        {
            var log = new MembershipLog(_crypto, _log.GroupId, _log.LinkKey);
            foreach (var logged in _log.Entries)
            {
                log.Add(logged.Entry.ToBytes());
            }
            var session = new GroupSession(_crypto, _people[index].Account, log.GroupId);
            return new Member(log, session, session.Update(log.State));
        }

        /// <summary>Hands <paramref name="from"/>'s first chain to <paramref name="to"/> (setup, not measured).</summary>
        private static void Deliver(Member from, Member to)
        {
            var outgoing = from.Initial.Outgoing.Single(o => o.Recipient.Equals(to.Session.Self));
            to.Session.ReceiveDistribution(from.Session.Self, outgoing.Payload, to.Log.State);
        }

        private void Pair(int low, int high, bool lowSpeaksLast)
        {
            var a = _people[low];
            var b = _people[high];
            var initiation = X3dh.Initiate(_crypto, a.Account.ToProtobuf(), a.IdentityDh, b.Account.ToProtobuf(), b.IdentityDh.PublicKey, b.SignedPrekey.PublicKey, []);
            var response = X3dh.Respond(_crypto, b.Account.ToProtobuf(), b.IdentityDh, b.SignedPrekey, null, a.Account.ToProtobuf(), a.IdentityDh.PublicKey, initiation.EphemeralPublicKey);
            var initiator = RatchetSession.InitializeAsInitiator(_crypto, initiation.SharedSecret, initiation.AssociatedData, b.SignedPrekey.PublicKey);
            var responder = RatchetSession.InitializeAsResponder(_crypto, response.SharedSecret, response.AssociatedData, b.SignedPrekey);
            // One message each way, so both sides are in the steady state of a conversation that has started.
            responder.Decrypt(initiator.Encrypt([1]));
            initiator.Decrypt(responder.Encrypt([2]));
            if (lowSpeaksLast)
            {
                responder.Decrypt(initiator.Encrypt([3]));
            }
            _sessions[(low, high)] = initiator;
            _sessions[(high, low)] = responder;
        }
    }

    private sealed record Member(MembershipLog Log, GroupSession Session, SessionUpdate Initial);

    private sealed class Person(ICryptoProvider crypto, int index)
    {
        public int Index { get; } = index;

        public IdentityKey Key { get; } = IdentityKey.Generate(crypto);

        public PublicKey Account => Key.PublicKey;

        public X25519KeyPair IdentityDh { get; } = X25519KeyPair.Generate(crypto);

        public X25519KeyPair SignedPrekey { get; } = X25519KeyPair.Generate(crypto);
    }
}
