using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

/// <summary>
/// A direct file transfer between two `parley node` processes cut by kill -9 of the recipient, then of the sender, in
/// the middle: each time the killed node comes back, the transfer completes with the same SHA-256, and what the
/// recipient had recorded as held is not fetched again (its fetch asks only for the rest, and the sender serves only
/// the rest). The sender serves at 2 MiB/s (`--upload-rate`) so that a kill lands midway.
/// </summary>
[Collection(ChatNetworkCollection.Name)]
public sealed partial class FileResumeTests(ChatNetwork network)
{
    private const int Chunks = 32;
    private const int ChunkSize = 256 * 1024;
    private const string UploadRate = "2097152";

    [Fact]
    public async Task A_transfer_cut_by_kill_9_of_either_side_completes_identical_without_fetching_held_chunks_again()
    {
        var ann = network.Folder("ann");
        var ben = network.Folder("ben");
        var initAnn = network.RunOkAsync(ann, "init", "--name", "ann");
        var initBen = network.RunOkAsync(ben, "init", "--name", "ben");
        var annHandle = (await initAnn).Trim();
        var benHandle = (await initBen).Trim();
        var annNode = await StartNodeAsync(ann);
        var benNode = await StartNodeAsync(ben);
        try
        {
            await network.RunOkAsync(ann, "send", benHandle, "files are coming");
            await benNode.ReadUntilAsync($"message {annHandle} (request): files are coming", ChatNetwork.Timeout);
            await network.RunOkAsync(ben, "accept", annHandle);

            // The recipient is killed midway and comes back: it asks the sender for what it lacks.
            var (first, firstBytes) = await SendAsync(ann, benHandle);
            var heldAtKill = await ReadHeldAsync(benNode, first);
            benNode.Kill();
            await benNode.DisposeAsync();
            benNode = await StartNodeAsync(ben);
            await benNode.ReadUntilAsync($"file {first} received complete", ChatNetwork.Timeout);
            var resumed = ResumedFetch(benNode.Stderr, first);
            Assert.True(resumed.Held * ChunkSize >= heldAtKill, $"the fetch resumed with {resumed.Held} chunks, fewer than the {heldAtKill} bytes recorded before the kill: {benNode.Describe()}");
            Assert.Equal(Chunks - resumed.Held, resumed.Asked);
            // The sender's one complete serve of this file (the cut one did not complete) held only the rest.
            Assert.Equal([Chunks - resumed.Held], await ServedAsync(annNode, first));
            await AssertSavedAsync(ben, first, firstBytes);

            // The sender is killed midway and comes back; the recipient is told to look for it again.
            var (second, secondBytes) = await SendAsync(ann, benHandle);
            await ReadHeldAsync(benNode, second);
            annNode.Kill();
            await annNode.DisposeAsync();
            annNode = await StartNodeAsync(ann);
            await network.RunOkAsync(ben, "files", "fetch", second);
            await benNode.ReadUntilAsync($"file {second} received complete", ChatNetwork.Timeout);
            var afterSender = ResumedFetch(benNode.Stderr, second);
            Assert.Equal(Chunks - afterSender.Held, afterSender.Asked);
            // The restarted sender served only what the recipient still lacked.
            Assert.Equal([Chunks - afterSender.Held], await ServedAsync(annNode, second));
            await AssertSavedAsync(ben, second, secondBytes);
        }
        finally
        {
            await annNode.DisposeAsync();
            await benNode.DisposeAsync();
        }
    }

    /// <summary>`parley node` on a user's folder, logging what it fetches and serves, serving files at 2 MiB/s.</summary>
    private async Task<ParleyProcess> StartNodeAsync(string data)
    {
        var node = ParleyProcess.Start(
            ["--data", data, "--name-difficulty", ChatNetwork.NameDifficulty, "--log-level", "Information", .. network.BootstrapArguments(), "node", "--listen", ChatNetwork.Loopback, "--upload-rate", UploadRate]);
        try
        {
            await ChatNetwork.WaitForApiAsync(node);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    private async Task<(string Id, byte[] Bytes)> SendAsync(string from, string to)
    {
        var bytes = RandomNumberGenerator.GetBytes(Chunks * ChunkSize);
        var path = Path.Combine(network.Root.FullName, $"video-{Guid.NewGuid():N}.bin");
        await File.WriteAllBytesAsync(path, bytes);
        var sent = await network.RunJsonAsync(from, "send-file", to, path);
        return (sent.GetProperty("id").GetString()!, bytes);
    }

    /// <summary>Waits until the recipient's node says it has recorded some of the file, not all; returns those bytes.</summary>
    private static async Task<long> ReadHeldAsync(ParleyProcess node, string id)
    {
        var line = await node.ReadUntilAsync(
            l => FileLine().Match(l) is { Success: true } m && m.Groups["id"].Value == id && long.Parse(m.Groups["held"].Value, CultureInfo.InvariantCulture) > 0,
            ChatNetwork.Timeout,
            $"part of file {id} held");
        var match = FileLine().Match(line);
        var held = long.Parse(match.Groups["held"].Value, CultureInfo.InvariantCulture);
        Assert.True(held < long.Parse(match.Groups["size"].Value, CultureInfo.InvariantCulture), $"the file was whole before the kill: {line}");
        return held;
    }

    /// <summary>The recipient's last fetch of the file after a restart: the chunks it held and asked for, from its log.</summary>
    private static (int Held, int Asked) ResumedFetch(string log, string id)
    {
        var fetches = FetchLine().Matches(log).Where(m => m.Groups["id"].Value == id[..8]).ToList();
        Assert.True(fetches.Count > 0, $"no fetch of {id} logged:\n{log}");
        var last = fetches[^1];
        var held = int.Parse(last.Groups["held"].Value, CultureInfo.InvariantCulture);
        Assert.Equal(Chunks, int.Parse(last.Groups["count"].Value, CultureInfo.InvariantCulture));
        Assert.InRange(held, 1, Chunks - 1);
        return (held, int.Parse(last.Groups["asked"].Value, CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// How many chunks of the file each complete serve of the sender's node held, from its log, once it logged one: the
    /// sender logs a serve when its stream ends, which can be after the recipient already said the file is complete.
    /// </summary>
    private static async Task<List<int>> ServedAsync(ParleyProcess node, string id)
    {
        var deadline = DateTime.UtcNow + ChatNetwork.Timeout;
        while (true)
        {
            var served = ServedLine().Matches(node.Stderr).Where(m => m.Groups["id"].Value == id[..8]).Select(m => int.Parse(m.Groups["chunks"].Value, CultureInfo.InvariantCulture)).ToList();
            if (served.Count > 0 || DateTime.UtcNow > deadline)
            {
                return served;
            }
            await Task.Delay(100);
        }
    }

    private async Task AssertSavedAsync(string data, string id, byte[] bytes)
    {
        var file = (await network.RunJsonAsync(data, "files")).EnumerateArray().Single(f => f.GetProperty("id").GetString() == id);
        Assert.Equal("complete", file.GetProperty("state").GetString());
        var saved = await File.ReadAllBytesAsync(Path.Combine(data, "files", file.GetProperty("savedAs").GetString()!));
        Assert.Equal(SHA256.HashData(bytes), SHA256.HashData(saved));
    }

    [GeneratedRegex(@"^file (?<id>[0-9a-f]{64}) received \w+ held (?<held>\d+)/(?<size>\d+)")]
    private static partial Regex FileLine();

    [GeneratedRegex(@"fetching file (?<id>[0-9a-f]{8}) from \S+: (?<held>\d+) of (?<count>\d+) chunks held, asking for (?<asked>\d+)")]
    private static partial Regex FetchLine();

    [GeneratedRegex(@"served (?<chunks>\d+) chunks of file (?<id>[0-9a-f]{8}) to ")]
    private static partial Regex ServedLine();
}
