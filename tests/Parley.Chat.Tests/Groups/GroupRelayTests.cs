using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Groups.Protos;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

/// <summary>Sender keys through the admins (docs/groups.md, "Keys through the admins").</summary>
public class GroupRelayTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");
    private readonly Person _carol = new("carol");
    private readonly Person _dave = new("dave");

    [Fact]
    public void Members_who_never_exchanged_keys_read_each_other_through_the_admin()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol, _dave);
        Assert.Equal(0, net[_bob].Session.ReadableMemberCount(net[_bob].State));

        var sent = net.SyncThroughAdmins();
        Assert.All(net.Replicas, r => Assert.Equal(3, r.Session.ReadableMemberCount(r.State)));

        // Each member sends its chain to the admin alone; the admin sends each member one chain of its own and the
        // two chains of the others.
        Assert.Equal(1, sent[_bob]);
        Assert.Equal(1, sent[_carol]);
        Assert.Equal(1, sent[_dave]);
        Assert.Equal(3 + (3 * 2), sent[_alice]);
        foreach (var sender in new[] { _alice, _bob, _carol, _dave })
        {
            var message = net.Send(sender, $"from {sender}");
            foreach (var reader in new[] { _alice, _bob, _carol, _dave }.Where(r => r != sender))
            {
                Assert.Equal($"from {sender}", net.Deliver(reader, message.Ciphertext).Text);
            }
        }
        // Nothing is passed on twice.
        Assert.All(net.SyncThroughAdmins().Values, count => Assert.Equal(0, count));
    }

    [Fact]
    public void A_chain_passed_on_after_the_admin_read_from_it_still_reads_what_the_admin_read()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        var bobs = net[_bob].Session.Update(net[_bob].State, _bob.Key, net[_bob].State.IsAdmin).Outgoing.Single();
        net[_alice].Session.ReceiveDistribution(_bob.Account, bobs.Payload, net[_alice].State);
        // Bob's first message reaches the admin before the admin passes bob's chain on (the copy came right after the chain).
        var first = net.Send(_bob, "first");
        Assert.Equal("first", net.Deliver(_alice, first.Ciphertext).Text);

        var toCarol = net[_alice].Session.Relay(net[_alice].State).Single(o => o.Recipient.Equals(_carol.Account));
        net[_carol].Session.ReceiveDistribution(_alice.Account, toCarol.Payload, net[_carol].State);

        Assert.Equal("first", net.Deliver(_carol, first.Ciphertext).Text);
    }

    [Fact]
    public void A_member_who_joins_gets_chains_from_where_they_stood_when_it_joined()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        net.SyncThroughAdmins();
        var before = net.Send(_bob, "before dave");
        net.Deliver(_alice, before.Ciphertext);
        net.Change(_alice, MembershipChange.Invite(_dave.Account, "dave"));
        net.Add(_dave, _alice);
        net.Change(_dave, MembershipChange.Join("dave"));
        // Bob writes to dave too; the admin reads it before it passes bob's chain on to dave.
        var after = net.Send(_bob, "after dave joined");
        net.Deliver(_alice, after.Ciphertext);

        foreach (var outgoing in net[_alice].Session.Relay(net[_alice].State).Where(o => o.Recipient.Equals(_dave.Account)))
        {
            net[_dave].Session.ReceiveDistribution(_alice.Account, outgoing.Payload, net[_dave].State);
        }

        Assert.Equal("after dave joined", net.Deliver(_dave, after.Ciphertext).Text);
        Assert.Equal(GroupMessageFailure.Replayed, Assert.Throws<GroupMessageException>(() => net.Deliver(_dave, before.Ciphertext)).Reason);
    }

    [Fact]
    public void A_chain_passed_on_needs_its_owners_signature()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        var bobs = net[_bob].Session.Update(net[_bob].State, _bob.Key, net[_bob].State.IsAdmin).Outgoing.Single();
        net[_alice].Session.ReceiveDistribution(_bob.Account, bobs.Payload, net[_alice].State);
        var toCarol = net[_alice].Session.Relay(net[_alice].State).Single(o => o.Recipient.Equals(_carol.Account));

        // The admin swaps in a signing key of its own under bob's name: the signature no longer verifies.
        var forged = SenderKeyDistributionProto.Parser.ParseFrom(toCarol.Payload);
        forged.SigningKey = ByteString.CopyFrom(Provider.GenerateEd25519KeyPair().PublicKey);
        var refused = Assert.Throws<GroupMessageException>(() => net[_carol].Session.ReceiveDistribution(_alice.Account, forged.ToByteArray(), net[_carol].State));
        Assert.Equal(GroupMessageFailure.BadSignature, refused.Reason);

        // Signed by the admin instead of bob: refused too.
        var resigned = SenderKeyDistributionProto.Parser.ParseFrom(toCarol.Payload);
        resigned.OwnerSignature = ByteString.CopyFrom(_alice.Key.Sign(SenderKeyDistribution.OwnerSignedBytes(
            net[_alice].Log.GroupId, Id256.FromBytes(resigned.Epoch.Span), _bob.Account, resigned.ChainId, resigned.SigningKey.Span)));
        Assert.Equal(
            GroupMessageFailure.BadSignature,
            Assert.Throws<GroupMessageException>(() => net[_carol].Session.ReceiveDistribution(_alice.Account, resigned.ToByteArray(), net[_carol].State)).Reason);
        Assert.Equal(0, net[_carol].Session.ReceivedChainCount);

        // The real one installs as bob's chain, and carol reads bob.
        Assert.Equal(DistributionStatus.Installed, net[_carol].Session.ReceiveDistribution(_alice.Account, toCarol.Payload, net[_carol].State).Status);
        Assert.Equal("hi", net.Deliver(_carol, net.Send(_bob, "hi").Ciphertext).Text);
    }

    [Fact]
    public void A_chain_passed_on_with_a_deferred_check_is_checked_at_its_first_message()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        var toCarol = BobsChainPassedOnToCarol(net);
        var forged = SenderKeyDistributionProto.Parser.ParseFrom(toCarol.Payload);
        forged.SigningKey = ByteString.CopyFrom(Provider.GenerateEd25519KeyPair().PublicKey);

        // Installed unchecked: the signature is checked when the chain first reads a message, which it then refuses.
        Assert.Equal(DistributionStatus.Installed, net[_carol].Session.ReceiveDistribution(_alice.Account, forged.ToByteArray(), net[_carol].State, deferOwnerCheck: true).Status);
        var hi = net.Send(_bob, "hi");
        Assert.Equal(GroupMessageFailure.BadSignature, Assert.Throws<GroupMessageException>(() => net.Deliver(_carol, hi.Ciphertext)).Reason);
        Assert.Equal(0, net[_carol].Session.ReceivedChainCount);

        // The real chain, under the same name, installs and reads.
        Assert.Equal(DistributionStatus.Installed, net[_carol].Session.ReceiveDistribution(_alice.Account, toCarol.Payload, net[_carol].State, deferOwnerCheck: true).Status);
        Assert.Equal("hi", net.Deliver(_carol, hi.Ciphertext).Text);
    }

    [Fact]
    public void A_forged_chain_that_came_first_does_not_keep_the_real_one_out()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        var toCarol = BobsChainPassedOnToCarol(net);
        var forged = SenderKeyDistributionProto.Parser.ParseFrom(toCarol.Payload);
        forged.OwnerSignature = ByteString.CopyFrom(new byte[64]);
        net[_carol].Session.ReceiveDistribution(_alice.Account, forged.ToByteArray(), net[_carol].State, deferOwnerCheck: true);

        // Same chain name: the unchecked one is checked now, fails, and the real one takes its place.
        Assert.Equal(DistributionStatus.Installed, net[_carol].Session.ReceiveDistribution(_alice.Account, toCarol.Payload, net[_carol].State, deferOwnerCheck: true).Status);
        Assert.Equal(1, net[_carol].Session.ReceivedChainCount);
        Assert.Equal("hi", net.Deliver(_carol, net.Send(_bob, "hi").Ciphertext).Text);
        // A real chain arriving again is a duplicate.
        Assert.Equal(DistributionStatus.Duplicate, net[_carol].Session.ReceiveDistribution(_alice.Account, toCarol.Payload, net[_carol].State, deferOwnerCheck: true).Status);
    }

    [Fact]
    public void A_sender_has_at_most_one_unchecked_chain_an_epoch_so_forged_ones_cannot_push_real_ones_out()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        var toCarol = BobsChainPassedOnToCarol(net);
        Assert.Equal(DistributionStatus.Installed, net[_carol].Session.ReceiveDistribution(_alice.Account, toCarol.Payload, net[_carol].State, deferOwnerCheck: true).Status);

        // Further chains of bob with made-up ids are checked at once while one of his of that epoch is unchecked:
        // refused, as is one for another epoch.
        for (uint i = 1; i <= GroupSession.MaxChainsPerSender; i++)
        {
            var forged = SenderKeyDistributionProto.Parser.ParseFrom(toCarol.Payload);
            forged.ChainId += i;
            Assert.Equal(
                GroupMessageFailure.BadSignature,
                Assert.Throws<GroupMessageException>(() => net[_carol].Session.ReceiveDistribution(_alice.Account, forged.ToByteArray(), net[_carol].State, deferOwnerCheck: true)).Reason);
        }
        var otherEpoch = SenderKeyDistributionProto.Parser.ParseFrom(toCarol.Payload);
        otherEpoch.Epoch = ByteString.CopyFrom(new byte[32]);
        Assert.Equal(
            GroupMessageFailure.BadSignature,
            Assert.Throws<GroupMessageException>(() => net[_carol].Session.ReceiveDistribution(_alice.Account, otherEpoch.ToByteArray(), net[_carol].State, deferOwnerCheck: true)).Reason);
        Assert.Equal(1, net[_carol].Session.ReceivedChainCount);
        Assert.Equal("hi", net.Deliver(_carol, net.Send(_bob, "hi").Ciphertext).Text);
    }

    [Fact]
    public void An_unchecked_chain_stays_unchecked_when_stored_and_an_admin_passes_on_only_checked_chains()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        var toCarol = BobsChainPassedOnToCarol(net);
        var forged = SenderKeyDistributionProto.Parser.ParseFrom(toCarol.Payload);
        forged.SigningKey = ByteString.CopyFrom(Provider.GenerateEd25519KeyPair().PublicKey);
        net[_carol].Session.ReceiveDistribution(_alice.Account, forged.ToByteArray(), net[_carol].State, deferOwnerCheck: true);

        var stored = GroupSession.Deserialize(Provider, net[_carol].Session.Serialize());
        Assert.Equal(1, stored.ReceivedChainCount);
        Assert.Equal(GroupMessageFailure.BadSignature, Assert.Throws<GroupMessageException>(() => stored.Decrypt(net.Send(_bob, "hi").Ciphertext, net[_carol].State)).Reason);

        // Carol made an admin holds the forged chain unchecked: she checks it before passing it on, and does not.
        net.Change(_alice, MembershipChange.Promote(_carol.Account));
        var carolsSession = GroupSession.Deserialize(Provider, net[_carol].Session.Serialize());
        Assert.DoesNotContain(carolsSession.Relay(net[_carol].State), o => o.Recipient.Equals(_alice.Account));
    }

    /// <summary>Bob sends his chain to the admin, alice, who passes it on to carol: what carol gets.</summary>
    private OutgoingDistribution BobsChainPassedOnToCarol(GroupNetwork net)
    {
        var bobs = net[_bob].Session.Update(net[_bob].State, _bob.Key, net[_bob].State.IsAdmin).Outgoing.Single();
        net[_alice].Session.ReceiveDistribution(_bob.Account, bobs.Payload, net[_alice].State);
        return net[_alice].Session.Relay(net[_alice].State).Single(o => o.Recipient.Equals(_carol.Account));
    }

    [Fact]
    public void After_a_removal_the_new_chains_go_through_the_admin_and_never_to_the_removed_member()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol, _dave);
        net.SyncThroughAdmins();
        net.Change(_alice, MembershipChange.Remove(_dave.Account));
        Assert.Equal(0, net[_bob].Session.ReadableMemberCount(net[_bob].State));

        var sent = net.SyncThroughAdmins();
        Assert.All(new[] { _alice, _bob, _carol }, p => Assert.Equal(2, net[p].Session.ReadableMemberCount(net[p].State)));

        Assert.Equal(1, sent[_bob]);
        Assert.Equal(1, sent[_carol]);
        Assert.Equal(0, sent[_dave]);
        Assert.Equal(2 + 2, sent[_alice]);
        var epoch = net[_alice].State.Epoch.Id;
        foreach (var (sender, reader) in new[] { (_bob, _carol), (_carol, _bob), (_alice, _bob), (_bob, _alice) })
        {
            var message = net.Send(sender, "after");
            Assert.Equal(epoch, message.Message.Epoch);
            Assert.Equal("after", net.Deliver(reader, message.Ciphertext).Text);
            Assert.Equal(GroupMessageFailure.UnknownChain, Assert.Throws<GroupMessageException>(() => net[_dave].Session.Decrypt(message.Ciphertext, net[_dave].State)).Reason);
        }
    }

    [Fact]
    public void What_could_not_be_sent_is_passed_on_again_and_a_stored_session_keeps_the_owners_signatures()
    {
        var net = new GroupNetwork(sync: false, _alice, _bob, _carol);
        foreach (var member in new[] { _bob, _carol })
        {
            var own = net[member].Session.Update(net[member].State, member.Key, net[member].State.IsAdmin).Outgoing.Single();
            net[_alice].Session.ReceiveDistribution(member.Account, own.Payload, net[_alice].State);
        }
        var admin = net[_alice].Session;
        Assert.Equal(2, admin.Relay(net[_alice].State).Count);
        Assert.Empty(admin.Relay(net[_alice].State));

        admin.RelayNotSent(_carol.Account);
        var again = Assert.Single(admin.Relay(net[_alice].State));
        Assert.Equal(_carol.Account, again.Recipient);

        // Loaded from storage, the admin passes everything on once more, still signed by the owners.
        var stored = GroupSession.Deserialize(Provider, admin.Serialize());
        var relayed = stored.Relay(net[_alice].State);
        Assert.Equal(2, relayed.Count);
        foreach (var outgoing in relayed)
        {
            var recipient = outgoing.Recipient.Equals(_bob.Account) ? _bob : _carol;
            Assert.Equal(DistributionStatus.Installed, net[recipient].Session.ReceiveDistribution(_alice.Account, outgoing.Payload, net[recipient].State).Status);
        }
    }
}
