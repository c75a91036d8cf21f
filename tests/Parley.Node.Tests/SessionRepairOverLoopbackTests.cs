using System.Net.Http.Json;
using Parley.Node.Api;
using Parley.Node.Tests.Api;

namespace Parley.Node.Tests;

/// <summary>
/// Issue 12's restored backup, with whole nodes on loopback and the users' local APIs: bob's data folder is put back to
/// a copy taken before a conversation went on, so his sessions with alice are behind hers. Once the restored side
/// writes, once the other side writes to it; each time both recover within a minute, both are told on the event
/// stream (what the web UI and the terminal show), and every message written after the restore arrives exactly once.
/// </summary>
public sealed class SessionRepairOverLoopbackTests : IAsyncLifetime
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly LoopbackNetwork _network = new();
    private readonly List<IAsyncDisposable> _open = [];
    private ApiUser _alice = null!;
    private ApiUser _bob = null!;

    public async Task InitializeAsync()
    {
        await _network.StartNodesAsync(6);
        _alice = await StartAsync("alice");
        _bob = await StartAsync("bob");
    }

    public async Task DisposeAsync()
    {
        foreach (var open in _open)
        {
            await open.DisposeAsync();
        }
        await _network.DisposeAsync();
    }

    [Fact]
    public async Task After_a_restored_backup_both_directions_recover_within_a_minute_with_a_notice_and_nothing_lost_or_doubled()
    {
        await _alice.PostAsync<MessageDto>("/api/messages", new SendRequest(_bob.Handle, "hello bob"));
        await WaitForAsync(_bob, "alice", "hello bob");
        await TalkAsync("before the backup");
        await StopAsync(_bob);
        var backup = _network.FolderOf("bob-backup");
        CopyFolder(_network.FolderOf("bob"), backup);
        _bob = await StartAsync("bob");
        await TalkAsync("after the backup");
        var safetyNumber = (await _alice.GetAsync<SafetyNumberDto>("/api/safety-number/bob")).SafetyNumber;

        // The restored side writes: alice cannot decrypt, asks; bob starts a new session and resends.
        await RestoreBobAsync(backup);
        await AssertRepairedAsync(_bob, _alice, "from restored bob");

        // The other side writes to the restored one: bob cannot decrypt, asks; alice starts a new session and resends.
        await RestoreBobAsync(backup);
        await AssertRepairedAsync(_alice, _bob, "to restored bob");

        // The identity keys did not change, so neither did the safety number; and the repaired sessions carry on.
        Assert.Equal(safetyNumber, (await _alice.GetAsync<SafetyNumberDto>("/api/safety-number/bob")).SafetyNumber);
        Assert.Equal(safetyNumber, (await _bob.GetAsync<SafetyNumberDto>("/api/safety-number/alice")).SafetyNumber);
        await TalkAsync("after the repairs");
    }

    /// <summary>
    /// The writer sends three messages to the reader, whose copy of their session differs: within the recovery time the
    /// reader is told it asked for a new session, the writer that it reset the session and resent, and the reader has
    /// each message exactly once.
    /// </summary>
    private static async Task AssertRepairedAsync(ApiUser writer, ApiUser reader, string what)
    {
        await using var writerEvents = await EventLog.ConnectAsync(writer);
        await using var readerEvents = await EventLog.ConnectAsync(reader);
        await SendThreeAsync(writer, NameOf(reader), what);
        var asked = await readerEvents.WaitForAsync(e => e.Session?.Kind == "requested", $"{reader.Handle} is told a message could not be read", Recovery);
        Assert.Equal(("session", writer.Handle), (asked.Type, asked.Session!.Contact));
        Assert.Contains("could not be decrypted", asked.Session.Notice, StringComparison.Ordinal);
        var restarted = await writerEvents.WaitForAsync(e => e.Session?.Kind == "restarted", $"{writer.Handle} is told the session was reset", Recovery);
        Assert.Equal(("session", reader.Handle), (restarted.Type, restarted.Session!.Contact));
        Assert.InRange(restarted.Session.Resent, 1, 3);
        Assert.Contains("was reset", restarted.Session.Notice, StringComparison.Ordinal);
        await AssertArrivedOnceAsync(writer, reader, what);
    }

    private static string NameOf(ApiUser user) => user.Handle.Split('#')[0];

    private async Task<ApiUser> StartAsync(string name)
    {
        var user = await ApiUser.StartAsync(await _network.StartUserAsync(name));
        _open.Add(user);
        return user;
    }

    private async Task StopAsync(ApiUser user)
    {
        _open.Remove(user);
        await user.DisposeAsync();
        await _network.StopAsync(user.Node);
    }

    /// <summary>Stops bob, puts his data folder back as it was in <paramref name="backup"/>, and starts him on it.</summary>
    private async Task RestoreBobAsync(string backup)
    {
        await StopAsync(_bob);
        Directory.Delete(_network.FolderOf("bob"), recursive: true);
        CopyFolder(backup, _network.FolderOf("bob"));
        _bob = await StartAsync("bob");
    }

    /// <summary>Alice and bob write in turns, each waiting for the other's message, so both ratchets take steps.</summary>
    private async Task TalkAsync(string what)
    {
        for (var i = 0; i < 3; i++)
        {
            await _alice.PostAsync<MessageDto>("/api/messages", new SendRequest("bob", $"{what}: alice {i}"));
            await WaitForAsync(_bob, "alice", $"{what}: alice {i}");
            await _bob.PostAsync<MessageDto>("/api/messages", new SendRequest("alice", $"{what}: bob {i}"));
            await WaitForAsync(_alice, "bob", $"{what}: bob {i}");
        }
    }

    private static async Task SendThreeAsync(ApiUser from, string to, string what)
    {
        for (var i = 0; i < 3; i++)
        {
            await from.PostAsync<MessageDto>("/api/messages", new SendRequest(to, $"{what} {i}"));
        }
    }

    /// <summary>Waits until <paramref name="user"/> has <paramref name="text"/> from <paramref name="from"/> (who may not be a contact yet).</summary>
    private static Task WaitForAsync(ApiUser user, string from, string text) => LoopbackNetwork.WaitUntilAsync(
        async () =>
        {
            using var response = await user.Http.GetAsync($"/api/messages/{from}?limit=200");
            return response.IsSuccessStatusCode && (await response.Content.ReadFromJsonAsync<List<MessageDto>>(ApiUser.Json))!.Any(m => m.Text == text);
        },
        Patience,
        $"{user.Handle} has \"{text}\"");

    /// <summary>Within the recovery time, the three messages are delivered and the recipient has each of them exactly once.</summary>
    private static async Task AssertArrivedOnceAsync(ApiUser from, ApiUser to, string what)
    {
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await from.GetAsync<List<MessageDto>>($"/api/messages/{NameOf(to)}?limit=200")).Count(m => m.Text.StartsWith(what, StringComparison.Ordinal) && m.State == "delivered") == 3,
            Recovery,
            $"all three \"{what}\" are delivered");
        var received = (await to.GetAsync<List<MessageDto>>($"/api/messages/{NameOf(from)}?limit=200")).Where(m => m.Text.StartsWith(what, StringComparison.Ordinal)).ToList();
        Assert.Equal(Enumerable.Range(0, 3).Select(i => $"{what} {i}"), received.Select(m => m.Text).Order(StringComparer.Ordinal));
        Assert.Equal(3, received.Select(m => m.Id).Distinct().Count());
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
