using System.Collections.Concurrent;
using System.Diagnostics;
using Parley.Chat.Channels;
using Parley.Chat.Directory;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Storage;
using Parley.Testing;

namespace Parley.Benchmarks;

/// <summary>
/// Rooms end to end on the in-memory network: every member is a whole chat client (SQLite store, pairwise sessions,
/// outbox) on its own in-memory host. Once the members' clients exist, the room is built the way users build one
/// (invitations, joins, sender keys passed on by the admin) and timed until every member sees every other and holds
/// its sender key; then everyone sends one message, timed until everyone has read everyone; then one message is sent
/// and timed until every member has it, and one member is removed and timed until
/// every remaining member holds the others' new sender keys, then until each has read a message from every other
/// under them. All members share this process's two cores, so the times include every member's work done one after
/// another, not in parallel as on separate devices.
/// </summary>
internal static class RoomDeliveryBenchmark
{
    public sealed record Result(
        int Members,
        double MembersCreatedSeconds,
        double SetUpSeconds,
        double SetUpCpuSeconds,
        double RoundSeconds,
        double RoundCpuSeconds,
        double DeliveryMs,
        long SenderBytes,
        double RemoverCpuMs,
        double RekeyedMs,
        double RekeyedCpuSeconds,
        int UncheckedAtRekeyed,
        double RemovalMs,
        double RemovalCpuSeconds);

    public static async Task<Result> RunAsync(int members)
    {
        var folder = Directory.CreateTempSubdirectory("parley-room-bench-").FullName;
        var directory = new DirectoryOptions { NameClaimDifficulty = 4 };
        var mailbox = new MailboxOptions { DepositDifficulty = 4, RunMaintenance = false };
        // Every member is online and takes its envelopes directly: the mailbox is polled at the clients' default
        // interval (a minute), as a user's client does, not every few seconds (each poll is a DHT lookup).
        var chatOptions = new ChatOptions { FirstRetryDelay = TimeSpan.FromMilliseconds(200), MaxRetryDelay = TimeSpan.FromSeconds(1) };
        await using var dht = await DhtTestNetwork.StartAsync(8, validators: () =>
        {
            var registry = ParleyRecords.CreateValidators(TimeProvider.System);
            ChatRecords.Register(registry, TimeProvider.System, directory);
            return registry;
        });
        var services = new List<MailboxService>();
        var phaseWall = Stopwatch.StartNew();
        var phaseCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clients = new List<(ChatClient Chat, SqliteChatStore Store)>();
        var syncsBefore = (Admin: 0L, Members: 0L);
        void Phase(string what)
        {
            var cpuNow = Process.GetCurrentProcess().TotalProcessorTime;
            // Room syncs (each visits and saves its whole room) run in the phase: the admin's, and all members' together.
            var syncs = (Admin: clients.Take(1).Sum(c => c.Chat.Core.Rooms.SyncCount), Members: clients.Skip(1).Sum(c => c.Chat.Core.Rooms.SyncCount));
            Console.Error.WriteLine($"  {what}: {phaseWall.Elapsed.TotalSeconds:0.0} s wall, {(cpuNow - phaseCpu).TotalSeconds:0.0} s CPU, room syncs: admin {syncs.Admin - syncsBefore.Admin}, members {syncs.Members - syncsBefore.Members}");
            syncsBefore = syncs;
            phaseWall.Restart();
            phaseCpu = cpuNow;
        }

        try
        {
            foreach (var (host, node) in dht.Nodes.ToList())
            {
                services.Add(StartMailbox(host, node, mailbox));
            }
            var creation = Stopwatch.StartNew();
            for (var i = 0; i < members; i++)
            {
                clients.Add(await AddMemberAsync(dht, folder, $"member{i}", directory, mailbox, chatOptions, services));
            }
            var membersCreatedSeconds = creation.Elapsed.TotalSeconds;
            Phase("members' clients created");
            // The first members published their records into a DHT of a few nodes that has since grown to all of them,
            // and the test network runs no DHT upkeep: publish again, as a client's own republishing would, so that a
            // lookup finds every member's presence at the nodes now closest to it (at 300 members, most presence lookups
            // missed without this). Not part of the room's set-up.
            foreach (var (chat, _) in clients)
            {
                await chat.RunMaintenanceOnceAsync(force: true, CancellationToken.None);
            }
            Phase("records published again in the grown network");
            var setUp = Stopwatch.StartNew();
            var setUpCpu = Process.GetCurrentProcess().TotalProcessorTime;
            var admin = clients[0].Chat;
            var room = await admin.CreateGroupAsync("benchmark", historyEnabled: false, CancellationToken.None);
            foreach (var (chat, _) in clients.Skip(1))
            {
                await admin.InviteToGroupAsync(room.IdText, chat.Handle.ToString(), CancellationToken.None);
            }
            Phase("invited");
            foreach (var (chat, _) in clients.Skip(1))
            {
                await WaitAsync(async () => (await chat.GetGroupsAsync(CancellationToken.None)).Count == 1, TimeSpan.FromMinutes(5));
                await chat.JoinGroupAsync(room.IdText, CancellationToken.None);
            }
            Phase("joined");
            foreach (var (chat, _) in clients)
            {
                await WaitAsync(async () => (await chat.GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count == members, TimeSpan.FromMinutes(10));
            }
            Phase("everyone sees all members");
            // Set up: every member can read every other (it holds the current chain of each), the criterion the
            // removal below is timed by. Read from memory under the room's lock: no store reads while waiting.
            foreach (var (chat, _) in clients)
            {
                await WaitAsync(
                    () => chat.Core.RoomCache.ReadAsync(room.Id, (_, r) => r.Log.State.Members.Count == members && r.Session.ReadableMemberCount(r.Log.State) == members - 1, CancellationToken.None),
                    TimeSpan.FromMinutes(10));
            }
            Phase("everyone holds everyone's keys");
            var setUpSeconds = setUp.Elapsed.TotalSeconds;
            var setUpCpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - setUpCpu).TotalSeconds;

            // Then a round of messages, everyone sending once, until everyone has read everyone: it proves the keys,
            // and warms the paths the timed message takes. Counted from events, as the round after the removal.
            var round = Stopwatch.StartNew();
            var roundCpu = Process.GetCurrentProcess().TotalProcessorTime;
            var hellos = new ConcurrentDictionary<string, int>();
            foreach (var (chat, _) in clients)
            {
                chat.GroupMessageReceived += (_, e) =>
                {
                    if (e.Message.Text.StartsWith("hello from", StringComparison.Ordinal))
                    {
                        hellos.AddOrUpdate(chat.Handle.ToString(), 1, (_, n) => n + 1);
                    }
                };
            }
            foreach (var (chat, _) in clients)
            {
                await chat.SendToGroupAsync(room.IdText, $"hello from {chat.Handle.Name}", CancellationToken.None);
            }
            try
            {
                await WaitAsync(() => Task.FromResult(hellos.Count == members && hellos.Values.All(n => n >= members - 1)), TimeSpan.FromSeconds(Math.Max(60, 2 * members)));
            }
            catch (TimeoutException)
            {
                foreach (var (chat, store) in clients)
                {
                    var history = await chat.GetGroupHistoryAsync(room.IdText, members + 10, CancellationToken.None);
                    var pending = await store.ReadAsync(r => r.GetGroupPending(room.Id.Span.ToArray()).Count, CancellationToken.None);
                    var outbox = await chat.CountOutboxAsync(CancellationToken.None);
                    var unsent = await chat.CountOutboxAsync(CancellationToken.None, unsentOnly: true);
                    var senders = string.Join(",", history.Messages.Select(m => m.Text.Replace("hello from member", "", StringComparison.Ordinal)).Order());
                    Console.Error.WriteLine($"{chat.Handle.Name}: {history.Messages.Count} messages [{senders}], {pending} pending, outbox {outbox} ({unsent} unsent), gaps {history.Gaps.Count}");
                }
                throw;
            }
            Phase("round of messages read");
            var roundSeconds = round.Elapsed.TotalSeconds;
            var roundCpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - roundCpu).TotalSeconds;
            Console.Error.WriteLine($"  room of {members} set up in {setUpSeconds:0} s; timing one message, then a removal");

            // One message to everyone.
            var received = new ConcurrentDictionary<string, bool>();
            foreach (var (chat, _) in clients.Skip(1))
            {
                chat.GroupMessageReceived += (_, e) =>
                {
                    if (e.Message.Text == "the timed message")
                    {
                        received[chat.Handle.ToString()] = true;
                    }
                };
            }
            var delivery = Stopwatch.StartNew();
            var sent = await admin.SendToGroupAsync(room.IdText, "the timed message", CancellationToken.None);
            // One envelope per other member, each carrying the same ciphertext under its own envelope id.
            var senderBytes = (long)sent.Recipients * new Chat.Protos.Envelope { EnvelopeId = Google.Protobuf.ByteString.CopyFrom(new byte[16]), GroupMessage = Google.Protobuf.ByteString.CopyFrom(sent.Ciphertext) }.CalculateSize();
            await WaitAsync(() => Task.FromResult(received.Count == members - 1), TimeSpan.FromMinutes(5));
            var deliveryMs = delivery.Elapsed.TotalMilliseconds;

            // One member removed: everyone else makes a new chain and sends it to every remaining member.
            var removed = clients[^1].Chat;
            var remaining = clients.Take(members - 1).Select(c => c.Chat).ToList();
            var epochBefore = (await admin.GetGroupAsync(room.IdText, CancellationToken.None)).Epoch;
            // Counted from events, so that waiting does not add reads of every member's history to the CPU measured.
            var newKeys = new ConcurrentDictionary<string, int>();
            foreach (var chat in remaining)
            {
                chat.GroupMessageReceived += (_, e) =>
                {
                    if (e.Message.Text.StartsWith("new keys", StringComparison.Ordinal))
                    {
                        newKeys.AddOrUpdate(chat.Handle.ToString(), 1, (_, n) => n + 1);
                    }
                };
            }
            var removal = Stopwatch.StartNew();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            await admin.KickAsync(room.IdText, removed.Handle.ToString(), CancellationToken.None);
            var removerCpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
            // Rekeyed when every remaining member is in the new epoch and holds the new chain of every other one.
            foreach (var chat in remaining)
            {
                await WaitAsync(
                    () => chat.Core.RoomCache.ReadAsync(room.Id, (_, r) => r.Log.State.Epoch.Number > epochBefore && r.Session.ReadableMemberCount(r.Log.State) == remaining.Count - 1, CancellationToken.None),
                    TimeSpan.FromMinutes(5));
            }
            var rekeyedMs = removal.Elapsed.TotalMilliseconds;
            var rekeyedCpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            Phase("one message to all, then a removal until rekeyed");
            // Chains passed on are held with their owner's signature checked at their first message (docs/groups.md):
            // those checks are still to come here, and counted in the CPU of the reading that follows.
            var uncheckedAtRekeyed = 0;
            foreach (var chat in remaining)
            {
                uncheckedAtRekeyed += await chat.Core.RoomCache.ReadAsync(room.Id, (_, r) => r.Session.UncheckedChainCount, CancellationToken.None);
            }
            // Then every remaining member sends under its new chain, and every message reads everywhere.
            foreach (var chat in remaining)
            {
                await chat.SendToGroupAsync(room.IdText, $"new keys from {chat.Handle.Name}", CancellationToken.None);
            }
            // Each member's own message is not received: it reads the others' remaining.Count - 1.
            await WaitAsync(() => Task.FromResult(newKeys.Count == remaining.Count && newKeys.Values.All(n => n >= remaining.Count - 1)), TimeSpan.FromMinutes(10));
            return new Result(
                members, membersCreatedSeconds, setUpSeconds, setUpCpuSeconds, roundSeconds, roundCpuSeconds, deliveryMs, senderBytes, removerCpuMs, rekeyedMs, rekeyedCpuSeconds, uncheckedAtRekeyed,
                removal.Elapsed.TotalMilliseconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
        }
        finally
        {
            foreach (var (chat, store) in clients)
            {
                await chat.DisposeAsync();
                await store.DisposeAsync();
            }
            foreach (var service in services)
            {
                await service.DisposeAsync();
            }
            Directory.Delete(folder, recursive: true);
        }
    }

    public static string Describe(Result r) =>
        $"room of {r.Members} on the in-memory network (members' clients created in {r.MembersCreatedSeconds:0.0} s): set up (everyone a member, holding everyone's key) in {r.SetUpSeconds:0.0} s " +
        $"({r.SetUpCpuSeconds:0.0} s of CPU); then everyone sends one message, read by everyone in {r.RoundSeconds:0.0} s ({r.RoundCpuSeconds:0.0} s of CPU); one message reaches all {r.Members - 1} others in {r.DeliveryMs:0} ms, the sender sends {r.SenderBytes:N0} bytes " +
        $"({r.SenderBytes / Math.Max(1, r.Members - 1):N0} per member); removing one member: {r.RemoverCpuMs:0} ms of CPU for the remover's call, " +
        $"{r.RekeyedMs:0} ms until every remaining member holds the others' new keys ({r.RekeyedCpuSeconds:0.0} s of CPU; {r.UncheckedAtRekeyed:N0} owners' signatures still to check at first messages), " +
        $"{r.RemovalMs:0} ms until each has read a message from every other under them ({r.RemovalCpuSeconds:0.0} s of CPU, {r.RemovalCpuSeconds * 1000 / Math.Max(1, r.Members - 1):0} ms per member)";

    private static MailboxService StartMailbox(InMemoryHost host, KademliaNode node, MailboxOptions options)
    {
        var service = new MailboxService(host, node, new EphemeralMailboxStore(options, TimeProvider.System), TimeProvider.System, options);
        service.Start();
        return service;
    }

    private static async Task<(ChatClient, SqliteChatStore)> AddMemberAsync(DhtTestNetwork dht, string folder, string name, DirectoryOptions directory, MailboxOptions mailboxOptions, ChatOptions options, List<MailboxService> services)
    {
        var deviceKey = IdentityKey.Generate();
        var node = await dht.AddNodeAsync(identity: deviceKey);
        var host = dht.Nodes[^1].Host;
        var service = StartMailbox(host, node, mailboxOptions);
        services.Add(service);
        var store = await SqliteChatStore.OpenAsync(Path.Combine(folder, $"{name}.db"), null, DefaultCryptoProvider.Instance, Durability.ProcessCrash, CancellationToken.None);
        var account = await ChatClient.CreateAccountAsync(store, name, DefaultCryptoProvider.Instance, TimeProvider.System, CancellationToken.None);
        var chat = (await ChatClient.OpenAsync(
            new ChatDependencies(
                store,
                new ChatStreams(host, options, TimeProvider.System),
                new DirectoryClient(node, TimeProvider.System, directory),
                new MailboxClient(host, host, node, TimeProvider.System, mailboxOptions, localService: service),
                account.CertifyDevice(deviceKey.PublicKey, DateTimeOffset.UtcNow),
                TimeProvider.System,
                DefaultCryptoProvider.Instance,
                options),
            CancellationToken.None))!;
        await chat.StartAsync(CancellationToken.None);
        return (chat, store);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, [System.Runtime.CompilerServices.CallerArgumentExpression(nameof(condition))] string what = "")
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > timeout)
            {
                throw new TimeoutException($"the room benchmark's network did not get there in time: {what}");
            }
            await Task.Delay(20);
        }
        if (deadline.Elapsed > TimeSpan.FromSeconds(2))
        {
            Console.Error.WriteLine($"  waited {deadline.Elapsed.TotalSeconds:0.0} s: {what}");
        }
    }
}
