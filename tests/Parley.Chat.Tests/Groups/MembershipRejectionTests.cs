using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Groups.Protos;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

public class MembershipRejectionTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");
    private readonly Person _carol = new("carol");
    private readonly Person _mallory = new("mallory");

    [Fact]
    public void Forged_signature_is_rejected()
    {
        var log = Room(_alice, _bob);
        var proto = MembershipEntryProto.Parser.ParseFrom(MembershipLogTests.SignedBy(log, _alice, MembershipChange.Remove(_bob.Account)));
        // Mallory's signature on an entry that claims Alice as author.
        proto.Signature = ByteString.CopyFrom(_mallory.Key.Sign(MembershipEntry.Parse(proto.ToByteArray(), Provider).SignedPayload));

        var result = log.Add(proto.ToByteArray());

        Assert.Equal(AddStatus.Rejected, result.Status);
        Assert.Equal(MembershipFailure.ForgedSignature, result.Reason);
        Assert.True(log.State.IsMember(_bob.Account));
    }

    [Fact]
    public void Altered_field_breaks_the_signature()
    {
        var log = Room(_alice, _bob);
        var proto = MembershipEntryProto.Parser.ParseFrom(MembershipLogTests.SignedBy(log, _alice, MembershipChange.Rename("tea")));
        proto.RoomName = "coffee";

        Assert.Equal(MembershipFailure.ForgedSignature, log.Add(proto.ToByteArray()).Reason);
        Assert.Equal("room", log.State.Name);
    }

    [Fact]
    public void Replayed_entry_is_a_duplicate_and_changes_nothing()
    {
        var log = Room(_alice, _bob);
        var rename = log.Append(_alice.Key, MembershipChange.Rename("once"), Now);
        var before = Describe(log);

        var result = log.Add(rename.ToBytes());

        Assert.Equal(AddStatus.Duplicate, result.Status);
        Assert.Equal(before, Describe(log));
    }

    [Fact]
    public void Entry_signed_by_a_non_admin_is_rejected()
    {
        var log = Room(_alice, _bob, _carol);

        var result = log.Add(MembershipLogTests.SignedBy(log, _bob, MembershipChange.Remove(_carol.Account)));

        Assert.Equal(AddStatus.Rejected, result.Status);
        Assert.Equal(MembershipFailure.NotAuthorized, result.Reason);
        Assert.Contains("needs an admin", result.Detail, StringComparison.Ordinal);
        Assert.True(log.State.IsMember(_carol.Account));
        Assert.DoesNotContain(log.Entries, e => e.Entry.Kind == MembershipKind.Remove);
    }

    [Fact]
    public void Entry_by_a_former_admin_on_old_parents_is_checked_against_those_parents()
    {
        // Bob was an admin when he saw these heads, so his entry is valid in its causal past and kept, but void.
        var log = Room(_alice, _bob, _carol);
        log.Append(_alice.Key, MembershipChange.Promote(_bob.Account), Now);
        var bobsView = Copy(log);
        log.Append(_alice.Key, MembershipChange.Demote(_bob.Account), Now);
        // Bob's first rename is concurrent with the demotion (same clock, order by id); his second sorts after it.
        var first = bobsView.Append(_bob.Key, MembershipChange.Rename("bob's 1"), Now);
        var late = bobsView.Append(_bob.Key, MembershipChange.Rename("bob's 2"), Now);

        Assert.Equal(AddStatus.Pending, log.Add(late.ToBytes()).Status);
        Assert.Equal(AddStatus.Accepted, log.Add(first.ToBytes()).Status);
        var logged = log.Entries.Single(e => e.Entry.Id == late.Id);
        Assert.Equal(MembershipFailure.NotAuthorized, logged.VoidReason);
        Assert.NotEqual("bob's 2", log.State.Name);
        Assert.True(log.State.Audit.Single(c => c.Entry == late.Id).IsVoid);
        Assert.Equal(log.Count, log.State.Audit.Count);
    }

    [Fact]
    public void Request_without_a_valid_link_proof_is_rejected()
    {
        var log = Room(_alice);
        var wrongKey = new byte[32];
        var forged = MembershipEntry.SignRequest(Provider, _mallory.Key, new GroupInviteLink(log.GroupId, wrongKey, "alice#aaaaaaaa"), "mallory", log.Heads, log.NextLamport, Now);

        var result = log.Add(forged.ToBytes());

        Assert.Equal(MembershipFailure.BadLinkProof, result.Reason);
        Assert.Empty(log.State.Requests);

        // A proof made for another account does not carry over either.
        var carols = MembershipEntry.SignRequest(Provider, _carol.Key, log.InviteLink("alice#aaaaaaaa"), "carol", log.Heads, log.NextLamport, Now);
        var stolen = MembershipEntry.SignRequest(Provider, _mallory.Key, log.InviteLink("alice#aaaaaaaa"), "mallory", log.Heads, log.NextLamport, Now);
        var proto = MembershipEntryProto.Parser.ParseFrom(stolen.ToBytes());
        proto.LinkProof = ByteString.CopyFrom(carols.LinkProof);
        var payload = MembershipEntry.Parse(proto.ToByteArray(), Provider).SignedPayload;
        proto.Signature = ByteString.CopyFrom(_mallory.Key.Sign(payload));
        Assert.Equal(MembershipFailure.BadLinkProof, log.Add(proto.ToByteArray()).Reason);
    }

    [Fact]
    public void Entry_for_another_group_is_rejected()
    {
        var log = Room(_alice, _bob);
        var other = Room(_alice, _bob);
        var entry = other.Append(_alice.Key, MembershipChange.Remove(_bob.Account), Now);

        var result = log.Add(entry.ToBytes());

        Assert.Equal(MembershipFailure.WrongGroup, result.Reason);
    }

    [Fact]
    public void Create_with_another_link_key_and_a_second_create_are_rejected()
    {
        var log = Room(_alice);
        var stranger = new MembershipLog(Provider, log.GroupId, new byte[32]);
        Assert.Equal(MembershipFailure.BadLinkProof, stranger.Add(log.Entries[0].Entry.ToBytes()).Reason);

        // A second root signed by the same creator for the same room.
        var second = MembershipEntry.Sign(Provider, _alice.Key, log.GroupId, [], 1, MembershipChange.Create("alice", "other", false), log.Entries[0].Entry.LinkKeyHash, null, Now);
        Assert.Equal(MembershipFailure.SecondCreate, log.Add(second.ToBytes()).Reason);
    }

    [Fact]
    public void Wrong_lamport_clock_is_rejected()
    {
        var log = Room(_alice, _bob);
        var entry = MembershipEntry.Sign(Provider, _alice.Key, log.GroupId, log.Heads, log.NextLamport + 100, MembershipChange.Rename("later"), null, null, Now);

        Assert.Equal(MembershipFailure.BadClock, log.Add(entry.ToBytes()).Reason);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF, 0xFF })]
    [InlineData(new byte[] { 0x0A, 0x05, 1, 2, 3, 4, 5 })]
    [InlineData(new byte[0])]
    public void Malformed_bytes_are_rejected(byte[] bytes)
    {
        var log = Room(_alice);
        var result = log.Add(bytes);

        Assert.Equal(AddStatus.Rejected, result.Status);
        Assert.Equal(MembershipFailure.Malformed, result.Reason);
        Assert.False(string.IsNullOrEmpty(result.Detail));
    }

    [Fact]
    public void Fields_not_allowed_for_the_kind_are_malformed()
    {
        var log = Room(_alice, _bob);
        var cases = new Action<MembershipEntryProto>[]
        {
            p => p.RoomName = "a leave with a room name",
            p => p.Target = ByteString.CopyFrom(_bob.Account.ToProtobuf()),
            p => p.Kind = (MembershipKindProto)99,
            p => p.Parents.Clear(),
            p => p.Parents.Add(p.Parents[0]),
            p => p.MemberName = "tab\tname",
            p => p.Signature = ByteString.CopyFrom(new byte[10]),
            p => p.GroupId = ByteString.CopyFrom(new byte[31]),
            p => p.Author = ByteString.CopyFrom(new byte[36]),
            p => p.TimestampMs = -1,
        };
        foreach (var mutate in cases)
        {
            var proto = MembershipEntryProto.Parser.ParseFrom(MembershipLogTests.SignedBy(log, _bob, MembershipChange.Leave()));
            mutate(proto);
            var result = log.Add(proto.ToByteArray());
            Assert.Equal(MembershipFailure.Malformed, result.Reason);
        }
        Assert.True(log.State.IsMember(_bob.Account));
    }

    [Fact]
    public void Oversized_entry_is_rejected()
    {
        var log = Room(_alice);
        var proto = MembershipEntryProto.Parser.ParseFrom(MembershipLogTests.SignedBy(log, _alice, MembershipChange.Rename("x")));
        proto.RoomName = new string('x', MembershipEntry.MaxEncodedLength);

        Assert.Equal(MembershipFailure.Oversized, log.Add(proto.ToByteArray()).Reason);
        Assert.Throws<ArgumentException>(() => log.Append(_alice.Key, MembershipChange.Rename(new string('x', 300)), Now));
    }

    [Fact]
    public void Entry_with_missing_parents_is_held_until_they_arrive()
    {
        var full = Room(_alice, _bob, _carol);
        var entries = full.Entries.Select(e => e.Entry).ToArray();
        var log = Copy(full, entries[..1]);

        // The last Join first: its parents are missing.
        var last = log.Add(entries[^1].ToBytes());
        Assert.Equal(AddStatus.Pending, last.Status);
        Assert.Equal([entries[^2].Id], last.MissingParents);
        Assert.Equal(AddStatus.Duplicate, log.Add(entries[^1].ToBytes()).Status);

        // Another member serves what is missing, one parent at a time, newest first.
        AddResult result;
        do
        {
            result = log.Add(full.Find(log.MissingParents.Single())!.ToBytes());
        }
        while (result.Status == AddStatus.Pending);

        Assert.Equal(AddStatus.Accepted, result.Status);
        Assert.Equal(entries[1..].Select(e => e.Id), result.Accepted.Select(e => e.Id));
        Assert.Equal(0, log.PendingCount);
        Assert.Empty(log.MissingParents);
        Assert.Equal(Describe(full), Describe(log));
    }

    [Fact]
    public void Held_entries_are_bounded()
    {
        var full = Room(_alice, _bob);
        var log = Copy(full, full.Entries.Take(1).Select(e => e.Entry));
        var orphanParent = Id256.FromBytes(new byte[32]);
        for (var i = 0; i < MembershipLog.MaxPendingEntries; i++)
        {
            var orphan = MembershipEntry.Sign(Provider, _mallory.Key, log.GroupId, [orphanParent], 5, MembershipChange.Rename($"n{i}"), null, null, Now);
            Assert.Equal(AddStatus.Pending, log.Add(orphan).Status);
        }

        var one = MembershipEntry.Sign(Provider, _mallory.Key, log.GroupId, [orphanParent], 5, MembershipChange.Rename("one more"), null, null, Now);
        Assert.Equal(MembershipFailure.TooManyPending, log.Add(one).Reason);
    }
}
