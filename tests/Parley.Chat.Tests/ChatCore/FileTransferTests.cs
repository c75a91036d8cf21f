using System.Security.Cryptography;
using Parley.Chat.Files;
using Parley.Chat.Files.Protos;
using Parley.Chat.Messaging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Testing;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>
/// Files between users of the fake world (docs/files.md): pushed through the outbox and the mailboxes when small,
/// pulled over file streams on the in-memory network when large, resumed after a cut and a restart, checked chunk by
/// chunk, in a room from any member who holds them, within the user's limit, and saved under a safe name.
/// </summary>
public sealed class FileTransferTests : IAsyncLifetime
{
    private const int Mib = 1024 * 1024;

    private readonly FakeChatWorld _world = new();
    private readonly List<FakeChatUser> _users = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_small_file_to_an_online_contact_is_pushed_behind_its_manifest_and_saved_identical()
    {
        var (alice, bob) = await ContactsAsync();
        var bytes = RandomBytes(200 * 1024);

        var sent = await SendAsync(alice, "bob", "notes.pdf", bytes);
        Assert.Equal(FileState.Offered, sent.State);
        await SettleAsync();

        var received = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Complete, received.State);
        Assert.Equal("notes.pdf", received.SavedAs);
        Assert.Equal("application/pdf", received.MediaType);
        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, received));
        Assert.Contains((await bob.HistoryWithAsync(alice)), m => m.Text == "[file] notes.pdf (200 KiB)");
        // Bob's device told alice's that it saved the file.
        Assert.Equal(FileState.Delivered, (await OnlyFileAsync(alice)).State);
    }

    [Fact]
    public async Task A_large_file_is_pulled_directly_and_both_sides_see_it_move()
    {
        var (alice, bob) = await ContactsAsync();
        var bytes = RandomBytes((3 * Mib) + 12345);
        var bobEvents = new List<ChatFile>();
        bob.Chat.FileChanged += (_, e) => bobEvents.Add(e.File);

        await SendAsync(alice, "bob", "video.mp4", bytes);
        await SettleAsync();
        var offered = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Waiting, offered.State);
        Assert.Equal(0, offered.BytesHeld);

        await bob.Chat.FetchFilesAsync(CancellationToken.None);

        var received = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Complete, received.State);
        Assert.Equal(bytes.Length, received.BytesHeld);
        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, received));
        Assert.Contains(bobEvents, e => e.State == FileState.Complete);
        Assert.Equal(bytes.Length, (await OnlyFileAsync(alice)).BytesSent);
    }

    [Fact]
    public async Task An_offer_whose_message_reached_the_contact_says_it_waits_for_them_to_fetch_it_without_being_asked()
    {
        var (alice, bob) = await ContactsAsync();
        var waitingForFetch = new TaskCompletionSource<ChatFile>(TaskCreationOptions.RunContinuationsAsynchronously);
        alice.Chat.FileChanged += (_, e) =>
        {
            if (e.File.Problem == "waiting for bob to fetch it")
            {
                waitingForFetch.TrySetResult(e.File);
            }
        };

        var sent = await SendAsync(alice, "bob", "big.bin", RandomBytes(2 * Mib));
        await SettleAsync();

        // Bob's device took the message and has not fetched the file: alice's node tells its views (an event), not
        // only those who ask, that the file no longer waits for bob to come online.
        var offered = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Waiting, offered.State);
        Assert.Equal(0, offered.BytesHeld);
        var update = await waitingForFetch.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(sent.IdText, update.IdText);
        Assert.Equal(FileState.Offered, update.State);
    }

    [Fact]
    public async Task A_file_completed_by_a_record_during_the_fetch_is_saved_once_and_says_so()
    {
        var alice = await AddAsync("alice");
        // Held chunks recorded after every chunk: the last one's record saves the file while the fetch still runs.
        var bob = await AddAsync("bob", options: new ChatOptions { RunBackgroundTasks = false, Files = new FileTransferOptions { DiskReserveBytes = Mib, PersistInterval = TimeSpan.Zero } });
        await alice.Chat.SendAsync(bob.HandleText, "hello", CancellationToken.None);
        await SettleAsync();
        await bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await SettleAsync();
        var bytes = RandomBytes((2 * Mib) + 7);
        var bobEvents = new List<ChatFile>();
        bob.Chat.FileChanged += (_, e) => bobEvents.Add(e.File);

        await SendAsync(alice, "bob", "song.ogg", bytes);
        await SettleAsync();
        await bob.Chat.FetchFilesAsync(CancellationToken.None);

        var received = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Complete, received.State);
        Assert.Null(received.Problem);
        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, received));
        Assert.Contains(bobEvents, e => e.State == FileState.Complete);
    }

    [Fact]
    public async Task A_small_file_to_an_offline_contact_travels_through_the_mailboxes()
    {
        var (alice, bob) = await ContactsAsync();
        await bob.GoOfflineAsync();
        var bytes = RandomBytes(Mib);

        await SendAsync(alice, "bob", "photo.jpg", bytes);
        await alice.FlushAsync();
        Assert.Equal($"waiting for bob to come online", (await OnlyFileAsync(alice)).Problem);
        // The manifest and 18 chunks of 60 KiB wait in bob's mailbox; alice leaves before bob comes back.
        Assert.Equal(1 + ((Mib + FileTransferOptions.PushedChunkSize - 1) / FileTransferOptions.PushedChunkSize), _world.Mailboxes.Waiting(bob.Chat.Account.Id));
        await alice.GoOfflineAsync();

        await bob.ComeOnlineAsync();

        var received = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Complete, received.State);
        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, received));
    }

    [Fact]
    public async Task A_large_file_waits_honestly_while_the_other_side_is_away()
    {
        var (alice, bob) = await ContactsAsync();
        await bob.GoOfflineAsync();
        var bytes = RandomBytes(2 * Mib);
        await SendAsync(alice, "bob", "big.bin", bytes);
        await alice.FlushAsync();
        Assert.Equal("waiting for bob to come online", (await OnlyFileAsync(alice)).Problem);
        await alice.GoOfflineAsync();

        await bob.ComeOnlineAsync();
        await bob.Chat.FetchFilesAsync(CancellationToken.None);
        var waiting = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Waiting, waiting.State);
        Assert.Equal("waiting for alice to come online", waiting.Problem);

        await alice.ComeOnlineAsync();
        await bob.Chat.FetchFilesAsync(CancellationToken.None);
        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, await OnlyFileAsync(bob)));
    }

    [Fact]
    public async Task A_fetch_cut_off_midway_resumes_after_a_restart_asking_only_for_what_is_missing()
    {
        var tap = new StreamTap { CutAfterBytes = Mib + 1000 };
        var (alice, bob) = await ContactsAsync(tap);
        var bytes = RandomBytes(4 * Mib);
        await SendAsync(alice, "bob", "archive.tar", bytes);
        await SettleAsync();

        // The stream breaks a quarter of the way, and alice is gone with it.
        await bob.Chat.FetchFilesAsync(CancellationToken.None);
        var cut = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Waiting, cut.State);
        var held = (int)(cut.BytesHeld / FileTransferOptions.ChunkSize);
        Assert.InRange(held, 1, 15);

        // Both devices restart (their stores are kept, like a data folder); bob goes on where he stopped.
        await bob.GoOfflineAsync();
        await alice.GoOfflineAsync();
        tap.Unreachable = false;
        await alice.ComeOnlineAsync();
        await bob.ComeOnlineAsync();
        Assert.Equal(cut.BytesHeld, (await OnlyFileAsync(bob)).BytesHeld);
        await bob.Chat.FetchFilesAsync(CancellationToken.None);

        var done = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Complete, done.State);
        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, done));
        Assert.Equal(16 - held, tap.Requests[^1].Chunks.Sum(r => (int)r.Count));
    }

    [Fact]
    public async Task A_corrupted_chunk_is_refused_and_fetched_again()
    {
        var tap = new StreamTap { CorruptAtByte = 100_000 };
        var (alice, bob) = await ContactsAsync(tap);
        var bytes = RandomBytes(2 * Mib);
        await SendAsync(alice, "bob", "data.bin", bytes);
        await SettleAsync();

        await bob.Chat.FetchFilesAsync(CancellationToken.None);

        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, await OnlyFileAsync(bob)));
        Assert.Equal(2, tap.Requests.Count);
        // The second request asks for chunk 0 alone: the one that was corrupted on the way.
        var again = Assert.Single(tap.Requests[1].Chunks);
        Assert.Equal((0u, 1u), (again.First, again.Count));
    }

    [Fact]
    public async Task A_name_that_climbs_out_of_the_folder_is_saved_as_a_plain_name_and_never_over_another()
    {
        var (alice, bob) = await ContactsAsync();
        await SendAsync(alice, "bob", "../../../.ssh/authorized_keys", RandomBytes(1000));
        await SendAsync(alice, "bob", "..\\..\\authorized_keys", RandomBytes(1000));
        await SettleAsync();

        var files = await bob.Chat.GetFilesAsync(10, CancellationToken.None);
        Assert.All(files, f => Assert.Equal(FileState.Complete, f.State));
        Assert.Equal(new[] { "authorized_keys", "authorized_keys (1)" }, files.Select(f => f.SavedAs!).Order().ToArray());
        Assert.Equal(new[] { "authorized_keys", "authorized_keys (1)" }, bob.Files.SavedNames.Order().ToArray());
    }

    [Fact]
    public async Task A_file_over_the_limit_is_refused_with_a_clear_message_and_fetched_once_the_limit_is_raised()
    {
        var (alice, bob) = await ContactsAsync();
        await alice.Chat.SetFileLimitAsync(Mib, CancellationToken.None);
        var refused = await Assert.ThrowsAsync<ChatException>(() => SendAsync(alice, "bob", "huge.iso", RandomBytes(Mib + 1)));
        Assert.Equal("huge.iso is larger than your limit of 1 MiB per file; raise it with: parley files limit <size>", refused.Message);

        await alice.Chat.SetFileLimitAsync(10 * Mib, CancellationToken.None);
        await bob.Chat.SetFileLimitAsync(Mib, CancellationToken.None);
        var bytes = RandomBytes(3 * Mib);
        await SendAsync(alice, "bob", "huge.iso", bytes);
        await SettleAsync();
        await bob.Chat.FetchFilesAsync(CancellationToken.None);

        var waiting = await OnlyFileAsync(bob);
        Assert.Equal(FileState.TooLarge, waiting.State);
        Assert.Equal("huge.iso is 3 MiB, over your limit of 1 MiB per file; raise it (parley files limit <size>) and fetch it (parley files fetch <id>)", waiting.Problem);
        Assert.Equal(0, waiting.BytesHeld);
        await Assert.ThrowsAsync<ChatException>(() => bob.Chat.FetchFileAsync(waiting.IdText, CancellationToken.None));

        await bob.Chat.SetFileLimitAsync(4 * Mib, CancellationToken.None);
        await bob.Chat.FetchFileAsync(waiting.IdText, CancellationToken.None);
        await bob.Chat.FetchFilesAsync(CancellationToken.None);
        Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(bob, await OnlyFileAsync(bob)));
    }

    [Fact]
    public async Task A_file_from_someone_not_accepted_waits_for_the_user()
    {
        var alice = await AddAsync("alice");
        var bob = await AddAsync("bob");
        var first = await Assert.ThrowsAsync<ChatException>(() => SendAsync(alice, bob.HandleText, "x.bin", RandomBytes(10)));
        Assert.Contains("a file cannot be the contact request", first.Message, StringComparison.Ordinal);
        await alice.Chat.SendAsync(bob.HandleText, "hi, it's alice", CancellationToken.None);
        await SettleAsync();

        await SendAsync(alice, "bob", "unasked.bin", RandomBytes(2 * Mib));
        await SettleAsync();
        await bob.Chat.FetchFilesAsync(CancellationToken.None);

        var waiting = await OnlyFileAsync(bob);
        Assert.Equal(FileState.Waiting, waiting.State);
        Assert.Equal("accept alice to fetch it", waiting.Problem);
        Assert.Equal(0, waiting.BytesHeld);
    }

    [Fact]
    public async Task Five_members_of_a_room_get_the_file_from_the_sender_or_from_a_member_who_has_it()
    {
        var alice = await AddAsync("alice");
        var others = new[] { await AddAsync("bob"), await AddAsync("carol"), await AddAsync("dave"), await AddAsync("erin") };
        var room = await alice.Chat.CreateGroupAsync("photos", historyEnabled: false, CancellationToken.None);
        foreach (var member in others)
        {
            await alice.Chat.InviteToGroupAsync(room.IdText, member.HandleText, CancellationToken.None);
        }
        await SettleAsync();
        foreach (var member in others)
        {
            await member.Chat.JoinGroupAsync(room.IdText, CancellationToken.None);
        }
        await SettleAsync();
        var bytes = RandomBytes((2 * Mib) + 7);

        var sent = await alice.Chat.SendFileToGroupAsync(room.IdText, "holiday.jpg", null, new MemoryStream(bytes), Thumbnail, CancellationToken.None);
        await SettleAsync();
        Assert.True(sent.InRoom);
        var first = others[0];
        await first.Chat.FetchFilesAsync(CancellationToken.None);
        Assert.Equal(FileState.Complete, (await OnlyFileAsync(first)).State);

        // The sender leaves; the others fetch from bob, who has it.
        await alice.GoOfflineAsync();
        foreach (var member in others.Skip(1))
        {
            await member.Chat.FetchFilesAsync(CancellationToken.None);
        }

        foreach (var member in others)
        {
            var file = await OnlyFileAsync(member);
            Assert.Equal(FileState.Complete, file.State);
            Assert.Equal("image/jpeg", file.MediaType);
            Assert.Equal("image/jpeg", file.ThumbnailType);
            Assert.Equal(Thumbnail, file.Thumbnail);
            Assert.Equal(SHA256.HashData(bytes), await HashOfAsync(member, file));
            var message = Assert.Single((await member.Chat.GetGroupHistoryAsync(room.IdText, 10, CancellationToken.None)).Messages);
            Assert.Equal(message.Id, file.MessageId);
        }
    }

    [Fact]
    public async Task A_thumbnail_other_than_a_jpeg_or_webp_is_refused_on_sending_and_on_receipt()
    {
        var (alice, _) = await ContactsAsync();
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0];
        byte[] webp = [.. "RIFF"u8, 0, 0, 0, 0, .. "WEBPVP8 "u8];

        var refused = await Assert.ThrowsAsync<ChatException>(() => alice.Chat.SendFileAsync("bob", "a.png", null, new MemoryStream(RandomBytes(100)), png, CancellationToken.None));
        Assert.Contains("JPEG or WebP", refused.Message, StringComparison.Ordinal);

        // A manifest as another client could send it: only the two types the sending node makes pass.
        var manifest = Parley.Chat.Files.FileManifest.Create(RandomBytes(32), "a.webp", 100, "image/webp", Parley.Chat.Files.FileManifest.MinChunkSize, new List<byte[]> { RandomBytes(32) }, RandomBytes(32), webp, pushed: true);
        Assert.Equal("image/webp", manifest.ThumbnailType);
        var forged = manifest.Proto.Clone();
        forged.Thumbnail = Google.Protobuf.ByteString.CopyFrom(png);
        Assert.Throws<FormatException>(() => Parley.Chat.Files.FileManifest.Parse(forged));
    }

    /// <summary>The smallest JPEG header a thumbnail check accepts.</summary>
    private static readonly byte[] Thumbnail = [0xFF, 0xD8, 0xFF, 0xE0, 0, 16, (byte)'J', (byte)'F', (byte)'I', (byte)'F'];

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }

    private static Task<ChatFile> SendAsync(FakeChatUser from, string to, string name, byte[] bytes) =>
        from.Chat.SendFileAsync(to, name, null, new MemoryStream(bytes), null, CancellationToken.None);

    private static async Task<ChatFile> OnlyFileAsync(FakeChatUser user) => Assert.Single(await user.Chat.GetFilesAsync(10, CancellationToken.None));

    private static async Task<byte[]> HashOfAsync(FakeChatUser user, ChatFile file)
    {
        var (_, content) = await user.Chat.OpenFileAsync(file.IdText, CancellationToken.None);
        await using (content)
        {
            return await SHA256.HashDataAsync(content);
        }
    }

    private async Task<FakeChatUser> AddAsync(string name, StreamTap? tap = null, ChatOptions? options = null)
    {
        var user = await _world.AddUserAsync(name, options, fileChannels: tap is null ? null : inner => new TappedChannels(inner, tap));
        _users.Add(user);
        return user;
    }

    /// <summary>Alice and bob, accepted contacts; bob's file streams go through <paramref name="tap"/>.</summary>
    private async Task<(FakeChatUser Alice, FakeChatUser Bob)> ContactsAsync(StreamTap? tap = null)
    {
        var alice = await AddAsync("alice");
        var bob = await AddAsync("bob", tap);
        await alice.Chat.SendAsync(bob.HandleText, "hello", CancellationToken.None);
        await SettleAsync();
        await bob.Chat.AcceptAsync("alice", CancellationToken.None);
        await SettleAsync();
        return (alice, bob);
    }

    /// <summary>Runs outbox passes on every online user until nothing is left to send.</summary>
    private async Task SettleAsync()
    {
        for (var round = 0; round < 8; round++)
        {
            var moved = 0;
            foreach (var user in _users.Where(u => u.IsOnline))
            {
                moved += await user.FlushAsync();
            }
            if (moved == 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// What a test does to file streams: records each request, cuts a stream after some bytes (after which sources
    /// are unreachable until the test says otherwise), corrupts one byte once.
    /// </summary>
    private sealed class StreamTap
    {
        public long? CutAfterBytes { get; set; }

        public bool Unreachable { get; set; }

        public long? CorruptAtByte { get; set; }

        public List<FileRequest> Requests { get; } = [];
    }

    private sealed class TappedChannels(IFileChannels inner, StreamTap tap) : IFileChannels
    {
        public async Task<PeerStream> OpenAsync(PeerId device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
        {
            if (tap.Unreachable)
            {
                throw new PeerConnectionException($"{device} is unreachable (the test says so)");
            }
            var stream = await inner.OpenAsync(device, addresses, cancellationToken);
            var tapped = new TappedStream(stream, tap);
            return new PeerStream(tapped, stream.Protocol, stream.RemotePeer, stream.RemoteAddress, stream.CloseWriteAsync, stream.Reset);
        }

        public void Serve(FileStreamHandler handler) => inner.Serve(handler);

        public void StopServing() => inner.StopServing();
    }

    private sealed class TappedStream(PeerStream inner, StreamTap tap) : PassThroughStream(inner)
    {
        private readonly MemoryStream _written = new();
        private long _read;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (tap.CutAfterBytes is { } cut && _read >= cut)
            {
                tap.CutAfterBytes = null;
                tap.Unreachable = true;
                inner.Reset();
                throw new IOException("cut off by the test");
            }
            var count = await Inner.ReadAsync(buffer, cancellationToken);
            if (tap.CorruptAtByte is { } at && at >= _read && at < _read + count)
            {
                tap.CorruptAtByte = null;
                buffer.Span[(int)(at - _read)] ^= 0xFF;
            }
            _read += count;
            return count;
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _written.Write(buffer.Span);
            if (_written.Length > 0 && TryParseRequest(out var request))
            {
                tap.Requests.Add(request);
            }
            await Inner.WriteAsync(buffer, cancellationToken);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _written.Dispose();
            }
            base.Dispose(disposing);
        }

        private bool TryParseRequest(out FileRequest request)
        {
            request = null!;
            var bytes = _written.ToArray();
            if (!Varint.TryRead(bytes, out var length, out var prefix) || bytes.Length < prefix + (int)length)
            {
                return false;
            }
            request = FileRequest.Parser.ParseFrom(bytes.AsSpan(prefix, (int)length));
            _written.SetLength(0);
            return true;
        }
    }
}
