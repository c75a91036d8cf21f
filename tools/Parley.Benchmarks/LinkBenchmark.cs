using System.Diagnostics;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Linking;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Node;
using Parley.Storage;

namespace Parley.Benchmarks;

/// <summary>
/// Time to link a device on loopback (docs/linking.md), from the code entered on the new device to the contacts shown
/// there: two whole nodes (TCP, Noise, yamux, SQLite) in this process; the existing device's account has
/// <c>contacts</c> contacts with <c>messagesPerContact</c> messages each, and <c>rooms</c> rooms with
/// <c>roomMessages</c> messages each. The confirmation is given as soon as the existing device asks (a person takes
/// seconds; that is not Parley's time). Each run links a fresh empty folder with a new code.
/// </summary>
internal static class LinkBenchmark
{
    public sealed record Result(int Contacts, int Messages, int Rooms, int RoomMessages, int Runs, double MedianMs, double MinMs, double MaxMs, long SnapshotBytes, int SnapshotParts, double ExportMs);

    public static async Task<Result> RunAsync(int contacts, int messagesPerContact, int rooms, int roomMessages, int runs)
    {
        var root = Directory.CreateTempSubdirectory("parley-link-bench-").FullName;
        try
        {
            var existingFolder = Path.Combine(root, "existing");
            await PopulateAsync(existingFolder, contacts, messagesPerContact);
            await using var existing = await ParleyNode.StartAsync(Options(existingFolder), NullLoggerFactory.Instance, CancellationToken.None);
            await existing.OpenChatAsync(CancellationToken.None);
            for (var r = 0; r < rooms; r++)
            {
                var room = await existing.Chat!.CreateGroupAsync($"room {r}", historyEnabled: true, CancellationToken.None);
                for (var m = 0; m < roomMessages; m++)
                {
                    await existing.Chat.SendToGroupAsync(room.IdText, Text(m), CancellationToken.None);
                }
            }
            var (bytes, parts, exportMs) = await MeasureExportAsync(existingFolder);
            var times = new List<double>();
            for (var run = 0; run < runs; run++)
            {
                times.Add(await LinkOnceAsync(existing, Path.Combine(root, $"new{run}"), contacts));
            }
            times.Sort();
            return new Result(contacts, contacts * messagesPerContact, rooms, rooms * roomMessages, runs, times[times.Count / 2], times[0], times[^1], bytes, parts, exportMs);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    public static string Describe(Result r) =>
        $"device link on loopback, code entered to {r.Contacts} contacts shown on the new device ({r.Messages} messages in 1:1 chats, {r.Rooms} rooms with {r.RoomMessages} messages): " +
        $"median {r.MedianMs:0} ms (min {r.MinMs:0}, max {r.MaxMs:0}, {r.Runs} runs); snapshot {r.SnapshotBytes / 1024} KiB in {r.SnapshotParts} parts, exported in {r.ExportMs:0} ms";

    private static async Task<double> LinkOnceAsync(ParleyNode existing, string folder, int contacts)
    {
        await using var joining = await ParleyNode.StartAsync(Options(folder), NullLoggerFactory.Instance, CancellationToken.None);
        var offer = existing.Linker!.CreateOffer(existing.Host.ListenAddresses);
        var code = offer.Code.ToString();
        var clock = Stopwatch.StartNew();
        var linking = joining.LinkAsync(LinkCode.Parse(code), "bench", _ => { }, CancellationToken.None);
        while (!linking.IsCompleted && !offer.Decide(true))
        {
            await Task.WhenAny(linking, Task.Delay(1));
        }
        await linking;
        var shown = (await joining.Chat!.GetContactsAsync(CancellationToken.None)).Count;
        clock.Stop();
        if (shown != contacts)
        {
            throw new InvalidOperationException($"the new device shows {shown} contacts, not {contacts}");
        }
        return clock.Elapsed.TotalMilliseconds;
    }

    private static async Task<(long Bytes, int Parts, double Ms)> MeasureExportAsync(string folder)
    {
        // A second connection to the same database, read only: what the existing device's transfer reads.
        await using var store = await SqliteChatStore.OpenAsync(Path.Combine(folder, "parley.db"), null, DefaultCryptoProvider.Instance, Durability.ProcessCrash, CancellationToken.None);
        var self = await store.ReadAsync(r => Chat.Identity.Account.FromSecrets(r.GetAccount()!.AccountSeed, r.GetAccount()!.IdentityDhPrivateKey).Id, CancellationToken.None);
        var clock = Stopwatch.StartNew();
        var parts = await AccountSnapshot.ExportAsync(store, self, DefaultCryptoProvider.Instance, AccountSnapshot.HistoryPerConversation, CancellationToken.None);
        return (parts.Sum(p => (long)p.Length), parts.Count, clock.Elapsed.TotalMilliseconds);
    }

    private static async Task PopulateAsync(string folder, int contacts, int messagesPerContact)
    {
        Directory.CreateDirectory(folder);
        await using var store = await SqliteChatStore.OpenAsync(Path.Combine(folder, "parley.db"), null, DefaultCryptoProvider.Instance, Durability.ProcessCrash, CancellationToken.None);
        var account = await ChatClient.CreateAccountAsync(store, "alice", DefaultCryptoProvider.Instance, TimeProvider.System, CancellationToken.None);
        var now = DateTimeOffset.UtcNow;
        await store.TransactAsync(tx =>
        {
            for (var c = 0; c < contacts; c++)
            {
                var key = IdentityKey.Generate();
                tx.PutContact(new ContactRecord(key.PeerId, key.PublicKey, RandomNumberGenerator.GetBytes(32), $"contact{c}", ContactState.Accepted, RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32), now));
                var conversation = ConversationIds.Direct(account.Id, key.PeerId);
                byte[]? previous = null;
                for (var m = 0; m < messagesPerContact; m++)
                {
                    var incoming = m % 2 == 1;
                    var id = RandomNumberGenerator.GetBytes(16);
                    var at = now.AddMinutes(m - messagesPerContact);
                    tx.InsertMessage(new MessageRecord(id, conversation, incoming ? key.PeerId : account.Id, incoming ? MessageDirection.Incoming : MessageDirection.Outgoing, (ulong)m + 1,
                        previous is null ? [] : [previous], Text(m), incoming ? DeliveryState.Received : DeliveryState.Read, 0, at, at, false, false));
                    tx.AdvanceConversation(conversation, key.PeerId, (ulong)m + 1, id);
                    previous = id;
                }
            }
            return true;
        }, CancellationToken.None);
    }

    private static string Text(int i) => $"message {i}: a line of an ordinary chat, about as long as most of them are ({Base32.Encode(RandomNumberGenerator.GetBytes(5))})";

    private static ParleyNodeOptions Options(string folder) => new()
    {
        DataFolder = folder,
        Listen = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
        Chat = new ChatOptions { PublishPresence = false, RunBackgroundTasks = false },
    };
}
