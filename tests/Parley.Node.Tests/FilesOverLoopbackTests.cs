using System.Security.Cryptography;
using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Storage;
using Parley.Testing;

namespace Parley.Node.Tests;

/// <summary>
/// The files issue's loopback scenarios on real nodes: a file pulled directly, a small one pushed through the mailboxes
/// to a recipient who was away, a chunk served corrupted and fetched again, and a file sent to a room of five.
/// </summary>
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

    [Fact]
    public async Task A_chunk_served_corrupted_is_refused_against_the_manifest_and_fetched_again()
    {
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(4);
        // Alice's node spoils one byte of the first chunk it serves, once.
        var corrupter = new CorruptOnce(AtByte: 100_000);
        var alice = (await network.StartUserAsync("alice", wrapFileChannels: channels => new CorruptingChannels(channels, corrupter))).Chat!;
        var bob = (await network.StartUserAsync("bob")).Chat!;
        await BecomeContactsAsync(alice, bob);

        // Over what is pushed through the mailboxes: bob pulls it from alice's node.
        var bytes = RandomNumberGenerator.GetBytes((6 * FileTransferOptions.ChunkSize) + 4321);
        var sent = await alice.SendFileAsync("bob", "spoiled.bin", null, new MemoryStream(bytes), null, CancellationToken.None);
        var received = await CompleteAsync(bob, sent.FileId, "bob has the file whole");

        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, received.IdText));
        Assert.True(corrupter.Done, "a byte of the first chunk was spoiled on its way out");
        // Bob refused the spoiled chunk and asked again for it alone: a second serve of one chunk.
        var serves = corrupter.ServedBytes.ToList();
        Assert.Equal(2, serves.Count);
        Assert.InRange(serves[1], FileTransferOptions.ChunkSize, 2L * FileTransferOptions.ChunkSize);
    }

    [Fact]
    public async Task A_file_sent_to_a_room_of_five_ends_identical_with_the_four_others()
    {
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(6);
        var members = new Dictionary<string, ChatClient>();
        foreach (var name in new[] { "alice", "bob", "carol", "dave", "erin" })
        {
            members[name] = (await network.StartUserAsync(name)).Chat!;
        }
        var alice = members["alice"];
        var others = members.Where(m => m.Key != "alice").ToList();
        var room = await alice.CreateGroupAsync("file club", historyEnabled: false, CancellationToken.None);
        foreach (var (name, chat) in others)
        {
            await alice.InviteToGroupAsync(room.IdText, chat.Handle.ToString(), CancellationToken.None);
        }
        foreach (var (name, chat) in others)
        {
            await LoopbackNetwork.WaitUntilAsync(async () => (await chat.GetGroupsAsync(CancellationToken.None)).Any(g => g.Status == GroupStatus.Invited), Patience, $"{name} is invited");
            await chat.JoinGroupAsync(room.IdText, CancellationToken.None);
        }
        foreach (var (name, chat) in members)
        {
            await LoopbackNetwork.WaitUntilAsync(
                async () => await chat.GetGroupAsync(room.IdText, CancellationToken.None) is { Status: GroupStatus.Member, Members.Count: 5 },
                Patience,
                $"{name} sees five members");
        }

        var bytes = RandomNumberGenerator.GetBytes((5 * FileTransferOptions.ChunkSize) + 99);
        var sent = await alice.SendFileToGroupAsync(room.IdText, "minutes.pdf", null, new MemoryStream(bytes), null, CancellationToken.None);
        foreach (var (name, chat) in others)
        {
            var received = await CompleteAsync(chat, sent.FileId, $"{name} has the room's file whole");
            Assert.Equal("minutes.pdf", received.Name);
            Assert.True(received.InRoom);
            Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(chat, received.IdText));
            Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(network.FolderOf(name), DiskFileStore.SavedFolderName, received.SavedAs!)));
        }
    }

    /// <summary>Alice writes to bob, bob accepts: files between them are fetched without asking the user.</summary>
    private static async Task BecomeContactsAsync(ChatClient alice, ChatClient bob)
    {
        await alice.SendAsync(bob.Handle.ToString(), "hi bob", CancellationToken.None);
        await LoopbackNetwork.WaitUntilAsync(async () => (await bob.GetUnreadAsync(CancellationToken.None)).Count == 1, Patience, "bob has alice's request");
        await bob.AcceptAsync(alice.Handle.ToString(), CancellationToken.None);
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await alice.GetContactAsync("bob", CancellationToken.None)).State == ContactState.Accepted,
            Patience,
            "alice knows bob accepted");
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

    /// <summary>Spoil the byte at <paramref name="AtByte"/> of the first serve's output, once; count what each serve wrote.</summary>
    private sealed record CorruptOnce(long AtByte)
    {
        public bool Done { get; set; }

        public System.Collections.Concurrent.ConcurrentQueue<long> ServedBytes { get; } = new();
    }

    /// <summary>The node's file streams, with every inbound (served) stream's output passed through <see cref="CorruptingStream"/>.</summary>
    private sealed class CorruptingChannels(IFileChannels inner, CorruptOnce corrupter) : IFileChannels
    {
        public Task<PeerStream> OpenAsync(PeerId device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken) =>
            inner.OpenAsync(device, addresses, cancellationToken);

        public void Serve(FileStreamHandler handler) => inner.Serve(async (stream, cancellationToken) =>
        {
            var spoiling = new CorruptingStream(stream, corrupter);
            await handler(new PeerStream(spoiling, stream.Protocol, stream.RemotePeer, stream.RemoteAddress, stream.CloseWriteAsync, stream.Reset), cancellationToken);
            corrupter.ServedBytes.Enqueue(spoiling.Written);
        });

        public void StopServing() => inner.StopServing();
    }

    private sealed class CorruptingStream(PeerStream inner, CorruptOnce corrupter) : PassThroughStream(inner)
    {
        public long Written { get; private set; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var at = corrupter.AtByte - Written;
            if (!corrupter.Done && at >= 0 && at < buffer.Length)
            {
                corrupter.Done = true;
                var spoiled = buffer.ToArray();
                spoiled[at] ^= 0xFF;
                buffer = spoiled;
            }
            Written += buffer.Length;
            await Inner.WriteAsync(buffer, cancellationToken);
        }
    }
}
