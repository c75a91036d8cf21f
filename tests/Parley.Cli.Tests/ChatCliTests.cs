using System.Text.Json;
using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

/// <summary>
/// The one-shot chat commands (`init`, `whoami`, `find`, `send`, `inbox`, `history`, `contacts`, `accept`, `block`,
/// `safety-number`) as a user runs them, against the five-node test network: each command starts a short-lived node
/// on the user's data folder, or goes through the node already running there.
/// </summary>
[Collection(ChatNetworkCollection.Name)]
public sealed partial class ChatCliTests(ChatNetwork network)
{
    [Fact]
    public async Task Two_users_talk_through_mailboxes_with_one_shot_commands()
    {
        var alice = network.Folder("alice");
        var bob = network.Folder("bob");

        // init: the handle on stdout (text), or handle, account and how many nodes stored the name (JSON).
        var initAlice = network.RunOkAsync(alice, "init", "--name", "alice");
        var initBob = network.RunJsonAsync(bob, "init", "--name", "bob");
        var aliceHandle = (await initAlice).Trim();
        Assert.Matches(HandlePattern("alice"), aliceHandle);
        var bobInit = await initBob;
        var bobHandle = bobInit.GetProperty("handle").GetString()!;
        var bobAccount = bobInit.GetProperty("account").GetString()!;
        Assert.Matches(HandlePattern("bob"), bobHandle);
        Assert.StartsWith("12D3KooW", bobAccount, StringComparison.Ordinal);
        Assert.True(bobInit.GetProperty("nameStoredAt").GetInt32() > 0, bobInit.ToString());

        // whoami: handle, account, device.
        var whoami = Lines(await network.RunOkAsync(alice, "whoami"));
        Assert.Equal(3, whoami.Length);
        Assert.Equal(aliceHandle, whoami[0]);
        Assert.Matches("^account 12D3KooW[1-9A-HJ-NP-Za-km-z]+$", whoami[1]);
        Assert.Matches("^device  12D3KooW[1-9A-HJ-NP-Za-km-z]+$", whoami[2]);
        var whoamiJson = await network.RunJsonAsync(bob, "whoami");
        Assert.Equal(bobHandle, whoamiJson.GetProperty("handle").GetString());
        Assert.Equal(bobAccount, whoamiJson.GetProperty("account").GetString());
        Assert.NotEqual(bobAccount, whoamiJson.GetProperty("device").GetString());

        // find: by name (every holder) and by handle (exactly that user); nobody is an error.
        Assert.Equal([$"{bobHandle} {bobAccount}"], Lines(await network.RunOkAsync(alice, "find", "bob")));
        var found = await network.RunJsonAsync(alice, "find", bobHandle);
        Assert.Equal(bobHandle, Assert.Single(found.EnumerateArray()).GetProperty("handle").GetString());
        Assert.Contains("nobody called zed-nobody was found", await network.RunFailingAsync(alice, "find", "zed-nobody"), StringComparison.Ordinal);

        // alice writes while bob runs no node: the request waits in bob's mailbox.
        var sent = SentLine().Match(await network.RunOkAsync(alice, "send", bobHandle, "hi"));
        Assert.True(sent.Success, "send should print '<id> stored at N mailbox nodes'");
        Assert.True(int.Parse(sent.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) > 0);
        var hiId = sent.Groups[1].Value;

        // bob fetches it as a contact request; a second inbox has nothing new.
        Assert.Equal([$"request from {aliceHandle}: hi   (accept with: parley accept {aliceHandle})"], Lines(await network.RunOkAsync(bob, "inbox")));
        Assert.Empty((await network.RunJsonAsync(bob, "inbox")).EnumerateArray());
        Assert.Equal([$"{aliceHandle} pending"], Lines(await network.RunOkAsync(bob, "contacts")));

        // bob accepts and answers.
        var accepted = await network.RunJsonAsync(bob, "accept", "alice");
        Assert.Equal(aliceHandle, accepted.GetProperty("handle").GetString());
        Assert.Equal("accepted", accepted.GetProperty("state").GetString());
        var hello = await network.RunJsonAsync(bob, "send", "alice", "hello");
        Assert.Equal(aliceHandle, hello.GetProperty("to").GetString());
        Assert.Equal("stored", hello.GetProperty("state").GetString());
        Assert.True(hello.GetProperty("storedAt").GetInt32() > 0, hello.ToString());
        var helloId = hello.GetProperty("id").GetString()!;

        // alice's inbox: bob's answer (and, unseen, his delivery receipt for "hi" and his acceptance).
        Assert.Equal([$"{bobHandle}: hello"], Lines(await network.RunOkAsync(alice, "inbox")));
        Assert.Empty((await network.RunJsonAsync(alice, "inbox")).EnumerateArray());

        // history on both sides: the same causal order, each side's view of the states.
        Assert.Equal(["me: hi   [delivered]", $"{bobHandle}: hello"], Lines(await network.RunOkAsync(alice, "history", "bob")));
        Assert.Equal([$"{aliceHandle}: hi", "me: hello   [stored at " + hello.GetProperty("storedAt").GetInt32() + " mailbox nodes]"], Lines(await network.RunOkAsync(bob, "history", aliceHandle)));
        var history = (await network.RunJsonAsync(bob, "history", "alice")).EnumerateArray().ToList();
        Assert.Equal([hiId, helloId], history.Select(m => m.GetProperty("id").GetString()));
        Assert.Equal(["incoming", "outgoing"], history.Select(m => m.GetProperty("direction").GetString()));
        Assert.Equal([aliceHandle, bobHandle], history.Select(m => m.GetProperty("from").GetString()));
        Assert.True(history[0].GetProperty("request").GetBoolean());
        Assert.True(history[0].GetProperty("lamport").GetUInt64() < history[1].GetProperty("lamport").GetUInt64(), "the answer comes after the request");

        // contacts, both sides accepted; the same safety number on both sides.
        var contacts = (await network.RunJsonAsync(alice, "contacts")).EnumerateArray().ToList();
        Assert.Equal([(bobHandle, bobAccount, "accepted")], contacts.Select(c => (c.GetProperty("handle").GetString(), c.GetProperty("account").GetString(), c.GetProperty("state").GetString())));
        var aliceNumber = (await network.RunOkAsync(alice, "safety-number", "bob")).Trim();
        Assert.Matches("^[0-9]{5}( [0-9]{5}){11}$", aliceNumber);
        var bobNumber = await network.RunJsonAsync(bob, "safety-number", "alice");
        Assert.Equal(aliceHandle, bobNumber.GetProperty("contact").GetString());
        Assert.Equal(aliceNumber.Replace(" ", "", StringComparison.Ordinal), bobNumber.GetProperty("safetyNumber").GetString());

        // Errors: a stranger's history, a send to nobody.
        Assert.Contains("'carol' is not among your contacts or requests", await network.RunFailingAsync(alice, "history", "carol"), StringComparison.Ordinal);
        Assert.Contains("nobody called zed-nobody was found", await network.RunFailingAsync(alice, "send", "zed-nobody", "anyone there?"), StringComparison.Ordinal);

        // block: nothing more goes to bob.
        Assert.Equal([$"{bobHandle} blocked"], Lines(await network.RunOkAsync(alice, "block", "bob")));
        var blocked = Assert.Single((await network.RunJsonAsync(alice, "contacts")).EnumerateArray());
        Assert.Equal("blocked", blocked.GetProperty("state").GetString());
        Assert.Contains($"you blocked {bobHandle}", await network.RunFailingAsync(alice, "send", "bob", "one more"), StringComparison.Ordinal);
        var blockedJson = await network.RunJsonAsync(alice, "block", bobHandle);
        Assert.Equal("blocked", blockedJson.GetProperty("state").GetString());
    }

    [Fact]
    public async Task One_shot_commands_go_through_the_running_node_and_deliver_directly()
    {
        var dave = network.Folder("dave");
        var erin = network.Folder("erin");
        var initDave = network.RunOkAsync(dave, "init", "--name", "dave");
        var initErin = network.RunOkAsync(erin, "init", "--name", "erin");
        var daveHandle = (await initDave).Trim();
        var erinHandle = (await initErin).Trim();

        await using var daveNode = await network.StartNodeAsync(dave);
        await using var erinNode = await network.StartNodeAsync(erin);

        // The node holds the data folder: another node cannot start on it, but one-shot commands use its API.
        var (lockedExit, _, lockedErr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, network.Command(dave, "init", "--name", "dave2"));
        Assert.True(lockedExit != 0 && lockedErr.Contains("another parley process is using", StringComparison.Ordinal), lockedErr);
        Assert.Equal(daveHandle, Lines(await network.RunOkAsync(dave, "whoami"))[0]);
        var status = await network.RunOkAsync(dave, "status");
        Assert.Matches("connections [0-9]+ in, [0-9]+ out", status);
        Assert.Contains("refused ", status, StringComparison.Ordinal);

        // erin's one-shot send goes through her node, which delivers straight to dave's node.
        var sent = DeliveredLine().Match(await network.RunOkAsync(erin, "send", daveHandle, "hello dave, directly"));
        Assert.True(sent.Success, $"the send should be delivered directly:\n{sent.Value}");
        var id = sent.Groups[1].Value;
        await erinNode.ReadUntilAsync($"state {id} delivered", ChatNetwork.Timeout);
        await daveNode.ReadUntilAsync($"message {erinHandle} (request): hello dave, directly", ChatNetwork.Timeout);
        var request = Assert.Single((await network.RunJsonAsync(dave, "inbox")).EnumerateArray());
        Assert.Equal((id, erinHandle, "hello dave, directly", true), (request.GetProperty("id").GetString(), request.GetProperty("from").GetString(), request.GetProperty("text").GetString(), request.GetProperty("request").GetBoolean()));

        // dave accepts and answers through his node; both histories show both messages delivered.
        Assert.Equal("accepted", (await network.RunJsonAsync(dave, "accept", "erin")).GetProperty("state").GetString());
        var answer = await network.RunJsonAsync(dave, "send", "erin", "hi erin");
        Assert.Equal("delivered", answer.GetProperty("state").GetString());
        await erinNode.ReadUntilAsync($"message {daveHandle}: hi erin", ChatNetwork.Timeout);
        var history = (await network.RunJsonAsync(erin, "history", "dave")).EnumerateArray().ToList();
        Assert.Equal([("hello dave, directly", "outgoing"), ("hi erin", "incoming")], history.Select(m => (m.GetProperty("text").GetString(), m.GetProperty("direction").GetString())));
        Assert.Contains(history[0].GetProperty("state").GetString(), (string[])["delivered", "read"]);
        Assert.Equal([$"{daveHandle} accepted"], Lines(await network.RunOkAsync(erin, "contacts")));

        // Stopped with SIGTERM, the nodes exit cleanly and release their folders.
        Assert.Equal(0, await daveNode.TerminateAsync(ChatNetwork.Timeout));
        Assert.Equal(0, await erinNode.TerminateAsync(ChatNetwork.Timeout));
        Assert.Equal(["me: hello dave, directly   [delivered]", $"{daveHandle}: hi erin"], Lines(await network.RunOkAsync(erin, "history", "dave")).Select(l => l.Replace("[read]", "[delivered]", StringComparison.Ordinal)));
    }

    /// <summary>An existing world-writable folder and a umask of 000: everything Parley writes is still 0600 and every
    /// folder 0700, while the node runs (databases with their -wal files, keys, API files; SQLite's exclusive locking leaves no -shm file) and after it stops
    /// (the saved routing table).</summary>
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Every_file_is_the_owners_only_whatever_the_umask()
    {
        var frank = network.Folder("frank");
        Directory.CreateDirectory(frank);
        File.SetUnixFileMode(frank, (UnixFileMode)0b111_111_111);
        await using (var init = ParleyProcess.StartWithUmask("000", network.Command(frank, "init", "--name", "frank")))
        {
            Assert.True(await init.WaitForExitAsync(ChatNetwork.Timeout) == 0, init.Describe());
        }
        await using (var node = await network.StartNodeAsync(frank, umask: "000"))
        {
            var running = OwnerOnlyViolations(frank);
            Assert.True(running.Count == 0, string.Join('\n', running));
            Assert.All(new[] { "node.key", "parley.db", "parley.db-wal", "mailbox.db", "api-token", "api-port" }, name => Assert.True(File.Exists(Path.Combine(frank, name)), $"{name} is missing"));
            Assert.Equal(0, await node.TerminateAsync(ChatNetwork.Timeout));
        }
        Assert.True(File.Exists(Path.Combine(frank, "routing-table.json")), "the routing table is saved on exit");
        var stopped = OwnerOnlyViolations(frank);
        Assert.True(stopped.Count == 0, string.Join('\n', stopped));
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static List<string> OwnerOnlyViolations(string folder)
    {
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        const UnixFileMode directory = file | UnixFileMode.UserExecute;
        return new DirectoryInfo(folder).EnumerateFileSystemInfos("*", SearchOption.AllDirectories).Prepend(new DirectoryInfo(folder))
            .Where(entry => entry.UnixFileMode != (entry is DirectoryInfo ? directory : file))
            .Select(entry => $"{entry.FullName} is {Convert.ToString((int)entry.UnixFileMode, 8)}")
            .ToList();
    }

    [Fact]
    public async Task Commands_without_an_identity_or_a_network_fail_clearly()
    {
        var empty = network.Folder("empty");
        var deadBootstrap = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";

        // No identity: every chat command says how to make one.
        foreach (var command in new[] { new[] { "whoami" }, ["history", "bob"], ["send", "bob", "hi"], ["inbox"] })
        {
            var (exitCode, _, stderr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, ["--data", empty, .. command, "--listen", ChatNetwork.Loopback]);
            Assert.True(exitCode != 0, $"{string.Join(' ', command)} without an identity exited 0");
            Assert.Contains($"no identity in {empty}; create one with: parley init --name <name>", stderr, StringComparison.Ordinal);
        }

        // The same through a node running on the folder without an identity.
        await using (var node = ParleyProcess.Start("--data", empty, "node", "--listen", ChatNetwork.Loopback))
        {
            await ChatNetwork.WaitForApiAsync(node);
            var (whoamiExit, _, whoamiErr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, "--data", empty, "whoami", "--listen", ChatNetwork.Loopback);
            Assert.True(whoamiExit != 0 && whoamiErr.Contains($"no identity in {empty}", StringComparison.Ordinal), whoamiErr);
            var (sendExit, _, sendErr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, "--data", empty, "send", "bob", "hi", "--listen", ChatNetwork.Loopback);
            Assert.True(sendExit != 0 && sendErr.Contains("this node has no identity yet; create one with: parley init --name <name>", StringComparison.Ordinal), sendErr);
            Assert.Equal(0, await node.TerminateAsync(ChatNetwork.Timeout));
        }

        // A bad name, then an identity made offline: init works, warns that the name is not claimed yet.
        var (badExit, _, badErr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, "--data", empty, "init", "--name", "Not Valid!", "--listen", ChatNetwork.Loopback);
        Assert.NotEqual(0, badExit);
        Assert.Contains("'Not Valid!' cannot be a name", badErr, StringComparison.Ordinal);
        var (initExit, initOut, initErr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, "--data", empty, "--name-difficulty", ChatNetwork.NameDifficulty, "init", "--name", "loner", "--listen", ChatNetwork.Loopback);
        Assert.True(initExit == 0, initErr);
        Assert.Matches(HandlePattern("loner"), initOut.Trim());
        Assert.Contains("not on a network yet", initErr, StringComparison.Ordinal);
        var (againExit, _, againErr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, "--data", empty, "init", "--name", "loner", "--listen", ChatNetwork.Loopback);
        Assert.NotEqual(0, againExit);
        Assert.Contains("already has an identity", againErr, StringComparison.Ordinal);

        // No bootstrap peer reachable (and no saved routing table): the commands that need the network say so.
        foreach (var command in new[] { new[] { "send", "bob", "hi" }, ["find", "bob"], ["inbox"] })
        {
            var (exitCode, _, stderr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, ["--data", empty, "--bootstrap", deadBootstrap, .. command, "--listen", ChatNetwork.Loopback]);
            Assert.True(exitCode != 0, $"{string.Join(' ', command)} without a network exited 0");
            Assert.Contains("cannot reach the network: no bootstrap peer answered", stderr, StringComparison.Ordinal);
        }

        // Commands that need no network still work offline.
        var contacts = await ParleyProcess.RunAsync(ChatNetwork.Timeout, "--data", empty, "contacts", "--json", "--listen", ChatNetwork.Loopback);
        Assert.True(contacts.ExitCode == 0, contacts.Stderr);
        Assert.Equal("[]", contacts.Stdout.Trim());
    }

    internal static string[] Lines(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    internal static string HandlePattern(string name) => $"^{name}#[a-z2-7]{{8}}$";

    [GeneratedRegex("^([0-9a-f]{32}) stored at ([0-9]+) mailbox nodes?$", RegexOptions.Multiline)]
    private static partial Regex SentLine();

    [GeneratedRegex("^([0-9a-f]{32}) delivered$", RegexOptions.Multiline)]
    private static partial Regex DeliveredLine();
}
