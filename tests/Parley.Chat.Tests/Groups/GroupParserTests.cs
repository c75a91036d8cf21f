using Parley.Chat.Groups;
using static Parley.Chat.Tests.Groups.GroupTestSupport;

namespace Parley.Chat.Tests.Groups;

/// <summary>Truncated and bit-flipped inputs to every parser: only the documented refusals come out.</summary>
public class GroupParserTests
{
    private readonly Person _alice = new("alice");
    private readonly Person _bob = new("bob");

    [Fact]
    public void Damaged_inputs_are_refused_with_their_documented_exceptions()
    {
        var net = new GroupNetwork(_alice, _bob);
        var bob = net[_bob];
        var entry = net.Change(_alice, MembershipChange.Rename("renamed")).ToBytes();
        var message = net.Send(_alice, "hello").Ciphertext;
        var distribution = new SenderKeyDistribution(bob.Log.GroupId, bob.State.Epoch.Id, 7, 0, new byte[32], new byte[32]).ToBytes();
        var history = Assert.Single(HistoryBundle.Offer(net[_alice].State, net[_alice].Timeline.Messages));
        var random = new Random(5);

        foreach (var damaged in Damage(entry, random))
        {
            var result = bob.Log.Add(damaged);
            Assert.True(result.Status is AddStatus.Rejected or AddStatus.Duplicate or AddStatus.Pending, result.ToString());
        }
        foreach (var damaged in Damage(message, random))
        {
            Assert.Throws<GroupMessageException>(() => bob.Session.Decrypt(damaged, bob.State));
        }
        foreach (var damaged in Damage(distribution, random))
        {
            try
            {
                bob.Session.ReceiveDistribution(_alice.Account, damaged, bob.State);
            }
            catch (GroupMessageException)
            {
            }
        }
        foreach (var damaged in Damage(history, random))
        {
            try
            {
                HistoryBundle.Parse(damaged, bob.Log.GroupId, Provider);
            }
            catch (FormatException)
            {
            }
        }
        Assert.Equal("renamed", bob.State.Name);
    }

    private static IEnumerable<byte[]> Damage(byte[] original, Random random)
    {
        for (var length = 0; length < original.Length; length += Math.Max(1, original.Length / 50))
        {
            yield return original[..length];
        }
        for (var i = 0; i < 300; i++)
        {
            var copy = original.ToArray();
            copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8));
            yield return copy;
        }
    }
}
