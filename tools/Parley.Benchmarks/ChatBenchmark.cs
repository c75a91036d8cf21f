using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Directory;
using Parley.Chat.Messaging;
using Parley.Core.Multiformats;
using Parley.Node;

namespace Parley.Benchmarks;

/// <summary>
/// The chat issue's delivery figures on loopback, with whole nodes (TCP, Noise, yamux, DHT, mailboxes, SQLite):
/// direct latency from send to the delivered acknowledgement, mailbox latency from send to stored, sustained messages
/// per second between two nodes with acknowledgements, and the time from a returning node's start to the last of 50
/// waiting messages.
/// </summary>
internal static class ChatBenchmark
{
    private const int MaxWarmUpWindows = 20;
    // A burst counts as warm when the JIT spent under this share of its wall time compiling: tiering is then done.
    private const double WarmJitShare = 0.01;
    private const int FixedRatePerSecond = 1_000;
    private const int FixedRateSeconds = 5;
    // Sends in flight at once in the concurrent burst: enough for the sender's group commit to gather a batch.
    private const int ConcurrentSends = 64;

    public sealed record Result(
        int Nodes,
        double DirectP50Ms,
        double DirectP99Ms,
        int ThroughputMessages,
        int WarmUpBursts,
        double MessagesPerSecond,
        double CpuMicrosPerMessage,
        double AllocatedKiBPerMessage,
        double WorkItemsPerMessage,
        double JitMillisInThroughput,
        int MethodsCompiledInThroughput,
        double ConcurrentMessagesPerSecond,
        double ConcurrentCpuMicrosPerMessage,
        double ConcurrentAllocatedKiBPerMessage,
        double ConcurrentWorkItemsPerMessage,
        double FixedRateP50Ms,
        double FixedRateP99Ms,
        double FixedRateAchievedPerSecond,
        double MailboxStoredP50Ms,
        double MailboxStoredP99Ms,
        double MeanStoredAt,
        double OfflineDeliveryMs);

    /// <param name="sampleAllocations">Also print the types the measured burst allocated most (runtime sampling).</param>
    public static async Task<Result> RunAsync(int plainNodes, int latencySamples, int throughputMessages, bool sampleAllocations = false)
    {
        var root = Directory.CreateTempSubdirectory("parley-chat-bench-").FullName;
        var nodes = new List<ParleyNode>();
        try
        {
            for (var i = 0; i < plainNodes; i++)
            {
                nodes.Add(await StartNodeAsync(root, $"node{i}", nodes));
            }
            var alice = await StartUserAsync(root, "alice", nodes);
            var bob = await StartUserAsync(root, "bob", nodes);
            var bobHandle = bob.Chat!.Handle.ToString();

            // Contact made and accepted, so later messages are ordinary ones on an established session.
            await SendAndWaitAsync(alice.Chat!, bobHandle, "hello", DeliveryState.Delivered);
            await bob.Chat.AcceptAsync(alice.Chat!.Handle.ToString(), CancellationToken.None);
            await WaitUntilAsync(async () => (await alice.Chat.GetContactAsync(bobHandle, CancellationToken.None)).TheirMailboxToken is not null);

            var direct = new List<double>();
            for (var i = 0; i < latencySamples; i++)
            {
                direct.Add(await SendAndWaitAsync(alice.Chat, bobHandle, $"latency {i}", DeliveryState.Delivered));
            }

            var delivered = 0;
            var deliveredAt = new ConcurrentDictionary<string, long>();
            alice.Chat.MessageStateChanged += (_, e) =>
            {
                if (e.Message.State == DeliveryState.Delivered && deliveredAt.TryAdd(Convert.ToHexStringLower(e.Message.Id), Stopwatch.GetTimestamp()))
                {
                    Interlocked.Increment(ref delivered);
                }
            };
            // Bursts until two in a row agree within 5 % and the JIT compiled next to nothing during the last: the path
            // then runs at its final tier, and the figure below is the steady state, not the warm-up (the JIT time
            // left in the measured burst is reported with it).
            var warmUpWindows = 0;
            double? previousRate = null;
            while (warmUpWindows < MaxWarmUpWindows)
            {
                var jitBefore = JitInfo.GetCompilationTime(currentThread: false);
                var (rate, elapsed) = await BurstAsync(alice.Chat, bobHandle, throughputMessages / 4, $"warm-up {warmUpWindows}", () => Volatile.Read(ref delivered));
                var jitShare = (JitInfo.GetCompilationTime(currentThread: false) - jitBefore) / elapsed;
                warmUpWindows++;
                if (previousRate is { } previous && Math.Abs(rate - previous) / previous < 0.05 && jitShare < WarmJitShare)
                {
                    break;
                }
                previousRate = rate;
            }
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var allocatedBefore = GC.GetTotalAllocatedBytes();
            // Thread-pool work items run per message: each is a hop from one thread to another (a wake-up, often a
            // context switch), counted exactly where CPU time is noisy.
            var workItemsBefore = ThreadPool.CompletedWorkItemCount;
            var jitTimeBefore = JitInfo.GetCompilationTime(currentThread: false);
            var methodsBefore = JitInfo.GetCompiledMethodCount(currentThread: false);
            using var allocations = sampleAllocations ? new AllocationSampler() : null;
            allocations?.Start();
            var (perSecond, _) = await BurstAsync(alice.Chat, bobHandle, throughputMessages, "throughput", () => Volatile.Read(ref delivered));
            foreach (var (type, share) in allocations?.Stop(top: 25) ?? [])
            {
                Console.WriteLine($"allocated in the measured burst: {share,6:P1} {type}");
            }
            var jitInThroughput = JitInfo.GetCompilationTime(currentThread: false) - jitTimeBefore;
            var methodsInThroughput = (int)(JitInfo.GetCompiledMethodCount(currentThread: false) - methodsBefore);
            // Both nodes (and the DHT around them) run in this process: the CPU it used is the whole cost.
            var cpuPerMessage = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds / throughputMessages;
            var allocatedPerMessage = (GC.GetTotalAllocatedBytes() - allocatedBefore) / 1024.0 / throughputMessages;
            var workItemsPerMessage = (double)(ThreadPool.CompletedWorkItemCount - workItemsBefore) / throughputMessages;

            // The same number of messages with up to 64 sends waiting at once (an app or bridge sending a burst, or
            // several conversations at a time): their writes can share group commits, which sequential sends cannot.
            cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            allocatedBefore = GC.GetTotalAllocatedBytes();
            workItemsBefore = ThreadPool.CompletedWorkItemCount;
            var concurrentPerSecond = await ConcurrentBurstAsync(alice.Chat, bobHandle, throughputMessages, () => Volatile.Read(ref delivered));
            var concurrentCpuPerMessage = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalMicroseconds / throughputMessages;
            var concurrentAllocatedPerMessage = (GC.GetTotalAllocatedBytes() - allocatedBefore) / 1024.0 / throughputMessages;
            var concurrentWorkItemsPerMessage = (double)(ThreadPool.CompletedWorkItemCount - workItemsBefore) / throughputMessages;

            // Latency under a steady load: sends start on a fixed schedule whether or not earlier ones are done (an
            // open loop, so a slow message does not hide the ones queued behind it), timed from their scheduled start.
            var paced = await PacedAsync(alice.Chat, bobHandle, FixedRatePerSecond, FixedRateSeconds, deliveredAt);

            // Bob leaves; alice's messages go to his mailbox.
            await bob.DisposeAsync();
            nodes.Remove(bob);
            var mailbox = new List<double>();
            var storedAt = new List<int>();
            for (var i = 0; i < 50; i++)
            {
                var started = Stopwatch.GetTimestamp();
                var message = await alice.Chat.SendAsync(bobHandle, $"while away {i}", CancellationToken.None);
                var stored = await WaitForStateAsync(alice.Chat, bobHandle, message.Id, DeliveryState.Stored);
                mailbox.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                storedAt.Add(stored.StoredCount);
            }

            // Bob's node starts again; time until the 50th waiting message is his.
            var returning = Stopwatch.StartNew();
            var received = new ConcurrentDictionary<string, bool>();
            bob = await StartNodeAsync(root, "bob", nodes);
            await bob.OpenChatAsync(CancellationToken.None);
            bob.Chat!.MessageReceived += (_, e) => received[Convert.ToHexStringLower(e.Message.Id)] = true;
            await bob.Chat.StartAsync(CancellationToken.None);
            await WaitUntilAsync(() => Task.FromResult(received.Count >= 50));
            var offline = returning.Elapsed.TotalMilliseconds;
            nodes.Add(bob);

            return new Result(
                plainNodes + 2,
                Percentile(direct, 0.5),
                Percentile(direct, 0.99),
                throughputMessages,
                warmUpWindows,
                perSecond,
                cpuPerMessage,
                allocatedPerMessage,
                workItemsPerMessage,
                jitInThroughput.TotalMilliseconds,
                methodsInThroughput,
                concurrentPerSecond,
                concurrentCpuPerMessage,
                concurrentAllocatedPerMessage,
                concurrentWorkItemsPerMessage,
                paced.P50Ms,
                paced.P99Ms,
                paced.AchievedPerSecond,
                Percentile(mailbox, 0.5),
                Percentile(mailbox, 0.99),
                storedAt.Average(),
                offline);
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
        $"chat on {r.Nodes} loopback nodes: direct send to delivered p50 {r.DirectP50Ms:0.0} ms, p99 {r.DirectP99Ms:0.0} ms; " +
        $"{r.MessagesPerSecond:0} messages/s sustained with acknowledgements ({r.ThroughputMessages} messages after {r.WarmUpBursts} warm-up bursts, {r.CpuMicrosPerMessage:0} µs of CPU and {r.AllocatedKiBPerMessage:0.0} KiB allocated and {r.WorkItemsPerMessage:0.0} thread-pool work items each for sender and recipient together, {r.MethodsCompiledInThroughput} methods and {r.JitMillisInThroughput:0} ms compiled meanwhile; goal >= 10,000/s); " +
        $"with up to {ConcurrentSends} sends at once {r.ConcurrentMessagesPerSecond:0} messages/s ({r.ConcurrentCpuMicrosPerMessage:0} µs of CPU and {r.ConcurrentAllocatedKiBPerMessage:0.0} KiB allocated and {r.ConcurrentWorkItemsPerMessage:0.0} work items each); " +
        $"at a fixed {FixedRatePerSecond:N0} messages/s (achieved {r.FixedRateAchievedPerSecond:0}/s) send to delivered p50 {r.FixedRateP50Ms:0.0} ms, p99 {r.FixedRateP99Ms:0.0} ms; " +
        $"mailbox send to stored p50 {r.MailboxStoredP50Ms:0.0} ms, p99 {r.MailboxStoredP99Ms:0.0} ms (stored at {r.MeanStoredAt:0.0} mailbox nodes on average, of the {r.Nodes - 1} still running; k = 20); " +
        $"returning node start to the last of 50 waiting messages {r.OfflineDeliveryMs:0} ms";

    /// <summary>A node with its data folder <paramref name="name"/> under <paramref name="root"/>, joined through the last three of <paramref name="nodes"/>.</summary>
    internal static async Task<ParleyNode> StartNodeAsync(string root, string name, List<ParleyNode> nodes)
    {
        var node = await ParleyNode.StartAsync(
            new ParleyNodeOptions
            {
                DataFolder = Path.Combine(root, name),
                Listen = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
                Bootstrap = nodes.TakeLast(3).Select(n => n.Host.ListenAddresses[0].WithPeerId(n.PeerId)).ToList(),
                // The stamp's cost is measured on its own (docs/directory.md); here it would only slow the set-up.
                Directory = new DirectoryOptions { NameClaimDifficulty = 8 },
            },
            NullLoggerFactory.Instance,
            CancellationToken.None);
        await node.JoinAsync(CancellationToken.None);
        return node;
    }

    /// <summary>A node with a new account named <paramref name="name"/> and its chat started, added to <paramref name="nodes"/>.</summary>
    internal static async Task<ParleyNode> StartUserAsync(string root, string name, List<ParleyNode> nodes)
    {
        var node = await StartNodeAsync(root, name, nodes);
        await node.CreateAccountAsync(name, CancellationToken.None);
        await node.Chat!.StartAsync(CancellationToken.None);
        nodes.Add(node);
        return node;
    }

    /// <summary>Sends <paramref name="count"/> messages one after another and waits until all are delivered; messages per second.</summary>
    private static async Task<(double PerSecond, TimeSpan Elapsed)> BurstAsync(ChatClient chat, string to, int count, string label, Func<int> delivered)
    {
        var before = delivered();
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            await chat.SendAsync(to, $"{label} {i}", CancellationToken.None);
        }
        await WaitUntilAsync(() => Task.FromResult(delivered() - before >= count), TimeSpan.FromMinutes(5));
        return (count / clock.Elapsed.TotalSeconds, clock.Elapsed);
    }

    /// <summary>Sends <paramref name="count"/> messages with up to <see cref="ConcurrentSends"/> waiting at once, until all are delivered; messages per second.</summary>
    private static async Task<double> ConcurrentBurstAsync(ChatClient chat, string to, int count, Func<int> delivered)
    {
        var before = delivered();
        var clock = Stopwatch.StartNew();
        using var window = new SemaphoreSlim(ConcurrentSends);
        var sends = new List<Task>(count);
        for (var i = 0; i < count; i++)
        {
            await window.WaitAsync();
            sends.Add(SendThenReleaseAsync(chat, to, $"concurrent {i}", window));
        }
        await Task.WhenAll(sends);
        await WaitUntilAsync(() => Task.FromResult(delivered() - before >= count), TimeSpan.FromMinutes(5));
        return count / clock.Elapsed.TotalSeconds;
    }

    private static async Task SendThenReleaseAsync(ChatClient chat, string to, string text, SemaphoreSlim window)
    {
        try
        {
            await chat.SendAsync(to, text, CancellationToken.None);
        }
        finally
        {
            window.Release();
        }
    }

    private sealed record PacedResult(double P50Ms, double P99Ms, double AchievedPerSecond);

    private static async Task<PacedResult> PacedAsync(ChatClient chat, string to, int perSecond, int seconds, ConcurrentDictionary<string, long> deliveredAt)
    {
        var count = perSecond * seconds;
        var scheduled = new long[count];
        var sends = new Task<MessageRecord>[count];
        var start = Stopwatch.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            scheduled[i] = start + (long)(i * (double)Stopwatch.Frequency / perSecond);
            var ahead = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), scheduled[i]);
            if (ahead > TimeSpan.Zero)
            {
                await Task.Delay(ahead);
            }
            sends[i] = chat.SendAsync(to, $"paced {i}", CancellationToken.None);
        }
        var achieved = count / Stopwatch.GetElapsedTime(start).TotalSeconds;
        var messages = await Task.WhenAll(sends);
        var ids = messages.Select(m => Convert.ToHexStringLower(m.Id)).ToList();
        await WaitUntilAsync(() => Task.FromResult(ids.All(deliveredAt.ContainsKey)), TimeSpan.FromMinutes(5));
        var latencies = ids.Select((id, i) => Stopwatch.GetElapsedTime(scheduled[i], deliveredAt[id]).TotalMilliseconds).ToList();
        return new PacedResult(Percentile(latencies, 0.5), Percentile(latencies, 0.99), achieved);
    }

    private static async Task<double> SendAndWaitAsync(ChatClient chat, string to, string text, DeliveryState state)
    {
        var started = Stopwatch.GetTimestamp();
        var message = await chat.SendAsync(to, text, CancellationToken.None);
        await WaitForStateAsync(chat, to, message.Id, state);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    /// <summary>Waits for the state change event rather than polling, so the figure is not rounded up to a poll interval.</summary>
    private static async Task<MessageRecord> WaitForStateAsync(ChatClient chat, string to, byte[] id, DeliveryState state)
    {
        var reached = new TaskCompletionSource<MessageRecord>(TaskCreationOptions.RunContinuationsAsynchronously);
        EventHandler<MessageEventArgs> handler = (_, e) =>
        {
            if (e.Message.Id.AsSpan().SequenceEqual(id) && e.Message.State >= state)
            {
                reached.TrySetResult(e.Message);
            }
        };
        chat.MessageStateChanged += handler;
        try
        {
            var current = (await chat.GetHistoryAsync(to, 10, CancellationToken.None)).FirstOrDefault(m => m.Id.AsSpan().SequenceEqual(id));
            if (current is not null && current.State >= state)
            {
                return current;
            }
            return await reached.Task.WaitAsync(TimeSpan.FromMinutes(1));
        }
        finally
        {
            chat.MessageStateChanged -= handler;
        }
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > (timeout ?? TimeSpan.FromMinutes(1)))
            {
                throw new TimeoutException("the benchmark's network did not get there in time");
            }
            await Task.Delay(5);
        }
    }

    private static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToList();
        return sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)];
    }
}
