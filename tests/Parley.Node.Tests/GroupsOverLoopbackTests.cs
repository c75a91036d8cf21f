using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Net;
using Xunit.Abstractions;

namespace Parley.Node.Tests;

/// <summary>The groups issue's loopback scenario: five users in one room over TCP, with an offline member and a removal.</summary>
public sealed class GroupsOverLoopbackTests(ITestOutputHelper output)
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Five_users_chat_in_a_room_one_catches_up_offline_and_a_kicked_member_reads_nothing_after()
    {
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(8);
        var nodes = new Dictionary<string, ParleyNode>();
        foreach (var name in new[] { "alice", "bob", "carol", "dave", "erin" })
        {
            nodes[name] = await network.StartUserAsync(name);
        }
        ChatClient Chat(string name) => nodes[name].Chat!;

        var room = await Chat("alice").CreateGroupAsync("loopback club", historyEnabled: true, CancellationToken.None);
        foreach (var invitee in new[] { "bob", "carol", "erin" })
        {
            await Chat("alice").InviteToGroupAsync(room.IdText, Chat(invitee).Handle.ToString(), CancellationToken.None);
        }
        foreach (var invitee in new[] { "bob", "carol", "erin" })
        {
            await WaitAsync(async () => (await Chat(invitee).GetGroupsAsync(CancellationToken.None)).Any(g => g.Status == GroupStatus.Invited), $"{invitee} is invited");
            await Chat(invitee).JoinGroupAsync(room.IdText, CancellationToken.None);
        }
        await Chat("dave").JoinGroupAsync(room.InviteLink!, CancellationToken.None);
        await WaitAsync(async () => (await Chat("alice").GetGroupAsync(room.IdText, CancellationToken.None)).Requests.Count == 1, "alice sees dave's request");
        await Chat("alice").ApproveAsync(room.IdText, Chat("dave").Handle.ToString(), CancellationToken.None);
        foreach (var name in nodes.Keys)
        {
            await WaitAsync(async () => (await Chat(name).GetGroupAsync(room.IdText, CancellationToken.None)) is { Status: GroupStatus.Member, Members.Count: 5 }, $"{name} sees five members");
        }

        foreach (var name in nodes.Keys)
        {
            await Chat(name).SendToGroupAsync(room.IdText, $"hi from {name}", CancellationToken.None);
        }
        await WaitForTextsAsync(nodes.Keys.Select(Chat), room.IdText, 5);

        // Erin stops; bob writes three messages; erin comes back on another port and catches up from her mailbox.
        await network.StopAsync(nodes["erin"]);
        for (var i = 0; i < 3; i++)
        {
            await Chat("bob").SendToGroupAsync(room.IdText, $"while erin is away {i}", CancellationToken.None);
        }
        await WaitAsync(
            async () => (await Chat("bob").GetGroupHistoryAsync(room.IdText, 100, CancellationToken.None)).Messages.Where(m => m.Text.StartsWith("while erin", StringComparison.Ordinal)).All(m => m.Stored + m.Delivered >= 4),
            "bob's three messages reach every member or their mailbox");
        nodes["erin"] = await network.StartUserAsync("erin");
        await WaitForTextsAsync(nodes.Keys.Select(Chat), room.IdText, 8);
        var reference = await TextsAsync(Chat("alice"), room.IdText);
        foreach (var name in nodes.Keys)
        {
            Assert.Equal(reference, await TextsAsync(Chat(name), room.IdText));
        }

        // Carol is removed; what bob sends next reaches the others, and carol cannot read it even when handed it.
        await Chat("alice").KickAsync(room.IdText, Chat("carol").Handle.ToString(), CancellationToken.None);
        await WaitAsync(async () => (await Chat("carol").GetGroupAsync(room.IdText, CancellationToken.None)).Status == GroupStatus.Removed, "carol learns she was removed");
        await WaitAsync(async () => (await Chat("bob").GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count == 4, "bob sees carol gone");
        var afterKick = await Chat("bob").SendToGroupAsync(room.IdText, "after carol was removed", CancellationToken.None);
        foreach (var name in new[] { "alice", "dave", "erin" })
        {
            await WaitAsync(async () => (await TextsAsync(Chat(name), room.IdText)).Contains("after carol was removed"), $"{name} reads bob's message");
        }
        Assert.Equal(3, afterKick.Recipients);
        // The answer comes after carol's node handled it (stored it to read later, or refused it): nothing to wait for.
        var response = await DeliverAsync(nodes["carol"], afterKick.Ciphertext!);
        Assert.NotEqual(ChatResponse.Types.Status.Refused, response.Status);
        Assert.DoesNotContain("after carol was removed", await TextsAsync(Chat("carol"), room.IdText));
        await Assert.ThrowsAsync<ChatException>(() => Chat("carol").SendToGroupAsync(room.IdText, "still here?", CancellationToken.None));
    }

    private static async Task<List<string>> TextsAsync(ChatClient chat, string room) =>
        (await chat.GetGroupHistoryAsync(room, 1000, CancellationToken.None)).Messages.Select(m => m.Text).ToList();

    private async Task WaitForTextsAsync(IEnumerable<ChatClient> chats, string room, int count)
    {
        foreach (var chat in chats)
        {
            await WaitAsync(async () => (await TextsAsync(chat, room)).Count >= count, $"{chat.Handle} has {count} room messages");
        }
    }

    private async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        await LoopbackNetwork.WaitUntilAsync(condition, Patience, what);
        output.WriteLine($"{_clock.Elapsed.TotalSeconds:0.0}s {what}");
    }

    /// <summary>Hands a node a room ciphertext on a chat stream from a stranger, as a leak or a late copy would.</summary>
    private static async Task<ChatResponse> DeliverAsync(ParleyNode to, byte[] ciphertext)
    {
        await using var stranger = new Net.Host.Libp2pHost(Core.Identity.IdentityKey.Generate(), new Net.Host.HostOptions { ListenAddresses = [] });
        await stranger.StartAsync(CancellationToken.None);
        await stranger.ConnectAsync(to.Host.ListenAddresses[0].WithPeerId(to.PeerId), CancellationToken.None);
        await using var stream = await stranger.OpenStreamAsync(to.PeerId, [ChatOptions.ChatProtocolId], CancellationToken.None);
        var envelope = new Envelope { EnvelopeId = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()), GroupMessage = ByteString.CopyFrom(ciphertext) };
        await LengthPrefixed.WriteMessageAsync(stream, new ChatRequest { Envelope = envelope }.ToByteArray(), CancellationToken.None);
        return ChatResponse.Parser.ParseFrom(await LengthPrefixed.ReadMessageAsync(stream, 4096, CancellationToken.None));
    }
}
