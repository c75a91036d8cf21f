using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Groups.Protos;
using Parley.Chat.Protos;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

/// <summary>Replies and actions (edit, deletion, reaction) as room messages: part of the id, checked, erasable.</summary>
public sealed class GroupMessageActionTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");

    [Fact]
    public void A_plain_text_keeps_the_id_it_always_had_and_a_reply_or_an_action_is_part_of_its_id()
    {
        var net = new GroupNetwork(_alice, _bob);
        var text = net.Send(_alice, "hello");
        Assert.Equal(LegacyId(text.Message), text.Message.Id);

        var reply = Send(net, _bob, body =>
        {
            body.Text = "hello to you";
            body.ReplyTo = ByteString.CopyFrom(text.Message.Id.Span);
        });
        var reaction = Send(net, _bob, body => body.Reaction = new MessageReaction { Target = ByteString.CopyFrom(text.Message.Id.Span), Emoji = "👋" });

        var atAlice = net.Deliver(_alice, reply.Ciphertext);
        Assert.Equal(text.Message.Id, atAlice.ReplyTo);
        Assert.Equal(reply.Message.Id, atAlice.Id);
        Assert.NotEqual(LegacyId(atAlice), atAlice.Id);
        Assert.Equal("👋", net.Deliver(_alice, reaction.Ciphertext).Reaction!.Emoji);
    }

    [Fact]
    public void A_body_is_a_text_or_one_well_formed_action()
    {
        var net = new GroupNetwork(_alice, _bob);
        var target = ByteString.CopyFrom(new byte[Id256.Size]);
        Action<GroupMessageBody>[] malformed =
        [
            body => body.ReplyTo = ByteString.CopyFrom(new byte[16]),
            body => body.Edit = new MessageEdit { Target = target, Text = "  " },
            body => body.Deletion = new MessageDeletion { Target = ByteString.CopyFrom(new byte[16]) },
            body => (body.Text, body.Deletion) = ("and a text", new MessageDeletion { Target = target }),
            body => (body.Edit, body.Deletion) = (new MessageEdit { Target = target, Text = "x" }, new MessageDeletion { Target = target }),
            body => body.Reaction = new MessageReaction { Target = target, Emoji = string.Concat(Enumerable.Repeat("😀", 9)) },
        ];
        foreach (var fill in malformed)
        {
            Assert.Throws<ArgumentException>(() => Send(net, _alice, fill));
        }
    }

    [Fact]
    public void An_erased_message_keeps_its_place_and_id_and_is_left_out_of_history()
    {
        var net = new GroupNetwork(_alice, _bob);
        var kept = net.Send(_alice, "kept");
        var erased = net.Send(_alice, "erased");
        var timeline = net[_alice].Timeline;

        timeline.Erase(erased.Message.Id);

        var stillThere = timeline.Find(erased.Message.Id)!;
        Assert.True(stillThere.IsErased);
        Assert.Equal("", stillThere.Text);
        Assert.Equal([kept.Message.Id, erased.Message.Id], timeline.Messages.Select(m => m.Id));
        var bundle = HistoryBundle.Parse(Assert.Single(HistoryBundle.Offer(net[_alice].State, timeline.Messages)), net[_alice].State.GroupId, Provider);
        Assert.Equal([kept.Message.Id], bundle.Messages.Select(m => m.Id));
    }

    private static SentGroupMessage Send(GroupNetwork net, Person sender, Action<GroupMessageBody> fill)
    {
        var replica = net[sender];
        var (lamport, parents) = replica.Timeline.NextClock();
        var body = GroupMessage.Body(lamport, parents, Now, "");
        fill(body);
        var sent = replica.Session.Encrypt(body);
        replica.Timeline.Add(sent.Message);
        return sent;
    }

    /// <summary>The id as docs/groups.md section 3 has always defined it for a text, written out by hand.</summary>
    private static Id256 LegacyId(GroupMessage message)
    {
        using var bytes = new MemoryStream();
        bytes.Write("parley-group-message-id:"u8);
        void Field(ReadOnlySpan<byte> value)
        {
            Span<byte> length = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(length, (uint)value.Length);
            bytes.Write(length);
            bytes.Write(value);
        }
        void Number(ulong value, int size)
        {
            Span<byte> buffer = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(buffer, value);
            bytes.Write(buffer[(8 - size)..]);
        }
        Field(message.GroupId.Span);
        Field(message.Epoch.Span);
        Field(message.Sender.ToProtobuf());
        Number(message.ChainId, 4);
        Number(message.Iteration, 4);
        Number(message.Lamport, 8);
        Number((ulong)message.Parents.Count, 4);
        foreach (var parent in message.Parents)
        {
            bytes.Write(parent.Span);
        }
        Number(unchecked((ulong)message.TimestampMs), 8);
        Field(Encoding.UTF8.GetBytes(message.Text));
        return Id256.FromBytes(SHA256.HashData(bytes.ToArray()));
    }
}
