using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using Xunit.Abstractions;

namespace Parley.Cli.Tests;

/// <summary>
/// kill -9 in the middle of sending: ann's node (sometimes ben's instead) is killed at a random moment while a one-shot
/// `parley send` goes through it, 30 times. Afterwards every message whose send printed an id reaches ben exactly once,
/// no other message arrives twice, and the databases are sound. Each round starts two processes: 50 rounds took close to
/// the suite's 5-minute limit for one test on a busy 2-core machine.
/// </summary>
[Collection(ChatNetworkCollection.Name)]
public sealed partial class CrashSafetyTests(ChatNetwork network, ITestOutputHelper output)
{
    private const int Rounds = 30;
    private const string SeedVariable = "PARLEY_CRASH_SEED";
    private static readonly TimeSpan Timeout = ChatNetwork.Timeout;
    private static readonly TimeSpan ConvergeTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Every_accepted_message_arrives_exactly_once_across_kill_9()
    {
        var seed = Environment.GetEnvironmentVariable(SeedVariable) is { Length: > 0 } fixedSeed
            ? int.Parse(fixedSeed, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
        output.WriteLine($"seed {seed} (to replay: {SeedVariable}={seed})");
        var random = new Random(seed);
        var clock = Stopwatch.StartNew();

        var ann = network.Folder("ann");
        var ben = network.Folder("ben");
        var initAnn = network.RunOkAsync(ann, "init", "--name", "ann");
        var initBen = network.RunOkAsync(ben, "init", "--name", "ben");
        await initAnn;
        var benHandle = (await initBen).Trim();

        ParleyProcess? annNode = null;
        ParleyProcess? benNode = null;
        Task<ParleyProcess>? benRestart = network.StartNodeAsync(ben);
        var accepted = new Dictionary<string, string>();
        var outcomes = new Dictionary<string, int>();
        try
        {
            for (var round = 0; round < Rounds; round++)
            {
                var roundClock = Stopwatch.StartNew();
                annNode ??= await network.StartNodeAsync(ann);
                var nodesUp = roundClock.ElapsedMilliseconds;
                if (benRestart is not null)
                {
                    benNode = await benRestart;
                    benRestart = null;
                }
                var text = $"crash test {round}";
                var killBen = random.Next(5) == 0;
                var delay = random.Next(0, 401);

                await using var send = ParleyProcess.Start(network.Command(ann, "send", benHandle, text));
                await Task.Delay(delay);
                if (killBen)
                {
                    benNode!.Kill();
                    benNode = await StopAsync(benNode);
                    // ann's send does not touch ben's folder: ben's node may come back while it finishes.
                    benRestart = network.StartNodeAsync(ben);
                }
                else
                {
                    annNode.Kill();
                    annNode = await StopAsync(annNode);
                }

                var exitCode = await send.WaitForExitAsync(Timeout);
                var sent = SentLine().Match(send.Stdout);
                string outcome;
                if (exitCode == 0 && sent.Success)
                {
                    accepted[text] = sent.Groups[1].Value;
                    outcome = $"accepted, {sent.Groups[2].Value}";
                }
                else
                {
                    // Refused is allowed (the node died under it), but with a message, not a crash or a hang.
                    var reason = send.Stderr.Split('\n').FirstOrDefault(l => l.StartsWith("parley: ", StringComparison.Ordinal));
                    Assert.True(exitCode != 0 && reason is not null && !send.Stderr.Contains("   at ", StringComparison.Ordinal), $"round {round}: a send that printed no id must fail with a message: {send.Describe()}");
                    outcome = "refused: " + Regex.Replace(reason!.Replace(ann, "<ann>", StringComparison.Ordinal), "[0-9]+", "N");
                }
                outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
                output.WriteLine($"round {round,2}: node up in {nodesUp,4} ms, kill {(killBen ? "ben" : "ann")} after {delay,3} ms, send done {roundClock.ElapsedMilliseconds - nodesUp,5} ms later -> {outcome}");
            }
            output.WriteLine($"{Rounds} rounds in {clock.Elapsed.TotalSeconds:0.0} s; {accepted.Count} accepted");
            foreach (var (outcome, count) in outcomes.OrderByDescending(o => o.Value))
            {
                output.WriteLine($"  {count,2} x {outcome}");
            }
            Assert.True(accepted.Count >= Rounds / 5, $"only {accepted.Count} of {Rounds} sends were accepted; the test shows little");

            // One more crash of both; SQLite must find the files as the crash left them sound.
            if (benRestart is not null)
            {
                benNode = await benRestart;
                benRestart = null;
            }
            annNode?.Kill();
            benNode?.Kill();
            annNode = await StopAsync(annNode);
            benNode = await StopAsync(benNode);
            AssertSound(ann, ben);

            // Restarted, ann's node delivers what its outbox holds; ben's history converges on every accepted message.
            annNode = await network.StartNodeAsync(ann);
            benNode = await network.StartNodeAsync(ben);
            var texts = await WaitForAsync(ben, accepted.Keys);
            foreach (var text in accepted.Keys)
            {
                Assert.True(texts.Count(t => t == text) == 1, $"'{text}' (id {accepted[text]}) arrived {texts.Count(t => t == text)} times");
            }
            foreach (var group in texts.GroupBy(t => t))
            {
                Assert.True(group.Count() == 1, $"'{group.Key}' arrived {group.Count()} times");
                Assert.Matches("^crash test [0-9]+$", group.Key);
            }
            output.WriteLine($"ben has {texts.Count} messages ({texts.Count - accepted.Count} whose send was cut off) after {clock.Elapsed.TotalSeconds:0.0} s");

            // Stopped cleanly, both nodes leave sound databases too.
            Assert.Equal(0, await annNode.TerminateAsync(Timeout));
            Assert.Equal(0, await benNode.TerminateAsync(Timeout));
            AssertSound(ann, ben);
        }
        finally
        {
            await StopAsync(annNode);
            await StopAsync(benNode);
            if (benRestart is not null)
            {
                try
                {
                    await StopAsync(await benRestart);
                }
                catch (TimeoutException)
                {
                    // It did not start (and was killed); the test failed for another reason already.
                }
            }
        }
    }

    /// <summary>Polls ben's history (through his running node, which fetches his mailbox for `inbox`) until it holds every expected text.</summary>
    private async Task<List<string>> WaitForAsync(string ben, IEnumerable<string> expected)
    {
        var deadline = Stopwatch.StartNew();
        var missing = expected.ToList();
        List<string> texts = [];
        while (true)
        {
            await network.RunOkAsync(ben, "inbox");
            var history = await network.RunJsonAsync(ben, "history", "ann", "--limit", "1000");
            texts = history.EnumerateArray()
                .Where(m => m.GetProperty("direction").GetString() == "incoming")
                .Select(m => m.GetProperty("text").GetString()!)
                .ToList();
            missing = missing.Where(t => !texts.Contains(t)).ToList();
            if (missing.Count == 0)
            {
                return texts;
            }
            if (deadline.Elapsed > ConvergeTimeout)
            {
                Assert.Fail($"after {ConvergeTimeout.TotalSeconds:0} s ben still lacks {missing.Count} accepted messages: {string.Join(", ", missing)}");
            }
            await Task.Delay(1000);
        }
    }

    /// <summary>PRAGMA integrity_check on each user's chat and mailbox database.</summary>
    private static void AssertSound(params string[] folders)
    {
        foreach (var folder in folders)
        {
            foreach (var file in new[] { "parley.db", "mailbox.db" })
            {
                var path = Path.Combine(folder, file);
                Assert.True(File.Exists(path), $"{path} is missing");
                using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ToString());
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = "PRAGMA integrity_check";
                Assert.Equal("ok", command.ExecuteScalar() as string);
            }
        }
    }

    /// <summary>Kills the process if it still runs; null, for the variable that held it.</summary>
    private static async Task<ParleyProcess?> StopAsync(ParleyProcess? process)
    {
        if (process is not null)
        {
            await process.DisposeAsync();
        }
        return null;
    }

    [GeneratedRegex("^([0-9a-f]{32}) (queued|delivered|read|stored at [0-9]+ mailbox nodes?)$", RegexOptions.Multiline)]
    private static partial Regex SentLine();
}
