using System.Diagnostics;
using System.Globalization;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Node;
using Parley.Storage;

namespace Parley.Benchmarks;

/// <summary>
/// What one message costs when its recipient has 1, 2 or 5 devices (linked devices issue): whole nodes on loopback
/// (TCP, Noise, yamux, DHT, SQLite) in this process; alice on one device writes to bob, whose extra devices are linked
/// as linking leaves them (the account's secrets in a new store, the key certified, the device joined). After the
/// sessions with every device exist and a warm-up, <c>messages</c> messages are sent one after another and timed until
/// every one of bob's devices has all of them. CPU is this process's (every node's work); bytes are what crossed the
/// loopback interface meanwhile (/proc/net/dev, so the machine must be otherwise quiet), headers and acks included.
/// </summary>
internal static class DeviceFanoutBenchmark
{
    private const int PlainNodes = 6;
    private const int WarmUp = 50;

    public sealed record Result(int Devices, int Messages, double CpuMicrosPerMessage, double LoopbackBytesPerMessage, double AllocatedKiBPerMessage, double MillisecondsToAllDevices);

    public static async Task<Result> RunAsync(int devices, int messages)
    {
        var root = Directory.CreateTempSubdirectory("parley-fanout-bench-").FullName;
        var nodes = new List<ParleyNode>();
        try
        {
            for (var i = 0; i < PlainNodes; i++)
            {
                nodes.Add(await ChatBenchmark.StartNodeAsync(root, $"node{i}", nodes));
            }
            var alice = (await ChatBenchmark.StartUserAsync(root, "alice", nodes)).Chat!;
            var bobFirst = (await ChatBenchmark.StartUserAsync(root, "bob", nodes)).Chat!;
            var bob = new List<ChatClient> { bobFirst };
            for (var d = 1; d < devices; d++)
            {
                bob.Add(await LinkDeviceAsync(root, $"bob-device{d}", bobFirst, nodes));
            }
            var bobHandle = bobFirst.Handle.ToString();

            await alice.SendAsync(bobHandle, "hello", CancellationToken.None);
            await ChatBenchmark.WaitUntilAsync(async () => (await bobFirst.GetUnreadAsync(CancellationToken.None)).Count > 0);
            await bobFirst.AcceptAsync(alice.Handle.ToString(), CancellationToken.None);
            // Bob's acceptance names his device, so alice looks his device list up; the warm-up starts the sessions.
            await ChatBenchmark.WaitUntilAsync(async () => (await alice.GetContactAsync(bobHandle, CancellationToken.None)).TheirMailboxToken is not null);
            await SendAndWaitAsync(alice, bobHandle, bob, WarmUp, "warm-up", TimeSpan.FromMinutes(2));

            var loopbackBefore = LoopbackBytes();
            var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
            var allocatedBefore = GC.GetTotalAllocatedBytes();
            var clock = Stopwatch.StartNew();
            await SendAndWaitAsync(alice, bobHandle, bob, messages, "measured", TimeSpan.FromMinutes(5));
            var elapsed = clock.Elapsed;
            var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
            var allocated = GC.GetTotalAllocatedBytes() - allocatedBefore;
            var loopback = LoopbackBytes() - loopbackBefore;
            return new Result(devices, messages, cpu.TotalMicroseconds / messages, (double)loopback / messages, allocated / 1024.0 / messages, elapsed.TotalMilliseconds);
        }
        finally
        {
            foreach (var node in Enumerable.Reverse(nodes))
            {
                await node.DisposeAsync();
            }
            Directory.Delete(root, recursive: true);
        }
    }

    public static string Describe(Result r) =>
        $"one message to a recipient with {r.Devices} device(s), {r.Messages} messages: {r.CpuMicrosPerMessage:0} µs of CPU (all nodes), " +
        $"{r.LoopbackBytesPerMessage:0} bytes over loopback, {r.AllocatedKiBPerMessage:0} KiB allocated per message; all on every device after {r.MillisecondsToAllDevices:0} ms";

    /// <summary>A device of <paramref name="account"/>'s account as linking leaves it: the secrets in its own store, its key certified, joined.</summary>
    private static async Task<ChatClient> LinkDeviceAsync(string root, string name, ChatClient account, List<ParleyNode> nodes)
    {
        var folder = Path.Combine(root, name);
        Directory.CreateDirectory(folder);
        await using (var store = await SqliteChatStore.OpenAsync(Path.Combine(folder, "parley.db"), null, DefaultCryptoProvider.Instance, Durability.ProcessCrash, CancellationToken.None))
        {
            await store.TransactAsync(tx =>
            {
                tx.PutAccount(new AccountRecord(account.Account.AccountSeed, account.Account.IdentityDhPrivateKey, account.Handle.Name, null, DateTimeOffset.UtcNow));
                return true;
            }, CancellationToken.None);
        }
        var node = await ChatBenchmark.StartNodeAsync(root, name, nodes);
        nodes.Add(node);
        await account.Devices.AddAsync(node.PeerId.TryExtractPublicKey()!, name, CancellationToken.None);
        if (!await node.OpenChatAsync(CancellationToken.None))
        {
            throw new InvalidOperationException($"{name} has no account after linking");
        }
        await node.Chat!.Devices.JoinAsync(CancellationToken.None);
        await node.Chat.StartAsync(CancellationToken.None);
        return node.Chat;
    }

    /// <summary>Sends <paramref name="count"/> messages labelled <paramref name="label"/>; returns when every device of bob's has them all.</summary>
    private static async Task SendAndWaitAsync(ChatClient alice, string bobHandle, List<ChatClient> bob, int count, string label, TimeSpan patience)
    {
        for (var i = 0; i < count; i++)
        {
            await alice.SendAsync(bobHandle, $"{label} {i}", CancellationToken.None);
        }
        var aliceHandle = alice.Handle.ToString();
        await ChatBenchmark.WaitUntilAsync(
            async () =>
            {
                foreach (var device in bob)
                {
                    var history = await device.GetHistoryAsync(aliceHandle, count * 3, CancellationToken.None);
                    if (history.Count(m => m.Direction == MessageDirection.Incoming && m.Text.StartsWith(label + " ", StringComparison.Ordinal)) < count)
                    {
                        return false;
                    }
                }
                return true;
            },
            patience);
    }

    /// <summary>Bytes received on the loopback interface so far (every byte sent on it is received on it).</summary>
    private static long LoopbackBytes()
    {
        var line = File.ReadLines("/proc/net/dev").First(l => l.TrimStart().StartsWith("lo:", StringComparison.Ordinal));
        return long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0], CultureInfo.InvariantCulture);
    }
}
