using System.Security.Cryptography;
using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Storage;

namespace Parley.Node.Tests;

/// <summary>The files issue's loopback scenario: a file pulled directly between two real nodes, and a small one pushed through the mailboxes to a recipient who was away.</summary>
public sealed class FilesOverLoopbackTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_file_arrives_identical_directly_and_a_small_one_through_the_mailboxes_after_the_recipient_returns()
    {
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(8);
        var aliceNode = await network.StartUserAsync("alice");
        var bobNode = await network.StartUserAsync("bob");
        var alice = aliceNode.Chat!;
        var bob = bobNode.Chat!;
        await alice.SendAsync(bob.Handle.ToString(), "hi bob", CancellationToken.None);
        await LoopbackNetwork.WaitUntilAsync(async () => (await bob.GetUnreadAsync(CancellationToken.None)).Count == 1, Patience, "bob has alice's request");
        await bob.SendAsync(alice.Handle.ToString(), "hi alice", CancellationToken.None);
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await alice.GetContactAsync("bob", CancellationToken.None)).TheirMailboxToken is not null,
            Patience,
            "alice holds bob's mailbox token");

        // Larger than what is pushed: bob pulls it over /parley/file/1.0.0 from alice's node.
        var large = RandomNumberGenerator.GetBytes((int)new FileTransferOptions().MaxPushedBytes * 3 + 12345);
        var sent = await alice.SendFileAsync("bob", "holiday.bin", null, new MemoryStream(large), null, CancellationToken.None);
        var received = await CompleteAsync(bob, sent.FileId, "bob has the large file whole");
        Assert.Equal(SHA256.HashData(large), await HashOfAsync(bob, received.IdText));
        Assert.Equal(SHA256.HashData(large), SHA256.HashData(await File.ReadAllBytesAsync(Path.Combine(network.FolderOf("bob"), DiskFileStore.SavedFolderName, received.SavedAs!))));

        // Bob is away; a small file goes to his mailbox, and alice leaves too, so it cannot come from her node.
        await network.StopAsync(bobNode);
        var small = RandomNumberGenerator.GetBytes(150 * 1024);
        var offered = await alice.SendFileAsync("bob", "note.txt", null, new MemoryStream(small), null, CancellationToken.None);
        await LoopbackNetwork.WaitUntilAsync(
            async () => await alice.CountOutboxAsync(CancellationToken.None, unsentOnly: true) == 0,
            Patience,
            "the manifest and every chunk are stored in bob's mailbox");
        Assert.Equal(DeliveryState.Stored, (await alice.GetHistoryAsync("bob", 10, CancellationToken.None)).Single(m => m.Id.AsSpan().SequenceEqual(offered.MessageId)).State);
        await network.StopAsync(aliceNode);

        bob = (await network.StartUserAsync("bob")).Chat!;
        var arrived = await CompleteAsync(bob, offered.FileId, "bob has the small file from his mailbox");
        Assert.Equal("note.txt", arrived.Name);
        Assert.Equal(SHA256.HashData(small), await HashOfAsync(bob, arrived.IdText));
    }

    private static async Task<ChatFile> CompleteAsync(ChatClient chat, byte[] fileId, string what)
    {
        var id = Convert.ToHexStringLower(fileId);
        ChatFile? file = null;
        await LoopbackNetwork.WaitUntilAsync(
            async () => (file = (await chat.GetFilesAsync(50, CancellationToken.None)).FirstOrDefault(f => f.IdText == id)) is { State: FileState.Complete },
            Patience,
            what);
        return file!;
    }

    private static async Task<byte[]> HashOfAsync(ChatClient chat, string id)
    {
        var (_, content) = await chat.OpenFileAsync(id, CancellationToken.None);
        await using (content)
        {
            return await SHA256.HashDataAsync(content);
        }
    }
}
