using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Groups.Protos;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

public class GroupTimelineTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");
    private readonly Person _carol = new("carol");
    private readonly Person _dave = new("dave");

    [Fact]
    public void Every_member_shows_the_same_order_whatever_the_arrival_order()
    {
        var net = new GroupNetwork(_alice, _bob, _carol, _dave);
        var all = new List<SentGroupMessage>();
        var random = new Random(11);
        // Alice, Bob and Carol talk, each seeing only some of the others' messages before replying.
        for (var round = 0; round < 12; round++)
        {
            var sender = new[] { _alice, _bob, _carol }[random.Next(3)];
            var sent = net.Send(sender, $"round {round}");
            all.Add(sent);
            foreach (var other in new[] { _alice, _bob, _carol }.Where(p => p != sender && random.Next(2) == 0))
            {
                if (!net[other].Timeline.Contains(sent.Message.Id))
                {
                    net.Deliver(other, sent.Ciphertext);
                }
            }
        }
        foreach (var person in new[] { _alice, _bob, _carol, _dave })
        {
            foreach (var sent in all.OrderBy(_ => random.Next()))
            {
                if (!net[person].Timeline.Contains(sent.Message.Id))
                {
                    net.Deliver(person, sent.Ciphertext);
                }
            }
        }

        var expected = net[_dave].Timeline.Messages.Select(m => m.Id).ToArray();
        Assert.Equal(all.Count, expected.Length);
        foreach (var person in new[] { _alice, _bob, _carol })
        {
            Assert.Equal(expected, net[person].Timeline.Messages.Select(m => m.Id));
            Assert.Empty(net[person].Timeline.Gaps);
            Assert.Empty(net[person].Timeline.MissingParents);
        }
        // Causal: every message comes after its parents.
        var position = expected.Select((id, i) => (id, i)).ToDictionary(x => x.id, x => x.i);
        foreach (var message in net[_dave].Timeline.Messages)
        {
            Assert.All(message.Parents, p => Assert.True(position[p] < position[message.Id]));
        }
    }

    [Fact]
    public void Next_clock_follows_the_largest_clock_and_the_heads()
    {
        var net = new GroupNetwork(_alice, _bob);
        var a = net.Send(_alice, "a");
        var b = net.Send(_bob, "b");
        net.Deliver(_alice, b.Ciphertext);

        var (lamport, parents) = net[_alice].Timeline.NextClock();

        Assert.Equal(2ul, lamport);
        Assert.Equal(new[] { a.Message.Id, b.Message.Id }.Order(), parents);
        var c = net.Send(_alice, "c");
        net.Deliver(_bob, a.Ciphertext);
        net.Deliver(_bob, c.Ciphertext);
        Assert.Equal([c.Message.Id], net[_bob].Timeline.NextClock().Parents);
        Assert.Equal(3ul, net[_bob].Timeline.NextClock().Lamport);
    }

    [Fact]
    public void Gap_detection_reports_missing_iterations_and_parents()
    {
        var net = new GroupNetwork(_alice, _bob, _carol);
        var sent = Enumerable.Range(0, 6).Select(i => net.Send(_alice, $"m{i}")).ToArray();
        net.Deliver(_bob, sent[0].Ciphertext);
        net.Deliver(_bob, sent[3].Ciphertext);
        net.Deliver(_bob, sent[5].Ciphertext);

        var gaps = net[_bob].Timeline.Gaps;
        Assert.Equal([(1u, 2u), (4u, 4u)], gaps.Select(g => (g.FirstIteration, g.LastIteration)));
        Assert.All(gaps, g => Assert.Equal(_alice.Account, g.Sender));
        Assert.Equal(new[] { sent[2].Message.Id, sent[4].Message.Id }.Order(), net[_bob].Timeline.MissingParents);

        // Carol's first arrival is iteration 2: she was sent the chain at 0, so 0 and 1 are a gap too.
        net.Deliver(_carol, sent[2].Ciphertext);
        Assert.Equal((0u, 1u), (net[_carol].Timeline.Gaps.Single().FirstIteration, net[_carol].Timeline.Gaps.Single().LastIteration));
    }

    [Fact]
    public void History_bundle_merges_without_duplicates()
    {
        var net = new GroupNetwork(_alice, _bob);
        var sent = new SentGroupMessage[5];
        for (var i = 0; i < sent.Length; i++)
        {
            var (from, to) = i % 2 == 0 ? (_alice, _bob) : (_bob, _alice);
            sent[i] = net.Send(from, $"old {i}");
            net.Deliver(to, sent[i].Ciphertext);
        }
        net.Change(_alice, MembershipChange.Invite(_carol.Account, "carol"));
        var carol = net.Add(_carol, _alice);
        // Carol already has one of the old messages (say a member forwarded it).
        carol.Timeline.Add(net[_alice].Timeline.Find(sent[1].Message.Id)!);

        var bundles = HistoryBundle.Offer(net[_alice].State, net[_alice].Timeline.Messages);
        var bundle = HistoryBundle.Parse(Assert.Single(bundles), carol.Log.GroupId, Provider);

        Assert.Equal(4, carol.Timeline.Merge(bundle));
        Assert.Equal(0, carol.Timeline.Merge(bundle));
        Assert.Equal(net[_alice].Timeline.Messages.Select(m => m.Id), carol.Timeline.Messages.Select(m => m.Id));
        Assert.True(carol.Timeline.IsFromHistory(sent[0].Message.Id));
        Assert.False(carol.Timeline.IsFromHistory(sent[1].Message.Id));
        Assert.Equal(sent.Select(s => s.Message.Text), carol.Timeline.Messages.Select(m => m.Text));
    }

    [Fact]
    public void History_is_not_offered_when_the_setting_is_off()
    {
        var net = new GroupNetwork(_alice, _bob);
        net.Send(_alice, "private");
        net.Change(_alice, MembershipChange.SetHistory(false));

        Assert.Empty(HistoryBundle.Offer(net[_alice].State, net[_alice].Timeline.Messages));
    }

    [Fact]
    public void History_bundle_with_an_altered_message_or_for_another_room_is_refused()
    {
        var net = new GroupNetwork(_alice, _bob);
        net.Send(_alice, "what was said");
        var bytes = Assert.Single(HistoryBundle.Offer(net[_alice].State, net[_alice].Timeline.Messages));
        var proto = HistoryBundleProto.Parser.ParseFrom(bytes);
        proto.Messages[0].Body.Text = "what was not said";

        var altered = Assert.Throws<FormatException>(() => HistoryBundle.Parse(proto.ToByteArray(), net[_alice].Log.GroupId, Provider));
        Assert.Contains("does not match", altered.Message, StringComparison.Ordinal);
        Assert.Throws<FormatException>(() => HistoryBundle.Parse(bytes, Id256.FromBytes(new byte[32]), Provider));
        Assert.Throws<FormatException>(() => HistoryBundle.Parse(new byte[HistoryBundle.MaxEncodedLength + 1], net[_alice].Log.GroupId, Provider));
        Assert.Throws<FormatException>(() => HistoryBundle.Parse([0xFF], net[_alice].Log.GroupId, Provider));
    }

    [Fact]
    public void Large_history_is_split_into_bounded_bundles()
    {
        var net = new GroupNetwork(_alice, _bob);
        var text = new string('x', 60_000);
        for (var i = 0; i < 20; i++)
        {
            net.Send(_alice, text);
        }

        var bundles = HistoryBundle.Offer(net[_alice].State, net[_alice].Timeline.Messages);

        Assert.True(bundles.Count >= 3);
        Assert.All(bundles, b => Assert.True(b.Length <= HistoryBundle.MaxEncodedLength));
        var timeline = new GroupTimeline(net[_alice].Log.GroupId);
        Assert.Equal(20, bundles.Sum(b => timeline.Merge(HistoryBundle.Parse(b, timeline.GroupId, Provider))));
        Assert.Equal(net[_alice].Timeline.Messages.Select(m => m.Id), timeline.Messages.Select(m => m.Id));
    }
}
