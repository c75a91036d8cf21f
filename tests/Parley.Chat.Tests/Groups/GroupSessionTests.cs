using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Groups;
using Parley.Chat.Groups.Protos;
using Parley.Chat.Tests.Crypto;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

public class GroupSessionTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");
    private readonly Person _carol = new("carol");
    private readonly Person _dave = new("dave");

    [Fact]
    public void Every_member_reads_messages_in_order()
    {
        var net = new GroupNetwork(_alice, _bob, _carol);
        for (var i = 0; i < 5; i++)
        {
            var sent = net.Send(_alice, $"hello {i}");
            var atBob = net.Deliver(_bob, sent.Ciphertext);
            var atCarol = net.Deliver(_carol, sent.Ciphertext);
            Assert.Equal($"hello {i}", atBob.Text);
            Assert.Equal(sent.Message.Id, atBob.Id);
            Assert.Equal(sent.Message.Id, atCarol.Id);
            Assert.Equal(_alice.Account, atBob.Sender);
            Assert.Equal((uint)i, atBob.Iteration);
        }
    }

    [Fact]
    public void Out_of_order_and_dropped_messages()
    {
        var net = new GroupNetwork(_alice, _bob);
        var sent = Enumerable.Range(0, 10).Select(i => net.Send(_alice, $"m{i}")).ToArray();
        var random = new Random(3);

        // Message 4 never arrives; the rest arrive shuffled.
        foreach (var message in sent.Where((_, i) => i != 4).OrderBy(_ => random.Next()))
        {
            Assert.Equal(message.Message.Text, net.Deliver(_bob, message.Ciphertext).Text);
        }

        var gap = Assert.Single(net[_bob].Timeline.Gaps);
        Assert.Equal((_alice.Account, 4u, 4u), (gap.Sender, gap.FirstIteration, gap.LastIteration));
        Assert.Equal(net[_alice].State.Epoch.Id, gap.Epoch);
        // The late one still opens with its kept key, and the gap closes.
        Assert.Equal("m4", net.Deliver(_bob, sent[4].Ciphertext).Text);
        Assert.Empty(net[_bob].Timeline.Gaps);
    }

    [Fact]
    public void A_session_stored_mid_conversation_reads_on_keeps_skipped_keys_and_still_refuses_replays()
    {
        var net = new GroupNetwork(_alice, _bob);
        var sent = Enumerable.Range(0, 6).Select(i => net.Send(_alice, $"m{i}")).ToArray();
        net.Deliver(_bob, sent[0].Ciphertext);
        net.Deliver(_bob, sent[3].Ciphertext);

        var stored = GroupSession.Deserialize(Provider, net[_bob].Session.Serialize());
        Assert.Equal("m1", stored.Decrypt(sent[1].Ciphertext, net[_bob].State).Text);
        Assert.Equal("m5", stored.Decrypt(sent[5].Ciphertext, net[_bob].State).Text);
        var replay = Assert.Throws<GroupMessageException>(() => stored.Decrypt(sent[3].Ciphertext, net[_bob].State));
        Assert.Equal(GroupMessageFailure.Replayed, replay.Reason);

        // The sender's stored session goes on sending on the same chain.
        var sender = GroupSession.Deserialize(Provider, net[_alice].Session.Serialize());
        var (lamport, parents) = net[_alice].Timeline.NextClock();
        var next = sender.Encrypt("after restart", lamport, parents, Now);
        Assert.Equal("after restart", stored.Decrypt(next.Ciphertext, net[_bob].State).Text);
    }

    [Fact]
    public void A_stored_session_that_is_garbage_is_a_format_error()
    {
        Assert.Throws<FormatException>(() => GroupSession.Deserialize(Provider, [1, 2, 3, 4, 5]));
        var net = new GroupNetwork(_alice, _bob);
        var bytes = net[_bob].Session.Serialize();
        Assert.ThrowsAny<FormatException>(() => GroupSession.Deserialize(Provider, bytes.AsSpan(0, bytes.Length / 2)));
    }

    [Fact]
    public void Replayed_message_is_rejected()
    {
        var net = new GroupNetwork(_alice, _bob);
        var first = net.Send(_alice, "once");
        var second = net.Send(_alice, "twice");
        net.Deliver(_bob, second.Ciphertext);
        net.Deliver(_bob, first.Ciphertext);

        Assert.Equal(GroupMessageFailure.Replayed, Reject(net, _bob, first.Ciphertext));
        Assert.Equal(GroupMessageFailure.Replayed, Reject(net, _bob, second.Ciphertext));
    }

    [Fact]
    public void Tampered_message_is_rejected_and_changes_nothing()
    {
        var net = new GroupNetwork(_alice, _bob);
        var sent = net.Send(_alice, "original");
        var proto = GroupCiphertextProto.Parser.ParseFrom(sent.Ciphertext);
        var body = proto.Ciphertext.ToByteArray();
        body[0] ^= 1;
        proto.Ciphertext = ByteString.CopyFrom(body);
        Assert.Equal(GroupMessageFailure.BadSignature, Reject(net, _bob, proto.ToByteArray()));

        // A header field moved to another iteration is caught the same way.
        proto = GroupCiphertextProto.Parser.ParseFrom(sent.Ciphertext);
        proto.Iteration = 1;
        Assert.Equal(GroupMessageFailure.BadSignature, Reject(net, _bob, proto.ToByteArray()));

        Assert.Equal("original", net.Deliver(_bob, sent.Ciphertext).Text);
    }

    [Fact]
    public void Message_signed_by_someone_else_is_rejected()
    {
        var net = new GroupNetwork(_alice, _bob, _carol);
        var alices = net.Send(_alice, "from alice");
        // Carol sends her own message, then rewrites its header to claim Alice's chain and iteration.
        var carols = GroupCiphertextProto.Parser.ParseFrom(net.Send(_carol, "from carol?").Ciphertext);
        var claimed = GroupCiphertextProto.Parser.ParseFrom(alices.Ciphertext);
        carols.Sender = claimed.Sender;
        carols.ChainId = claimed.ChainId;
        carols.Epoch = claimed.Epoch;

        Assert.Equal(GroupMessageFailure.BadSignature, Reject(net, _bob, carols.ToByteArray()));
        Assert.Equal("from alice", net.Deliver(_bob, alices.Ciphertext).Text);
    }

    [Fact]
    public void After_a_removal_the_removed_member_cannot_read_anything_and_is_refused()
    {
        var net = new GroupNetwork(_alice, _bob, _carol, _dave);
        var before = net.Send(_bob, "before");
        var oldEpoch = net[_alice].State.Epoch.Id;
        var carolsOldSession = net[_carol].Session;

        net.Change(_alice, MembershipChange.Remove(_carol.Account));
        var distributions = net.Sync();

        // Three remaining members each send their new chain to the two others.
        Assert.Equal(6, distributions);
        foreach (var person in new[] { _alice, _bob, _dave })
        {
            Assert.NotEqual(oldEpoch, net[person].Session.SendingEpoch);
            Assert.Equal(net[_alice].State.Epoch.Id, net[person].Session.SendingEpoch);
        }
        Assert.Null(net[_carol].Session.SendingEpoch);

        // Carol sees every later ciphertext, and can read none of them.
        var after = new[] { net.Send(_alice, "secret 1"), net.Send(_bob, "secret 2"), net.Send(_dave, "secret 3") };
        foreach (var message in after)
        {
            Assert.Equal(GroupMessageFailure.UnknownChain, Reject(net, _carol, message.Ciphertext));
            Assert.Equal(message.Message.Text, net.Deliver(message.Message.Sender.Equals(_dave.Account) ? _alice : _dave, message.Ciphertext).Text);
        }

        // A late message of the old epoch from a remaining member is still read.
        Assert.Equal("before", net.Deliver(_alice, before.Ciphertext).Text);

        // Carol keeps her old chain and sends anyway: refused, with the reason.
        Assert.Throws<InvalidOperationException>(() => carolsOldSession.Encrypt("x", 1, [], Now));
        var stale = new Replica(_carol, Copy(net[_bob].Log, net[_bob].Log.Entries.Select(e => e.Entry).Where(e => e.Kind != MembershipKind.Remove)));
        var carolsFreshChain = new GroupSession(Provider, _carol.Account, stale.Log.GroupId);
        foreach (var outgoing in carolsFreshChain.Update(stale.State).Outgoing.Where(o => o.Recipient.Equals(_bob.Account)))
        {
            var refused = Assert.Throws<GroupMessageException>(() => net[_bob].Session.ReceiveDistribution(_carol.Account, outgoing.Payload, net[_bob].State));
            Assert.Equal(GroupMessageFailure.SenderRemoved, refused.Reason);
        }
        var fromCarol = carolsFreshChain.Encrypt("still here", 100, [], Now);
        var error = Assert.Throws<GroupMessageException>(() => net[_bob].Session.Decrypt(fromCarol.Ciphertext, net[_bob].State));
        Assert.Equal(GroupMessageFailure.SenderRemoved, error.Reason);
        Assert.Contains("no longer a member", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Removed_member_with_the_old_epoch_chain_is_refused()
    {
        var net = new GroupNetwork(_alice, _bob, _carol);
        // Carol does not learn of her removal and keeps sending on the chain everyone has.
        net.Change(_alice, MembershipChange.Remove(_carol.Account), _alice, _bob);
        net.Sync(_alice, _bob);
        var sent = net.Send(_carol, "after removal");

        Assert.Equal(GroupMessageFailure.SenderRemoved, Reject(net, _bob, sent.Ciphertext));
        Assert.Equal(GroupMessageFailure.SenderRemoved, Reject(net, _alice, sent.Ciphertext));
    }

    [Fact]
    public void A_member_added_again_cannot_use_chains_of_its_earlier_membership()
    {
        var net = new GroupNetwork(_alice, _bob, _carol);
        var carolsOld = net[_carol].Session;
        net.Change(_alice, MembershipChange.Remove(_carol.Account), _alice, _bob);
        net.Sync(_alice, _bob);
        // Carol, removed, signs a message on her old chain before she is invited back.
        var sneaked = carolsOld.Encrypt("while out", 50, [], Now);

        net.Change(_alice, MembershipChange.Invite(_carol.Account, "carol"), _alice, _bob);
        var rejoin = new Replica(_carol, Copy(net[_alice].Log));
        var join = rejoin.Log.Append(_carol.Key, MembershipChange.Join(), Now);
        net[_alice].Log.Add(join);
        net[_bob].Log.Add(join);

        var error = Assert.Throws<GroupMessageException>(() => net[_bob].Session.Decrypt(sneaked.Ciphertext, net[_bob].State));
        Assert.Equal(GroupMessageFailure.SenderRemoved, error.Reason);
        Assert.Contains("earlier membership", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void New_member_reads_from_its_join_on_and_its_early_distribution_is_held()
    {
        var net = new GroupNetwork(_alice, _bob);
        var beforeJoin = net.Send(_alice, "before dave");
        net.Change(_alice, MembershipChange.Invite(_dave.Account, "dave"));
        var dave = net.Add(_dave, _alice);
        var join = dave.Log.Append(_dave.Key, MembershipChange.Join(), Now);
        net[_alice].Log.Add(join);

        // Dave's chain reaches Bob before Dave's Join does: held, then installed.
        var davesUpdate = dave.Session.Update(dave.State);
        var toBob = davesUpdate.Outgoing.Single(o => o.Recipient.Equals(_bob.Account));
        Assert.Equal(DistributionStatus.Held, net[_bob].Session.ReceiveDistribution(_dave.Account, toBob.Payload, net[_bob].State).Status);
        net[_bob].Log.Add(join);
        var installed = Assert.Single(net[_bob].Session.Update(net[_bob].State).Installed);
        Assert.Equal(_dave.Account, installed.Sender);
        net[_alice].Session.ReceiveDistribution(_dave.Account, davesUpdate.Outgoing.Single(o => o.Recipient.Equals(_alice.Account)).Payload, net[_alice].State);
        net.Sync();

        Assert.Equal("from dave", net.Deliver(_bob, net.Send(_dave, "from dave").Ciphertext).Text);
        Assert.Equal("welcome", net.Deliver(_dave, net.Send(_alice, "welcome").Ciphertext).Text);
        // Alice's chain reached Dave at its current iteration: what she sent before cannot be read.
        Assert.Equal(GroupMessageFailure.Replayed, Reject(net, _dave, beforeJoin.Ciphertext));
        Assert.Equal(0ul, net[_alice].State.Epoch.Number);
    }

    [Fact]
    public void Messages_from_non_members_and_other_rooms_are_rejected()
    {
        var net = new GroupNetwork(_alice, _bob);
        var other = new GroupNetwork(_alice, _dave);
        var fromOtherRoom = other.Send(_alice, "elsewhere");
        Assert.Equal(GroupMessageFailure.WrongGroup, Reject(net, _bob, fromOtherRoom.Ciphertext));

        var stranger = new GroupSession(Provider, _dave.Account, net[_alice].Log.GroupId);
        var strangerState = new Replica(_dave, Copy(net[_alice].Log));
        strangerState.Log.Append(_alice.Key, MembershipChange.Invite(_dave.Account, "dave"), Now);
        strangerState.Log.Append(_dave.Key, MembershipChange.Join(), Now);
        stranger.Update(strangerState.State);
        var fromStranger = stranger.Encrypt("hi", 1, [], Now);
        Assert.Equal(GroupMessageFailure.NotAMember, Reject(net, _bob, fromStranger.Ciphertext));

        Assert.Equal(GroupMessageFailure.Malformed, Reject(net, _bob, [1, 2, 3]));
        var wrongGroup = new SenderKeyDistribution(Id256.FromBytes(new byte[32]), Id256.FromBytes(new byte[32]), 1, 0, new byte[32], new byte[32]).ToBytes();
        Assert.Equal(GroupMessageFailure.WrongGroup, Assert.Throws<GroupMessageException>(() => net[_bob].Session.ReceiveDistribution(_alice.Account, wrongGroup, net[_bob].State)).Reason);
        Assert.Equal(GroupMessageFailure.Malformed, Assert.Throws<GroupMessageException>(() => net[_bob].Session.ReceiveDistribution(_alice.Account, [9, 9], net[_bob].State)).Reason);
    }

    [Fact]
    public void Skipping_too_far_is_refused_and_skipped_keys_are_bounded()
    {
        var net = new GroupNetwork(_alice, _bob);
        SentGroupMessage? last = null;
        for (var i = 0; i <= GroupSession.MaxSkip + 1; i++)
        {
            last = net.Send(_alice, "x");
        }
        Assert.Equal(GroupMessageFailure.TooManySkipped, Reject(net, _bob, last!.Ciphertext));
    }

    [Fact]
    public void Distributions_travel_over_real_pairwise_ratchet_sessions()
    {
        var net = new GroupNetwork(_alice, _bob);
        var pair = SessionPair.Create();
        net.Change(_alice, MembershipChange.Remove(_bob.Account));
        net.Change(_alice, MembershipChange.Invite(_carol.Account, "carol"));
        var carol = net.Add(_carol, _alice);
        var join = carol.Log.Append(_carol.Key, MembershipChange.Join(), Now);
        net[_alice].Log.Add(join);

        // Alice's new chain for Carol goes through the Double Ratchet (Alice's side of the pair), as the engine will send it.
        var outgoing = Assert.Single(net[_alice].Session.Update(net[_alice].State).Outgoing);
        var wire = pair.Alice.Encrypt(outgoing.Payload).ToBytes();
        var received = pair.Bob.Decrypt(RatchetMessage.Parse(wire));
        Assert.Equal(DistributionStatus.Installed, carol.Session.ReceiveDistribution(_alice.Account, received, carol.State).Status);

        var sent = net.Send(_alice, "over the ratchet");
        Assert.Equal("over the ratchet", carol.Session.Decrypt(sent.Ciphertext, carol.State).Text);
    }

    [Fact]
    public void Chains_per_sender_and_held_distributions_are_bounded()
    {
        var net = new GroupNetwork(_alice, _bob);
        var bob = net[_bob];
        var epoch = bob.State.Epoch.Id;
        Assert.Equal(1, bob.Session.ReceivedChainCount);
        for (var chainId = 100u; chainId < 106 + GroupSession.MaxChainsPerSender; chainId++)
        {
            var distribution = new SenderKeyDistribution(bob.Log.GroupId, epoch, chainId, 0, new byte[32], new byte[32]).ToBytes();
            Assert.Equal(DistributionStatus.Installed, bob.Session.ReceiveDistribution(_alice.Account, distribution, bob.State).Status);
            Assert.Equal(DistributionStatus.Duplicate, bob.Session.ReceiveDistribution(_alice.Account, distribution, bob.State).Status);
        }
        Assert.Equal(GroupSession.MaxChainsPerSender, bob.Session.ReceivedChainCount);

        var stranger = new Person("stranger");
        var held = new SenderKeyDistribution(bob.Log.GroupId, epoch, 1, 0, new byte[32], new byte[32]).ToBytes();
        for (var i = 0; i < GroupSession.MaxHeldDistributions; i++)
        {
            Assert.Equal(DistributionStatus.Held, bob.Session.ReceiveDistribution(stranger.Account, held, bob.State).Status);
        }
        Assert.Equal(GroupMessageFailure.NotAMember, Assert.Throws<GroupMessageException>(() => bob.Session.ReceiveDistribution(stranger.Account, held, bob.State)).Reason);
        Assert.Equal(GroupSession.MaxHeldDistributions, bob.Session.HeldDistributionCount);
    }

    private static GroupMessageFailure Reject(GroupNetwork net, Person to, byte[] ciphertext) =>
        Assert.Throws<GroupMessageException>(() => net[to].Session.Decrypt(ciphertext, net[to].State)).Reason;
}
