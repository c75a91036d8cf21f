using System.Diagnostics;
using System.Security.Cryptography;
using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Node;
using Parley.Storage;

namespace Parley.Benchmarks;

/// <summary>
/// The files issue's figures (docs/files.md) with whole nodes on loopback (TCP, Noise, yamux, DHT, mailboxes, SQLite,
/// the data folder's <see cref="DiskFileStore"/> in temporary folders): a file of each size sent directly from alice
/// to bob over <c>/parley/file/1.0.0</c>, timed from the send until bob holds every chunk checked against the
/// manifest and the file is saved, with the peak memory meanwhile; then a 1 MiB file sent while bob is away, timed
/// until it is stored in his mailboxes and from his node's start until he has it whole. Every node runs in this
/// process, so the memory figures are of both users' nodes and the DHT nodes around them together: the process's
/// resident set (VmRSS) and the managed heap (bytes in use by live and not yet collected objects), each sampled every
/// 10 ms, against the same figures just before the send. The source file is written before the clock starts, and
/// compared with the saved copy (SHA-256) after it stops.
/// </summary>
internal static class FileTransferBenchmark
{
    private const int PlainNodes = 4;
    private const int MailboxFileBytes = 1024 * 1024;
    private static readonly TimeSpan SampleInterval = TimeSpan.FromMilliseconds(10);

    public sealed record Transfer(
        long Bytes,
        double PrepareSeconds,
        double TransferSeconds,
        double TransferMBps,
        double TotalMBps,
        double TransferCpuSeconds,
        double RssBeforeMiB,
        double RssPeakMiB,
        double HeapBeforeMiB,
        double HeapPeakMiB,
        double HeapAfterMiB,
        double AllocatedMiB,
        bool Identical);

    public sealed record Result(IReadOnlyList<Transfer> Direct, double MailboxStoredMs, double MailboxReturnMs, bool MailboxIdentical);

    public static async Task<Result> RunAsync(IReadOnlyList<long> sizes)
    {
        var root = Directory.CreateTempSubdirectory("parley-files-bench-").FullName;
        var nodes = new List<ParleyNode>();
        try
        {
            for (var i = 0; i < PlainNodes; i++)
            {
                nodes.Add(await ChatBenchmark.StartNodeAsync(root, $"node{i}", nodes));
            }
            var alice = await ChatBenchmark.StartUserAsync(root, "alice", nodes);
            var bob = await ChatBenchmark.StartUserAsync(root, "bob", nodes);
            var bobHandle = bob.Chat!.Handle.ToString();
            await alice.Chat!.SendAsync(bobHandle, "files are coming", CancellationToken.None);
            await ChatBenchmark.WaitUntilAsync(async () => (await bob.Chat.GetUnreadAsync(CancellationToken.None)).Count > 0);
            await bob.Chat.AcceptAsync(alice.Chat.Handle.ToString(), CancellationToken.None);
            await ChatBenchmark.WaitUntilAsync(async () => (await alice.Chat.GetContactAsync(bobHandle, CancellationToken.None)).TheirMailboxToken is not null);
            var largest = sizes.Max();
            await alice.Chat.SetFileLimitAsync(largest, CancellationToken.None);
            await bob.Chat.SetFileLimitAsync(largest, CancellationToken.None);

            var direct = new List<Transfer>();
            foreach (var size in sizes)
            {
                direct.Add(await SendDirectAsync(root, alice.Chat, bob, bobHandle, size));
            }

            // Bob leaves; a 1 MiB file goes to his mailboxes, then he comes back on a fresh port.
            await bob.DisposeAsync();
            nodes.Remove(bob);
            var small = RandomNumberGenerator.GetBytes(MailboxFileBytes);
            var storing = Stopwatch.StartNew();
            var offered = await alice.Chat.SendFileAsync(bobHandle, "note.bin", null, new MemoryStream(small), null, CancellationToken.None);
            await ChatBenchmark.WaitUntilAsync(async () => await alice.Chat.CountOutboxAsync(CancellationToken.None, unsentOnly: true) == 0);
            var storedMs = storing.Elapsed.TotalMilliseconds;
            var returning = Stopwatch.StartNew();
            bob = await ChatBenchmark.StartNodeAsync(root, "bob", nodes);
            await bob.OpenChatAsync(CancellationToken.None);
            var arrived = WaitForCompleteAsync(bob.Chat!, offered.FileId);
            await bob.Chat!.StartAsync(CancellationToken.None);
            var saved = await arrived;
            var returnMs = returning.Elapsed.TotalMilliseconds;
            nodes.Add(bob);
            var savedBytes = await File.ReadAllBytesAsync(SavedPath(root, "bob", saved));
            var identical = SHA256.HashData(small).SequenceEqual(SHA256.HashData(savedBytes));
            return new Result(direct, storedMs, returnMs, identical);
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
            Directory.Delete(root, recursive: true);
        }
    }

    public static string Describe(Result r) =>
        string.Join("; ", r.Direct.Select(t =>
            $"{t.Bytes / (1024.0 * 1024):0} MiB direct: send call (copy, hash) {t.PrepareSeconds:0.00} s, then transfer {t.TransferSeconds:0.00} s = {t.TransferMBps:0} MB/s " +
            $"({t.TotalMBps:0} MB/s from the send call; the transfer took {t.TransferCpuSeconds:0.00} s of CPU for both nodes), identical: {t.Identical}; process RSS {t.RssBeforeMiB:0} MiB before, peak {t.RssPeakMiB:0} MiB; " +
            $"managed heap {t.HeapBeforeMiB:0} MiB before, peak {t.HeapPeakMiB:0} MiB, {t.HeapAfterMiB:0} MiB live after, {t.AllocatedMiB:0} MiB allocated from the send to the end (both nodes in this process; goal >= 200 MB/s, memory flat)")) +
        $"; 1 MiB to a recipient away: stored in the mailboxes {r.MailboxStoredMs:0} ms after the send, saved {r.MailboxReturnMs:0} ms after the recipient's node started again, identical: {r.MailboxIdentical}";

    private static async Task<Transfer> SendDirectAsync(string root, ChatClient alice, ParleyNode bob, string bobHandle, long size)
    {
        var source = Path.Combine(root, $"source-{size}.bin");
        await WriteRandomAsync(source, size);
        byte[] expected;
        await using (var read = File.OpenRead(source))
        {
            expected = await SHA256.HashDataAsync(read);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var rssBefore = ResidentBytes();
        var heapBefore = GC.GetTotalMemory(false);
        var allocatedBefore = GC.GetTotalAllocatedBytes();
        using var sampling = new CancellationTokenSource();
        var peaks = SamplePeaksAsync(sampling.Token);

        var clock = Stopwatch.StartNew();
        ChatFile sent;
        await using (var content = File.OpenRead(source))
        {
            sent = await alice.SendFileAsync(bobHandle, $"big-{size}.bin", null, content, null, CancellationToken.None);
        }
        var prepared = clock.Elapsed;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var saved = await WaitForCompleteAsync(bob.Chat!, sent.FileId);
        var total = clock.Elapsed;
        // Both nodes (and the idle DHT nodes) run in this process: its CPU time is the transfer's cost on both sides.
        var transferCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        await sampling.CancelAsync();
        var (rssPeak, heapPeak) = await peaks;
        var allocated = GC.GetTotalAllocatedBytes() - allocatedBefore;
        // What is still reachable once the transfer is done: what a transfer leaves behind, unlike the peak, which
        // also counts garbage the collector had not reclaimed yet.
        var heapAfter = GC.GetTotalMemory(forceFullCollection: true);

        var savedPath = SavedPath(root, "bob", saved);
        byte[] actual;
        await using (var read = File.OpenRead(savedPath))
        {
            actual = await SHA256.HashDataAsync(read);
        }
        var identical = expected.SequenceEqual(actual);
        File.Delete(source);
        File.Delete(savedPath);
        var transfer = total - prepared;
        return new Transfer(
            size,
            prepared.TotalSeconds,
            transfer.TotalSeconds,
            size / 1e6 / transfer.TotalSeconds,
            size / 1e6 / total.TotalSeconds,
            transferCpu,
            rssBefore / (1024.0 * 1024),
            rssPeak / (1024.0 * 1024),
            heapBefore / (1024.0 * 1024),
            heapPeak / (1024.0 * 1024),
            heapAfter / (1024.0 * 1024),
            allocated / (1024.0 * 1024),
            identical);
    }

    private static string SavedPath(string root, string user, ChatFile file) => Path.Combine(root, user, DiskFileStore.SavedFolderName, file.SavedAs!);

    private static async Task WriteRandomAsync(string path, long size)
    {
        var buffer = new byte[4 * 1024 * 1024];
        await using var file = File.Create(path);
        for (var written = 0L; written < size; written += buffer.Length)
        {
            RandomNumberGenerator.Fill(buffer);
            await file.WriteAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, size - written)));
        }
    }

    /// <summary>The highest resident set and managed heap seen until cancelled.</summary>
    private static async Task<(long Rss, long Heap)> SamplePeaksAsync(CancellationToken cancellationToken)
    {
        long rss = 0, heap = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            rss = Math.Max(rss, ResidentBytes());
            heap = Math.Max(heap, GC.GetTotalMemory(false));
            try
            {
                await Task.Delay(SampleInterval, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return (Math.Max(rss, ResidentBytes()), Math.Max(heap, GC.GetTotalMemory(false)));
    }

    /// <summary>VmRSS of this process, from /proc (the kernel's figure, not the runtime's cached one).</summary>
    private static long ResidentBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) * 1024;
            }
        }
        throw new InvalidOperationException("no VmRSS in /proc/self/status");
    }

    /// <summary>Waits for the file's event that says it is complete (or finds it complete already).</summary>
    private static async Task<ChatFile> WaitForCompleteAsync(ChatClient chat, byte[] fileId)
    {
        var done = new TaskCompletionSource<ChatFile>(TaskCreationOptions.RunContinuationsAsynchronously);
        EventHandler<FileEventArgs> handler = (_, e) =>
        {
            if (e.File.FileId.AsSpan().SequenceEqual(fileId) && e.File.State == FileState.Complete)
            {
                done.TrySetResult(e.File);
            }
        };
        chat.FileChanged += handler;
        try
        {
            var id = Convert.ToHexStringLower(fileId);
            var current = (await chat.GetFilesAsync(50, CancellationToken.None)).FirstOrDefault(f => f.IdText == id);
            if (current is { State: FileState.Complete })
            {
                return current;
            }
            return await done.Task.WaitAsync(TimeSpan.FromMinutes(10));
        }
        finally
        {
            chat.FileChanged -= handler;
        }
    }
}
