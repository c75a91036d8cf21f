using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>A distribution to send to <paramref name="Recipient"/> over the pairwise Double Ratchet session. The payload
/// holds a chain key: wipe it once encrypted.</summary>
public sealed record OutgoingDistribution(PublicKey Recipient, byte[] Payload)
{
    public override string ToString() => $"OutgoingDistribution {{ Recipient = {Recipient.ToPeerId()}, {Payload.Length} bytes }}";
}

/// <summary>A sender's chain as a receiver installed it: messages are expected from <paramref name="FirstIteration"/> on.</summary>
public sealed record SenderChainInfo(PublicKey Sender, Id256 Epoch, uint ChainId, uint FirstIteration);

/// <summary>What <see cref="GroupSession.Update"/> produced: distributions to send, and chains installed from held distributions.</summary>
public sealed record SessionUpdate(IReadOnlyList<OutgoingDistribution> Outgoing, IReadOnlyList<SenderChainInfo> Installed);

public enum DistributionStatus
{
    /// <summary>The chain is installed.</summary>
    Installed,

    /// <summary>The chain was already installed; nothing changed.</summary>
    Duplicate,

    /// <summary>The sender is not a member yet as far as the log knows (its Join may still be on its way); the
    /// distribution is held and installed by <see cref="GroupSession.InstallHeld"/> (or <see cref="GroupSession.Update"/>) once it is.</summary>
    Held,
}

public sealed record DistributionResult(DistributionStatus Status, SenderChainInfo? Chain);

/// <summary>A message this member sent: the message for its own timeline, and the one ciphertext for the room.</summary>
public sealed record SentGroupMessage(GroupMessage Message, byte[] Ciphertext);

/// <summary>
/// One member's sender keys for one room (docs/groups.md section 2): its own chain for the current epoch, and the
/// chains other members distributed to it. Sans-IO: the caller passes the membership state in, sends what
/// <see cref="Update"/> returns over the pairwise sessions, and gives back what arrives. Call <see cref="Update"/>
/// after every change of the membership log. Not thread-safe.
/// </summary>
public sealed class GroupSession
{
    /// <summary>The most message keys one message may skip.</summary>
    public const int MaxSkip = 1000;

    /// <summary>The most skipped keys kept per chain; beyond it the oldest are deleted.</summary>
    public const int MaxSkippedKeys = 1000;

    /// <summary>Chains kept per sender account (current and recent epochs, for late messages; one chain per device of
    /// the account in each, docs/devices.md); the oldest is deleted beyond it.</summary>
    public const int MaxChainsPerSender = 16;

    /// <summary>Distributions held for senders the log does not know yet.</summary>
    public const int MaxHeldDistributions = 256;

    private const uint StateVersion = 1;

    private readonly ICryptoProvider _crypto;
    private readonly Dictionary<ChainRef, ReceivedChain> _chains = [];
    private readonly Dictionary<PublicKey, List<ChainRef>> _chainsBySender = [];
    private readonly List<(PublicKey From, SenderKeyDistribution Distribution)> _held = [];
    /// <summary>The members, and our own other devices (by device key), that have our current chain.</summary>
    private readonly HashSet<PublicKey> _sentTo = [];
    private readonly HashSet<(ChainRef Chain, PublicKey Member)> _relayed = [];
    private SenderKeyChain? _own;

    public GroupSession(ICryptoProvider crypto, PublicKey self, Id256 groupId)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(self);
        _crypto = crypto;
        Self = self;
        GroupId = groupId;
    }

    public PublicKey Self { get; }

    public Id256 GroupId { get; }

    /// <summary>The epoch of this member's sending chain; null while it is not a member.</summary>
    public Id256? SendingEpoch => _own?.Epoch;

    /// <summary>The number of chains received from others that are kept.</summary>
    public int ReceivedChainCount => _chains.Count;

    public int HeldDistributionCount => _held.Count;

    /// <summary>Chains passed on whose owner's signature is still to be checked (at their first message).</summary>
    public int UncheckedChainCount => _chains.Values.Count(c => c.OwnerUnchecked);

    /// <summary>How many other members this member can read in the current epoch: those whose chain of that epoch,
    /// from their current membership, it holds (all of them once every key has arrived).</summary>
    public int ReadableMemberCount(GroupState state)
    {
        CheckState(state);
        return state.Members.Count(m => !m.Account.Equals(Self)
            && _chainsBySender.TryGetValue(m.Account, out var keys)
            && keys.Any(k => k.Epoch == state.Epoch.Id && _chains[k].Membership == m.AddedBy));
    }

    /// <summary>
    /// Brings the session in line with the membership state: a new sending chain when the epoch changed (every Remove
    /// and Leave), its distribution to every current member that does not have it yet (at the current iteration, so a
    /// new member reads only what is sent after it joined), and held distributions whose senders are now members.
    /// A member that is no longer in the room wipes its sending chain.
    /// </summary>
    /// <param name="signer">This member's account key: the chain gets the owner's signature that lets admins pass it
    /// on (<see cref="Relay"/>). Without it the chain goes out unsigned, for its recipients alone.</param>
    /// <param name="sendTo">Which members get the chain from this member itself (the others get it passed on); all when null.</param>
    /// <param name="ownDevices">The keys of this account's other devices (docs/devices.md): each gets the chain too, as
    /// an <see cref="OutgoingDistribution"/> whose recipient is the device key; none when null.</param>
    public SessionUpdate Update(GroupState state, IdentityKey? signer = null, Func<PublicKey, bool>? sendTo = null, IReadOnlyList<PublicKey>? ownDevices = null)
    {
        var installed = InstallHeld(state);
        if (!state.IsMember(Self))
        {
            _own?.Wipe();
            _own = null;
            _sentTo.Clear();
            return new SessionUpdate([], installed);
        }
        if (_own is null || _own.Epoch != state.Epoch.Id)
        {
            _own?.Wipe();
            _own = SenderKeyChain.CreateOwn(_crypto, state.Epoch.Id);
            _sentTo.Clear();
        }
        if (signer is not null && _own.OwnerSignature is null)
        {
            if (!signer.PublicKey.Equals(Self))
            {
                throw new ArgumentException("the signer is another account than this session's member", nameof(signer));
            }
            _own.OwnerSignature = signer.Sign(SenderKeyDistribution.OwnerSignedBytes(GroupId, _own.Epoch, Self, _own.ChainId, _own.SigningKey));
        }
        var outgoing = new List<OutgoingDistribution>();
        var recipients = state.Members.Select(m => m.Account).Where(a => !a.Equals(Self) && !_sentTo.Contains(a) && (sendTo?.Invoke(a) ?? true))
            .Concat((ownDevices ?? []).Where(d => !_sentTo.Contains(d)))
            .ToArray();
        if (recipients.Length > 0)
        {
            var distribution = _own.Distribution(GroupId, Self);
            foreach (var recipient in recipients)
            {
                outgoing.Add(new OutgoingDistribution(recipient, distribution.ToBytes()));
                _sentTo.Add(recipient);
            }
            distribution.Wipe();
        }
        return new SessionUpdate(outgoing, installed);
    }

    /// <summary>
    /// Installs the held distributions whose senders are now members, and drops those whose senders left; returns the
    /// chains installed. A member calls it as soon as entries come in, since a sender's messages may follow its entry at
    /// once (<see cref="Update"/> calls it too).
    /// </summary>
    public IReadOnlyList<SenderChainInfo> InstallHeld(GroupState state)
    {
        CheckState(state);
        var installed = new List<SenderChainInfo>();
        foreach (var (from, distribution) in _held.ToArray())
        {
            if (state.IsMember(from) || state.Departures.ContainsKey(from))
            {
                _held.Remove((from, distribution));
                if (state.IsMember(from) && Install(from, distribution, state) is { Status: DistributionStatus.Installed, Chain: { } chain })
                {
                    installed.Add(chain);
                }
                distribution.Wipe();
            }
        }
        return installed;
    }

    /// <summary>
    /// The distribution <see cref="Update"/> returned for <paramref name="member"/> could not be sent (no pairwise
    /// session yet): the next <see cref="Update"/> returns it again.
    /// </summary>
    public void DistributionNotSent(PublicKey member)
    {
        ArgumentNullException.ThrowIfNull(member);
        _sentTo.Remove(member);
    }

    /// <summary>
    /// The current chains of other members that members have not had from this session yet (docs/groups.md, "Keys
    /// through the admins"): what an admin passes on, so that a member sends its chain to the admins alone. Each goes
    /// out at the iteration this member had reached when the recipient became due for it (when the chain came, or when
    /// the recipient joined), so that the recipient reads every message this member read from it meanwhile, and none
    /// from before it joined. Only chains that carry their owner's signature are passed on, and a chain never goes
    /// back to its owner. What was passed on, and from where, is kept in memory only: a session loaded again passes
    /// everything on once more, from where it stands, which recipients take as duplicates.
    /// </summary>
    public IReadOnlyList<OutgoingDistribution> Relay(GroupState state)
    {
        CheckState(state);
        var epoch = state.Epoch.Id;
        _relayed.RemoveWhere(r => r.Chain.Epoch != epoch);
        var outgoing = new List<OutgoingDistribution>();
        var recipients = state.Members.Select(m => m.Account).Where(a => !a.Equals(Self)).ToList();
        foreach (var (sender, keys) in _chainsBySender)
        {
            var member = state.Member(sender);
            foreach (var key in keys)
            {
                var chain = _chains[key];
                // What went out at the last call and was not taken back (RelayNotSent) is no longer due.
                chain.ForgetOwedWhere(m => key.Epoch != epoch || member is null || _relayed.Contains((key, m)));
                if (key.Epoch != epoch || member is null || chain.Membership != member.AddedBy || chain.Keys.OwnerSignature is null || !CheckOwner(key, chain))
                {
                    continue;
                }
                var payloads = new Dictionary<uint, byte[]>();
                foreach (var recipient in recipients.Where(r => !r.Equals(sender) && _relayed.Add((key, r))))
                {
                    var iteration = chain.OwedFrom(recipient);
                    if (!payloads.TryGetValue(iteration, out var payload))
                    {
                        var distribution = chain.PassOnFrom(iteration).DistributionAt(GroupId, sender, iteration);
                        payloads[iteration] = payload = distribution.ToBytes();
                        distribution.Wipe();
                    }
                    outgoing.Add(new OutgoingDistribution(recipient, payload.ToArray()));
                }
                foreach (var payload in payloads.Values)
                {
                    CryptographicOperations.ZeroMemory(payload);
                }
            }
        }
        return outgoing;
    }

    /// <summary>What <see cref="Relay"/> returned for <paramref name="member"/> could not be sent: the next call returns it again.</summary>
    public void RelayNotSent(PublicKey member)
    {
        ArgumentNullException.ThrowIfNull(member);
        _relayed.RemoveWhere(r => r.Member.Equals(member));
    }

    /// <summary>
    /// A distribution that arrived from <paramref name="from"/> over the pairwise session (which authenticated it):
    /// <paramref name="from"/>'s own chain, or another member's chain passed on, which must carry its owner's signature.
    /// </summary>
    /// <param name="deferOwnerCheck">A chain passed on is installed without checking its owner's signature now; it is
    /// checked (once) before the chain reads its first message or is passed on, and a chain whose signature fails
    /// then is dropped and its message refused (docs/groups.md, "Owner signatures checked at first use"). A chain
    /// held for a sender not yet a member, of another epoch than the current one, or a second unchecked chain of one
    /// sender in the epoch, is checked at once.</param>
    /// <exception cref="GroupMessageException">Malformed, for another room, passed on without a valid owner's
    /// signature (when checked now), or from a sender who was removed or left.</exception>
    public DistributionResult ReceiveDistribution(PublicKey from, ReadOnlySpan<byte> payload, GroupState state, bool deferOwnerCheck = false)
    {
        ArgumentNullException.ThrowIfNull(from);
        CheckState(state);
        SenderKeyDistribution distribution;
        try
        {
            distribution = SenderKeyDistribution.Parse(payload);
        }
        catch (FormatException e)
        {
            throw new GroupMessageException(GroupMessageFailure.Malformed, e.Message, e);
        }
        if (distribution.GroupId != GroupId)
        {
            distribution.Wipe();
            throw new GroupMessageException(GroupMessageFailure.WrongGroup, $"the distribution is for room {distribution.GroupId.ToShortString()}");
        }
        // Passed on by another member, the owner's signature says whose chain it is; with deferOwnerCheck it is checked
        // before the chain reads a message or is passed on, not now (unless the chain is held, or another unchecked
        // chain of that sender is: Install).
        var deferred = deferOwnerCheck && distribution.Owner is { } owner && !owner.Equals(from);
        if (distribution.OwnerSignature is not null && !deferred && !distribution.OwnerSignatureVerifies(_crypto))
        {
            distribution.Wipe();
            throw new GroupMessageException(GroupMessageFailure.BadSignature, "the chain's owner signature does not verify");
        }
        from = distribution.Owner ?? from;
        // Another device of this account has a chain of its own (docs/devices.md), installed as any member's; this
        // device's own chain never comes back to it.
        if (from.Equals(Self) && _own is not null && _own.ChainId == distribution.ChainId && _own.Epoch == distribution.Epoch)
        {
            distribution.Wipe();
            throw new GroupMessageException(GroupMessageFailure.Malformed, "a distribution of this device's own chain");
        }
        if (!state.IsMember(from))
        {
            if (state.Departures.TryGetValue(from, out var departure))
            {
                distribution.Wipe();
                throw new GroupMessageException(GroupMessageFailure.SenderRemoved, $"{from.ToPeerId()} is no longer a member (entry {departure.ToShortString()})");
            }
            if (_held.Count >= MaxHeldDistributions)
            {
                distribution.Wipe();
                throw new GroupMessageException(GroupMessageFailure.NotAMember, $"{from.ToPeerId()} is not a member, and {MaxHeldDistributions} distributions are already held");
            }
            if (deferred && !distribution.OwnerSignatureVerifies(_crypto))
            {
                distribution.Wipe();
                throw new GroupMessageException(GroupMessageFailure.BadSignature, "the chain's owner signature does not verify");
            }
            _held.Add((from, distribution));
            return new DistributionResult(DistributionStatus.Held, null);
        }
        try
        {
            return Install(from, distribution, state, ownerChecked: !deferred);
        }
        finally
        {
            distribution.Wipe();
        }
    }

    /// <summary>
    /// The current epoch's chains this device holds from other senders (other members, and the account's other devices),
    /// each as it stands now: for another device of this account that joins the room, which reads from there on
    /// (docs/devices.md, "Rooms"). The caller wipes them.
    /// </summary>
    public IReadOnlyList<byte[]> CurrentChains(GroupState state)
    {
        CheckState(state);
        var chains = new List<byte[]>();
        foreach (var (key, chain) in _chains)
        {
            if (key.Epoch != state.Epoch.Id || state.Member(key.Sender) is not { } member || chain.Membership != member.AddedBy)
            {
                continue;
            }
            var distribution = chain.Keys.Distribution(GroupId, key.Sender);
            chains.Add(distribution.ToBytes());
            distribution.Wipe();
        }
        return chains;
    }

    /// <summary>Encrypts a message under this member's current chain.</summary>
    /// <param name="lamport">From <see cref="GroupTimeline.NextClock"/>, with <paramref name="parents"/>.</param>
    /// <exception cref="InvalidOperationException">This member has no sending chain: not a member, or <see cref="Update"/> not called.</exception>
    /// <exception cref="ArgumentException">The text or parents are out of bounds.</exception>
    /// <param name="file">A file manifest sent with the message (docs/files.md), or empty.</param>
    public SentGroupMessage Encrypt(string text, ulong lamport, IReadOnlyList<Id256> parents, long timestampMs, ReadOnlyMemory<byte> file = default)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(parents);
        return Encrypt(GroupMessage.Body(lamport, parents, timestampMs, text, file));
    }

    /// <summary>Encrypts a message body (a text, a reply, or an action on a room message) under this member's current chain.</summary>
    /// <exception cref="InvalidOperationException">This member has no sending chain.</exception>
    /// <exception cref="ArgumentException">The body is out of bounds.</exception>
    public SentGroupMessage Encrypt(GroupMessageBody body)
    {
        ArgumentNullException.ThrowIfNull(body);
        var own = _own ?? throw new InvalidOperationException("this member has no sending chain: it is not a member, or Update was not called");
        GroupMessage message;
        try
        {
            message = GroupMessage.Create(_crypto, GroupId, own.Epoch, Self, own.ChainId, own.Iteration, body);
        }
        catch (FormatException e)
        {
            throw new ArgumentException(e.Message, nameof(body), e);
        }
        var ad = GroupCiphertext.AssociatedData(GroupId, own.Epoch, Self, own.ChainId, own.Iteration);
        var (ciphertext, signature) = own.Seal(ad, body.ToByteArray());
        var wire = new GroupCiphertext(GroupId, message.Epoch, Self, message.ChainId, message.Iteration, ciphertext, signature);
        return new SentGroupMessage(message, wire.ToBytes());
    }

    /// <summary>Checks, decrypts and parses a group message. On any failure the session is unchanged, except that a
    /// message that authenticates but does not parse spends its key, and that a chain passed on whose owner's signature
    /// fails (checked here at its first message) is dropped.</summary>
    /// <exception cref="GroupMessageException">The reason says why; NotAMember and UnknownChain may succeed later.</exception>
    public GroupMessage Decrypt(ReadOnlySpan<byte> ciphertext, GroupState state)
    {
        CheckState(state);
        GroupCiphertext message;
        try
        {
            message = GroupCiphertext.Parse(ciphertext);
        }
        catch (FormatException e)
        {
            throw new GroupMessageException(GroupMessageFailure.Malformed, e.Message, e);
        }
        if (message.GroupId != GroupId)
        {
            throw new GroupMessageException(GroupMessageFailure.WrongGroup, $"the message is for room {message.GroupId.ToShortString()}");
        }
        var sender = message.Sender;
        var member = state.Member(sender);
        if (member is null)
        {
            throw state.Departures.TryGetValue(sender, out var departure)
                ? new GroupMessageException(GroupMessageFailure.SenderRemoved, $"{sender.ToPeerId()} is no longer a member (entry {departure.ToShortString()}); its messages are refused")
                : new GroupMessageException(GroupMessageFailure.NotAMember, $"{sender.ToPeerId()} is not a member");
        }
        if (!_chains.TryGetValue(new ChainRef(sender, message.Epoch, message.ChainId), out var chain))
        {
            throw new GroupMessageException(GroupMessageFailure.UnknownChain,
                sender.Equals(Self) && message.ChainId == _own?.ChainId
                    ? "this device's own message: its keys are not kept"
                    : $"no chain {message.ChainId} of epoch {message.Epoch.ToShortString()} from {sender.ToPeerId()}");
        }
        if (chain.Membership != member.AddedBy)
        {
            throw new GroupMessageException(GroupMessageFailure.SenderRemoved, $"the chain belongs to an earlier membership of {sender.ToPeerId()}, which ended");
        }
        var chainRef = new ChainRef(sender, message.Epoch, message.ChainId);
        if (!CheckOwner(chainRef, chain))
        {
            RemoveChain(chainRef);
            throw new GroupMessageException(GroupMessageFailure.BadSignature, "the chain was passed on without its owner's valid signature");
        }
        NoteOwed(chainRef, chain, state);
        var ad = GroupCiphertext.AssociatedData(GroupId, message.Epoch, sender, message.ChainId, message.Iteration);
        chain.Stored = null;
        var plaintext = chain.Keys.Open(message, ad, MaxSkip, MaxSkippedKeys);
        try
        {
            return GroupMessage.Create(_crypto, GroupId, message.Epoch, sender, message.ChainId, message.Iteration, GroupMessageBody.Parser.ParseFrom(plaintext));
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or FormatException)
        {
            // The key is spent either way: the sender encrypted something that is not a message.
            throw new GroupMessageException(GroupMessageFailure.Malformed, $"the decrypted content is not a message: {e.Message}", e);
        }
    }

    /// <summary>
    /// Drops this member's sending chain and whom it went to, for a copy of the session handed to another device of
    /// the same account: two devices on one chain would reuse its message keys, so the copy makes a chain of its own on
    /// its next <see cref="Update"/> and sends it to every member (and the account's other devices).
    /// </summary>
    public void ForgetSendingChain()
    {
        _own?.Wipe();
        _own = null;
        _sentTo.Clear();
    }

    /// <summary>Everything the session holds, chain keys included: seal it before it is stored.</summary>
    public byte[] Serialize()
    {
        var state = new GroupSessionStateProto
        {
            Version = StateVersion,
            GroupId = ByteString.CopyFrom(GroupId.Span),
            Self = ByteString.CopyFrom(Self.ToProtobuf()),
            Own = _own?.ToState(),
        };
        state.Held.AddRange(_held.Select(h => new HeldDistributionStateProto { From = ByteString.CopyFrom(h.From.ToProtobuf()), Distribution = ByteString.CopyFrom(h.Distribution.ToBytes()) }));
        state.SentTo.AddRange(_sentTo.Select(m => ByteString.CopyFrom(m.ToProtobuf())));
        // A save follows every message, which moves one chain: the others' encodings are reused as they were, and
        // written as the repeated field's elements after the other fields (protobuf takes fields in any order).
        var received = new List<ByteString>(_chains.Count);
        foreach (var (sender, chains) in _chainsBySender)
        {
            foreach (var key in chains)
            {
                var chain = _chains[key];
                chain.Stored ??= new ReceivedChainStateProto
                {
                    Sender = ByteString.CopyFrom(sender.ToProtobuf()),
                    Chain = chain.Keys.ToState(),
                    Membership = ByteString.CopyFrom(chain.Membership.Span),
                    OwnerUnchecked = chain.OwnerUnchecked,
                }.ToByteString();
                received.Add(chain.Stored);
            }
        }
        var receivedTag = WireFormat.MakeTag(GroupSessionStateProto.ReceivedFieldNumber, WireFormat.WireType.LengthDelimited);
        var size = state.CalculateSize() + received.Sum(r => CodedOutputStream.ComputeRawVarint32Size(receivedTag) + CodedOutputStream.ComputeBytesSize(r));
        var bytes = new byte[size];
        var output = new CodedOutputStream(bytes);
        state.WriteTo(output);
        foreach (var chain in received)
        {
            output.WriteTag(receivedTag);
            output.WriteBytes(chain);
        }
        output.CheckNoSpaceLeft();
        return bytes;
    }

    /// <exception cref="FormatException">Not a stored session.</exception>
    public static GroupSession Deserialize(ICryptoProvider crypto, ReadOnlySpan<byte> bytes)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        try
        {
            var state = GroupSessionStateProto.Parser.ParseFrom(bytes);
            if (state.Version != StateVersion)
            {
                throw new FormatException($"stored group session version {state.Version} is unknown");
            }
            var session = new GroupSession(crypto, PublicKey.FromProtobuf(state.Self.Span), Id256.FromBytes(state.GroupId.Span));
            if (state.Own is not null)
            {
                session._own = SenderKeyChain.FromState(crypto, state.Own);
            }
            foreach (var received in state.Received)
            {
                var sender = PublicKey.FromProtobuf(received.Sender.Span);
                var chain = SenderKeyChain.FromState(crypto, received.Chain);
                var key = new ChainRef(sender, chain.Epoch, chain.ChainId);
                session._chains[key] = new ReceivedChain(chain, Id256.FromBytes(received.Membership.Span)) { OwnerUnchecked = received.OwnerUnchecked };
                if (!session._chainsBySender.TryGetValue(sender, out var list))
                {
                    session._chainsBySender[sender] = list = [];
                }
                list.Add(key);
            }
            foreach (var held in state.Held.Take(MaxHeldDistributions))
            {
                session._held.Add((PublicKey.FromProtobuf(held.From.Span), SenderKeyDistribution.Parse(held.Distribution.Span)));
            }
            foreach (var member in state.SentTo)
            {
                session._sentTo.Add(PublicKey.FromProtobuf(member.Span));
            }
            return session;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new FormatException($"not a stored group session: {e.Message}", e);
        }
    }

    /// <param name="ownerChecked">False for a chain passed on whose owner's signature was not checked yet: it is
    /// installed unchecked (and checked at its first message) when it is of the current epoch and its sender has no
    /// other unchecked chain of that epoch, else checked now; so forged chains cannot push real ones out faster than
    /// the sender's own rotations do.</param>
    /// <exception cref="GroupMessageException">BadSignature: the owner's signature, checked here, does not verify.</exception>
    private DistributionResult Install(PublicKey from, SenderKeyDistribution distribution, GroupState state, bool ownerChecked = true)
    {
        var key = new ChainRef(from, distribution.Epoch, distribution.ChainId);
        var info = new SenderChainInfo(from, distribution.Epoch, distribution.ChainId, distribution.Iteration);
        if (_chains.TryGetValue(key, out var existing))
        {
            if (CheckOwner(key, existing))
            {
                // Never reinstall: an earlier iteration would bring back keys already used.
                return new DistributionResult(DistributionStatus.Duplicate, info);
            }
            // What was installed under this chain's name did not carry its owner's signature: this one may.
            RemoveChain(key);
        }
        _chainsBySender.TryGetValue(from, out var list);
        var lazy = !ownerChecked && distribution.Epoch == state.Epoch.Id && (list is null || !list.Any(k => k.Epoch == distribution.Epoch && _chains[k].OwnerUnchecked));
        if (!ownerChecked && !lazy && !distribution.OwnerSignatureVerifies(_crypto))
        {
            throw new GroupMessageException(GroupMessageFailure.BadSignature, "the chain's owner signature does not verify");
        }
        var received = new ReceivedChain(SenderKeyChain.FromDistribution(_crypto, distribution), state.Member(from)!.AddedBy) { OwnerUnchecked = lazy };
        _chains[key] = received;
        NoteOwed(key, received, state);
        if (list is null)
        {
            _chainsBySender[from] = list = [];
        }
        list.Add(key);
        if (list.Count > MaxChainsPerSender)
        {
            RemoveChain(list[0]);
        }
        return new DistributionResult(DistributionStatus.Installed, info);
    }

    /// <summary>
    /// Whether the chain's owner signature is known good: checked on arrival, or now (once) for a chain installed
    /// unchecked. A chain without an owner's signature came from its owner itself, over the pairwise session.
    /// </summary>
    private bool CheckOwner(ChainRef key, ReceivedChain chain)
    {
        if (!chain.OwnerUnchecked)
        {
            return true;
        }
        if (chain.Keys.OwnerSignature is not { } signature
            || !key.Sender.Verify(SenderKeyDistribution.OwnerSignedBytes(GroupId, key.Epoch, key.Sender, key.ChainId, chain.Keys.SigningKey), signature, _crypto))
        {
            return false;
        }
        chain.OwnerUnchecked = false;
        chain.Stored = null;
        return true;
    }

    private void RemoveChain(ChainRef key)
    {
        if (!_chains.Remove(key, out var chain))
        {
            return;
        }
        chain.Keys.Wipe();
        chain.ForgetOwedWhere(_ => true);
        if (_chainsBySender.TryGetValue(key.Sender, out var list))
        {
            list.Remove(key);
            if (list.Count == 0)
            {
                _chainsBySender.Remove(key.Sender);
            }
        }
    }

    /// <summary>
    /// On an admin, before a chain moves on: the members due for it that it has not passed on to yet will get it from
    /// here (<see cref="Relay"/>), as they may get messages sent from here on.
    /// </summary>
    private void NoteOwed(ChainRef key, ReceivedChain chain, GroupState state)
    {
        if (!state.IsAdmin(Self) || key.Epoch != state.Epoch.Id)
        {
            return;
        }
        foreach (var member in state.Members)
        {
            if (!member.Account.Equals(Self) && !member.Account.Equals(key.Sender) && !_relayed.Contains((key, member.Account)))
            {
                chain.Owe(member.Account);
            }
        }
    }

    private void CheckState(GroupState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.GroupId != GroupId)
        {
            throw new ArgumentException("the state is of another room", nameof(state));
        }
    }

    private readonly record struct ChainRef(PublicKey Sender, Id256 Epoch, uint ChainId);

    /// <param name="Membership">The entry that began the sender's membership when the chain arrived: the chain is
    /// good only while that membership lasts.</param>
    private sealed record ReceivedChain(SenderKeyChain Keys, Id256 Membership)
    {
        /// <summary>On an admin: the members due for this chain, and the iteration each is due from.</summary>
        private readonly Dictionary<PublicKey, uint> _owed = [];

        /// <summary>The chain where the earliest of <see cref="_owed"/> begins, kept while someone is due for it.</summary>
        private SenderKeyChain? _passOnFrom;

        /// <summary>The chain's stored form, until the chain moves on.</summary>
        public ByteString? Stored { get; set; }

        /// <summary>Passed on and installed before its owner's signature was checked: checked before it reads a message or is passed on.</summary>
        public bool OwnerUnchecked { get; set; }

        /// <summary><paramref name="member"/> is due for the chain from where it stands now, unless it was due from earlier.</summary>
        public void Owe(PublicKey member)
        {
            if (_owed.TryAdd(member, Keys.Iteration))
            {
                _passOnFrom ??= Keys.PassOnCopy();
            }
        }

        /// <summary>The iteration <paramref name="member"/> gets the chain from: where it became due, else where it stands.</summary>
        public uint OwedFrom(PublicKey member) => _owed.TryGetValue(member, out var iteration) ? iteration : Keys.Iteration;

        /// <summary>A chain to take the distribution at <paramref name="iteration"/> from (at or before it).</summary>
        public SenderKeyChain PassOnFrom(uint iteration) => _passOnFrom is { } from && from.Iteration <= iteration ? from : Keys;

        public void ForgetOwedWhere(Func<PublicKey, bool> done)
        {
            foreach (var member in _owed.Keys.Where(done).ToList())
            {
                _owed.Remove(member);
            }
            if (_owed.Count == 0 && _passOnFrom is not null)
            {
                _passOnFrom.Wipe();
                _passOnFrom = null;
            }
        }
    }
}
