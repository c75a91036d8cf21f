using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Core.Multiformats;
using Parley.Dht.Keys;
using Parley.Node;
using Parley.Node.Api;

namespace Parley.Cli;

/// <summary>
/// `parley demo`: the whole system on one machine with no setup. Starts a network of nodes on 127.0.0.1, creates
/// alice, bob and carol, and plays a conversation that shows finding by name, direct chat, offline delivery through
/// mailboxes across a node failure, and contact requests; then prints a summary. Exit 0 only if nothing was lost or
/// duplicated.
/// </summary>
internal static class DemoCommand
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public static Command Create(GlobalOptions options)
    {
        var nodes = new Option<int>("--nodes") { Description = "Nodes in the local network besides the users'", DefaultValueFactory = _ => 20 };
        var keep = new Option<bool>("--keep") { Description = "Leave the network running and print how to open each user's web UI" };
        var command = new Command("demo", "Run a local network of Parley nodes with three users chatting; needs nothing else") { nodes, keep };
        command.SetAction((parse, ct) => new Demo(parse.GetValue(options.Json), parse.GetValue(options.LogLevel)).RunAsync(Math.Max(parse.GetValue(nodes), 4), parse.GetValue(keep), ct));
        return command;
    }

    private sealed class Demo(bool json, LogLevel logLevel)
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly ConcurrentDictionary<string, int> _arrivals = new();
        private readonly List<(string Recipient, string Id, string Path)> _sent = [];
        private readonly List<double> _directLatencies = [];
        private readonly List<double> _mailboxLatencies = [];
        private readonly List<ParleyNode> _nodes = [];
        private readonly string _root = Directory.CreateTempSubdirectory("parley-demo-").FullName;

        public async Task<int> RunAsync(int nodeCount, bool keep, CancellationToken cancellationToken)
        {
            using var loggerFactory = GlobalOptions.CreateLoggerFactory(logLevel);
            try
            {
                Step($"starting {nodeCount} nodes on 127.0.0.1");
                for (var i = 0; i < nodeCount; i++)
                {
                    await StartNodeAsync($"node{i}", loggerFactory, cancellationToken);
                }
                Say($"{nodeCount} nodes up; each joined through the last three started");

                Step("alice, bob and carol create identities and claim their names (about a second of proof of work each)");
                var alice = await StartUserAsync("alice", loggerFactory, cancellationToken);
                var bob = await StartUserAsync("bob", loggerFactory, cancellationToken);
                var carol = await StartUserAsync("carol", loggerFactory, cancellationToken);

                Step("alice looks bob up by name");
                var found = await alice.Chat!.FindAsync("bob", cancellationToken);
                Say($"found {string.Join(", ", found.Select(f => f.Handle))}");

                Step("alice and bob chat directly");
                await SendAndWaitAsync(alice, bob, "hi bob, it's alice", DeliveryState.Delivered, cancellationToken);
                await SendAndWaitAsync(bob, alice, "hi alice! good to see you here", DeliveryState.Delivered, cancellationToken);
                Say($"safety number (both see the same): {Parley.Chat.Crypto.SafetyNumber.Format(await alice.Chat.GetSafetyNumberAsync("bob", cancellationToken))}");

                Step("bob goes offline; alice keeps writing");
                var bobFolder = bob.DataFolderPath!;
                await StopAsync(bob);
                var offline = new List<(MessageRecord Message, long StartedAt)>();
                for (var i = 1; i <= 5; i++)
                {
                    var started = _clock.ElapsedMilliseconds;
                    var message = await alice.Chat.SendAsync("bob", $"offline message {i} of 5", cancellationToken);
                    offline.Add((message, started));
                    _sent.Add(("bob", Convert.ToHexStringLower(message.Id), "mailbox"));
                }
                foreach (var (message, started) in offline)
                {
                    var stored = await WaitForStateAsync(alice, "bob", message.Id, DeliveryState.Stored, cancellationToken);
                    _mailboxLatencies.Add(_clock.ElapsedMilliseconds - started);
                    Say($"\"{message.Text}\" stored at {stored.StoredCount} of 20 mailbox nodes");
                }

                Step("three of the nodes holding bob's mailbox fail");
                var mailbox = KadId.FromKey(MailboxAddress.Of((await alice.Chat.GetContactAsync("bob", cancellationToken)).AccountKey));
                foreach (var victim in _nodes.Where(n => n.Chat is null).OrderBy(n => KadId.FromPeer(n.PeerId).Distance(mailbox)).Take(3).ToList())
                {
                    await StopAsync(victim);
                    Say($"node {victim.PeerId.ToString()[^8..]} is gone");
                }

                Step("bob comes back on a new port and gets his mail");
                var returned = _clock.ElapsedMilliseconds;
                bob = await StartUserAsync(Path.GetFileName(bobFolder), loggerFactory, cancellationToken);
                Say($"bob is back at {bob.Host.ListenAddresses[0]}");
                foreach (var (message, _) in offline)
                {
                    await WaitForStateAsync(alice, "bob", message.Id, DeliveryState.Delivered, cancellationToken);
                }
                Say($"all 5 arrived {_clock.ElapsedMilliseconds - returned} ms after bob's node started, and alice sees them delivered");

                Step("carol writes to alice, who has never heard of her");
                await SendAndWaitAsync(carol, alice, "hello alice, bob told me about you", DeliveryState.Delivered, cancellationToken);
                var request = (await alice.Chat.GetContactAsync("carol", cancellationToken)).State;
                Say($"alice sees a contact request from carol ({request.ToString().ToLowerInvariant()}), accepts and answers");
                await alice.Chat.AcceptAsync("carol", cancellationToken);
                await SendAndWaitAsync(alice, carol, "welcome carol!", DeliveryState.Delivered, cancellationToken);

                await RoomAsync(alice, [bob, carol], cancellationToken);

                var summary = Summarize();
                Print(summary);
                if (keep)
                {
                    await KeepRunningAsync([alice, bob, carol], loggerFactory, cancellationToken);
                }
                return summary.Lost == 0 && summary.Duplicated == 0 ? 0 : 1;
            }
            catch (Exception e) when (e is ChatException or IOException or TimeoutException)
            {
                return GlobalOptions.Fail($"demo failed: {e.Message}");
            }
            finally
            {
                foreach (var node in _nodes.ToList())
                {
                    await node.DisposeAsync();
                }
                Directory.Delete(_root, recursive: true);
            }
        }

        /// <summary>A room: the admin creates it and invites the others, who join; everyone writes once; all see one order.</summary>
        private async Task RoomAsync(ParleyNode admin, IReadOnlyList<ParleyNode> invitees, CancellationToken cancellationToken)
        {
            Step($"{admin.Chat!.Handle.Name} makes a room and invites {string.Join(" and ", invitees.Select(i => i.Chat!.Handle.Name))}");
            var started = _clock.ElapsedMilliseconds;
            var room = await admin.Chat.CreateGroupAsync("parley demo", historyEnabled: true, cancellationToken);
            foreach (var invitee in invitees)
            {
                await admin.Chat.InviteToGroupAsync(room.IdText, invitee.Chat!.Handle.ToString(), cancellationToken);
            }
            var everyone = invitees.Prepend(admin).ToList();
            foreach (var invitee in invitees)
            {
                await WaitUntilAsync(async () => (await invitee.Chat!.GetGroupsAsync(cancellationToken)).Any(g => g.Id == room.Id), $"{invitee.Chat!.Handle.Name} gets the invitation", cancellationToken);
                await invitee.Chat.JoinGroupAsync(room.IdText, cancellationToken);
            }
            foreach (var member in everyone)
            {
                await WaitUntilAsync(async () => (await member.Chat!.GetGroupAsync(room.IdText, cancellationToken)).Members.Count == everyone.Count, $"{member.Chat!.Handle.Name} sees every member", cancellationToken);
            }
            Say($"\"{room.Name}\" has {everyone.Count} members ({_clock.ElapsedMilliseconds - started} ms)");
            foreach (var member in everyone)
            {
                var sent = await member.Chat!.SendToGroupAsync(room.IdText, $"{member.Chat.Handle.Name} says hi to the room", cancellationToken);
                foreach (var other in everyone.Where(o => o != member))
                {
                    _sent.Add((other.Chat!.Handle.ToString(), $"{Convert.ToHexStringLower(sent.Id)}/{other.Chat.Handle}", "room"));
                }
            }
            foreach (var member in everyone)
            {
                await WaitUntilAsync(async () => (await member.Chat!.GetGroupHistoryAsync(room.IdText, 100, cancellationToken)).Messages.Count == everyone.Count, $"{member.Chat!.Handle.Name} has every room message", cancellationToken);
            }
            var order = (await admin.Chat.GetGroupHistoryAsync(room.IdText, 100, cancellationToken)).Messages.Select(m => m.Text).ToList();
            foreach (var member in invitees)
            {
                var theirs = (await member.Chat!.GetGroupHistoryAsync(room.IdText, 100, cancellationToken)).Messages.Select(m => m.Text);
                if (!theirs.SequenceEqual(order))
                {
                    throw new TimeoutException($"{member.Chat.Handle.Name} shows the room's messages in another order");
                }
            }
            Say($"everyone shows the same {order.Count} messages in the same order ({_clock.ElapsedMilliseconds - started} ms in all): {string.Join(" / ", order)}");
        }

        private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, CancellationToken cancellationToken)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(Patience);
            try
            {
                while (!await condition())
                {
                    await Task.Delay(50, deadline.Token);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out waiting until {what}");
            }
        }

        private async Task<ParleyNode> StartNodeAsync(string folder, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
        {
            var node = await ParleyNode.StartAsync(
                new ParleyNodeOptions
                {
                    DataFolder = Path.Combine(_root, folder),
                    Listen = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
                    Bootstrap = _nodes.TakeLast(3).Select(n => n.Host.ListenAddresses[0].WithPeerId(n.PeerId)).ToList(),
                    Chat = new ChatOptions { MailboxPollInterval = TimeSpan.FromSeconds(2), StoredRetryDelay = TimeSpan.FromSeconds(5) },
                },
                loggerFactory,
                cancellationToken);
            await node.JoinAsync(cancellationToken);
            _nodes.Add(node);
            return node;
        }

        private async Task<ParleyNode> StartUserAsync(string name, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
        {
            var started = _clock.ElapsedMilliseconds;
            var node = await StartNodeAsync(name, loggerFactory, cancellationToken);
            var created = !await node.OpenChatAsync(cancellationToken);
            if (created)
            {
                await node.CreateAccountAsync(name, cancellationToken);
            }
            var chat = node.Chat!;
            chat.MessageReceived += (_, e) => _arrivals.AddOrUpdate(Convert.ToHexStringLower(e.Message.Id), 1, (_, n) => n + 1);
            chat.GroupMessageReceived += (_, e) => _arrivals.AddOrUpdate($"{Convert.ToHexStringLower(e.Message.Id)}/{chat.Handle}", 1, (_, n) => n + 1);
            var report = await chat.StartAsync(cancellationToken);
            Say(created
                ? $"{chat.Handle} is on the network ({_clock.ElapsedMilliseconds - started} ms; name stored at {report.NameStoredAt} nodes)"
                : $"{chat.Handle} started ({report.MailboxEnvelopes} waiting message{(report.MailboxEnvelopes == 1 ? "" : "s")} fetched from {report.MailboxNodesAnswered} mailbox nodes)");
            return node;
        }

        private async Task StopAsync(ParleyNode node)
        {
            _nodes.Remove(node);
            await node.DisposeAsync();
        }

        private async Task SendAndWaitAsync(ParleyNode from, ParleyNode to, string text, DeliveryState until, CancellationToken cancellationToken)
        {
            var started = _clock.ElapsedMilliseconds;
            var recipient = to.Chat!.Handle.ToString();
            var message = await from.Chat!.SendAsync(recipient, text, cancellationToken);
            _sent.Add((recipient, Convert.ToHexStringLower(message.Id), "direct"));
            await WaitForStateAsync(from, recipient, message.Id, until, cancellationToken);
            var elapsed = _clock.ElapsedMilliseconds - started;
            _directLatencies.Add(elapsed);
            Say($"{from.Chat.Handle.Name} → {to.Chat.Handle.Name}: \"{text}\"  delivered in {elapsed} ms");
        }

        private static async Task<MessageRecord> WaitForStateAsync(ParleyNode node, string contact, byte[] id, DeliveryState state, CancellationToken cancellationToken)
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(Patience);
            try
            {
                while (true)
                {
                    var message = (await node.Chat!.GetHistoryAsync(contact, ChatClient.MaxPageSize, deadline.Token)).First(m => m.Id.AsSpan().SequenceEqual(id));
                    if (message.State >= state)
                    {
                        return message;
                    }
                    await Task.Delay(50, deadline.Token);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"a message to {contact} did not become {state.ToString().ToLowerInvariant()} within {Patience.TotalSeconds:0} s");
            }
        }

        private Summary Summarize()
        {
            var lost = _sent.Count(s => !_arrivals.ContainsKey(s.Id));
            var duplicated = _arrivals.Values.Count(n => n > 1);
            return new Summary(
                _sent.Count,
                _sent.Count - lost,
                lost,
                duplicated,
                Percentile(_directLatencies, 0.5),
                Percentile(_directLatencies, 0.99),
                Percentile(_mailboxLatencies, 0.5),
                _clock.ElapsedMilliseconds);
        }

        private void Print(Summary summary)
        {
            if (json)
            {
                GlobalOptions.PrintJson(summary);
                return;
            }
            Step("summary");
            Console.WriteLine($"messages sent {summary.Sent}, delivered {summary.Delivered}, lost {summary.Lost}, duplicated {summary.Duplicated}");
            Console.WriteLine($"direct: send to delivered p50 {summary.DirectP50Ms:0} ms, p99 {summary.DirectP99Ms:0} ms; mailbox: send to stored p50 {summary.MailboxStoredP50Ms:0} ms");
            Console.WriteLine($"total {summary.ElapsedMs / 1000.0:0.0} s");
        }

        private async Task KeepRunningAsync(IReadOnlyList<ParleyNode> users, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
        {
            var apis = new List<LocalApi>();
            try
            {
                foreach (var user in users)
                {
                    var api = await LocalApi.StartAsync(user, 0, loggerFactory, cancellationToken);
                    apis.Add(api);
                    Console.Error.WriteLine($"{user.Chat!.Handle.Name}'s web UI: {api.WebUiAddress}");
                }
                Console.Error.WriteLine($"the network keeps running; bootstrap another node with --bootstrap {_nodes[0].Host.ListenAddresses[0].WithPeerId(_nodes[0].PeerId)}; Ctrl-C stops it");
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                // Ctrl-C.
            }
            finally
            {
                foreach (var api in apis)
                {
                    await api.DisposeAsync();
                }
            }
        }

        private void Step(string text)
        {
            if (!json)
            {
                Console.WriteLine($"\n[{_clock.Elapsed.TotalSeconds,6:0.0}s] == {text}");
            }
        }

        private void Say(string text)
        {
            if (!json)
            {
                Console.WriteLine($"[{_clock.Elapsed.TotalSeconds,6:0.0}s]    {text}");
            }
        }

        private static double Percentile(List<double> values, double p)
        {
            if (values.Count == 0)
            {
                return 0;
            }
            var sorted = values.Order().ToList();
            return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
        }
    }

    internal sealed record Summary(int Sent, int Delivered, int Lost, int Duplicated, double DirectP50Ms, double DirectP99Ms, double MailboxStoredP50Ms, long ElapsedMs);
}
