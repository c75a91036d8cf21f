using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Dht.Keys;

namespace Parley.Node.Tests;

/// <summary>The chat issue's loopback scenario: 20 nodes, alice and bob, offline delivery through node failures.</summary>
public sealed class ChatOverLoopbackTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Alice_and_bob_chat_and_bob_gets_everything_after_coming_back_through_node_failures()
    {
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(20);
        var aliceNode = await network.StartUserAsync("alice");
        var bobNode = await network.StartUserAsync("bob");
        var alice = aliceNode.Chat!;
        var bob = bobNode.Chat!;

        // Found by handle and by bare name.
        Assert.Equal(bob.Account.PublicKey, Assert.Single(await alice.FindAsync(bob.Handle.ToString(), CancellationToken.None)).Account);
        Assert.Equal(bob.Handle, Assert.Single(await alice.FindAsync("bob", CancellationToken.None)).Handle);

        // Online, directly, both ways.
        await alice.SendAsync(bob.Handle.ToString(), "hi bob", CancellationToken.None);
        await LoopbackNetwork.WaitUntilAsync(async () => (await bob.GetUnreadAsync(CancellationToken.None)).Count == 1, Patience, "bob has alice's request");
        await bob.SendAsync(alice.Handle.ToString(), "hi alice", CancellationToken.None);
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await alice.GetHistoryAsync("bob", 10, CancellationToken.None)) is { Count: 2 } h && h.All(m => m.State is DeliveryState.Delivered or DeliveryState.Received),
            Patience,
            "both first messages are delivered");
        Assert.Equal(ContactState.Accepted, (await alice.GetContactAsync("bob", CancellationToken.None)).State);
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await alice.GetContactAsync("bob", CancellationToken.None)).TheirMailboxToken is not null,
            Patience,
            "alice holds bob's mailbox token");

        // Bob goes offline; alice writes 50 messages, which go to his mailbox.
        var bobFolder = "bob";
        await network.StopAsync(bobNode);
        var sent = new List<MessageRecord>();
        for (var i = 0; i < 50; i++)
        {
            sent.Add(await alice.SendAsync("bob", $"while you were away {i}", CancellationToken.None));
        }
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await alice.GetHistoryAsync("bob", 100, CancellationToken.None)).Count(m => m.State == DeliveryState.Stored) == 50,
            Patience,
            "all 50 are stored in bob's mailbox");

        // 30% of the plain nodes fail, among them the ones closest to bob's mailbox.
        var mailbox = KadId.FromKey(MailboxAddress.Of(bob.Account.PublicKey));
        var plain = network.Nodes.Where(n => n != aliceNode).ToList();
        var victims = plain.OrderBy(n => KadId.FromPeer(n.PeerId).Distance(mailbox)).Take(3)
            .Concat(plain.OrderByDescending(n => KadId.FromPeer(n.PeerId).Distance(mailbox)).Take(3))
            .ToList();
        foreach (var victim in victims)
        {
            await network.StopAsync(victim);
        }

        // Bob comes back on another port and gets every message exactly once, in order.
        bobNode = await network.StartUserAsync(bobFolder);
        bob = bobNode.Chat!;
        Assert.NotEqual(bobNode.Host.ListenAddresses[0], aliceNode.Host.ListenAddresses[0]);
        await LoopbackNetwork.WaitUntilAsync(async () => (await bob.GetHistoryAsync("alice", 100, CancellationToken.None)).Count == 52, Patience, "bob has all 52 messages");
        var history = await bob.GetHistoryAsync("alice", 100, CancellationToken.None);
        Assert.Equal(["hi bob", "hi alice", .. Enumerable.Range(0, 50).Select(i => $"while you were away {i}")], history.Select(m => m.Text));
        Assert.Equal(history.Count, history.Select(m => Convert.ToHexString(m.Id)).Distinct().Count());

        // Alice learns they were delivered.
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await alice.GetHistoryAsync("bob", 100, CancellationToken.None)).Count(m => m.State == DeliveryState.Delivered) == 51,
            Patience,
            "alice sees all 51 of her messages delivered");

        // A second alice: another tag, and a search for the name lists both, first come first.
        var otherAlice = (await network.StartUserAsync("second-alice", "alice")).Chat!;
        Assert.NotEqual(alice.Handle.Tag, otherAlice.Handle.Tag);
        var alices = await bob.FindAsync("alice", CancellationToken.None);
        Assert.Equal([alice.Handle, otherAlice.Handle], alices.Select(m => m.Handle));
        Assert.Equal(otherAlice.Account.PublicKey, Assert.Single(await bob.FindAsync(otherAlice.Handle.ToString(), CancellationToken.None)).Account);
    }
}
