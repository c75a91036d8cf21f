using Microsoft.Data.Sqlite;

namespace Parley.Cli.Tests;

/// <summary>Ctrl-C stops `parley node` and `parley up` cleanly: the databases are closed, the folder released.</summary>
public sealed class SignalTests : IDisposable
{
    private static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan CleanExit = TimeSpan.FromSeconds(5);
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("parley-signal-test-");

    public void Dispose() => _data.Delete(recursive: true);

    [Theory]
    [InlineData("node", 1)]
    [InlineData("node", 2)]
    [InlineData("up", 1)]
    [InlineData("up", 2)]
    public async Task Ctrl_c_stops_cleanly_within_five_seconds(string command, int presses)
    {
        await using var parley = ParleyProcess.Start(command == "up"
            ? ["--data", _data.FullName, "--name-difficulty", "8", "up", "--no-mdns", "--name", "sigrid", "--listen", "/ip4/127.0.0.1/tcp/0"]
            : ["--data", _data.FullName, "node", "--listen", "/ip4/127.0.0.1/tcp/0"]);
        // Ready: the node serves its API (`up` then waits for a line on its stdin, which stays open).
        await parley.ReadUntilAsync(command == "up" ? "type /help for commands" : "api http://127.0.0.1:", Startup);

        for (var i = 0; i < presses; i++)
        {
            await parley.SignalAsync("INT");
        }
        Assert.Equal(0, await parley.WaitForExitAsync(CleanExit));

        // Closed cleanly: the last connection to each database checkpointed and removed its write-ahead log, the lock
        // and the API's port file are gone, and SQLite finds the files sound.
        var left = _data.GetFiles().Select(f => f.Name).ToList();
        Assert.DoesNotContain("parley.db-wal", left);
        Assert.DoesNotContain("mailbox.db-wal", left);
        Assert.DoesNotContain("node.lock", left);
        Assert.DoesNotContain("api-port", left);
        foreach (var database in new[] { "mailbox.db", "parley.db" }.Where(left.Contains))
        {
            await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_data.FullName, database), Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
            await connection.OpenAsync();
            await using var check = connection.CreateCommand();
            check.CommandText = "PRAGMA integrity_check";
            Assert.Equal("ok", await check.ExecuteScalarAsync());
        }
        Assert.DoesNotContain("Exception", parley.Stderr, StringComparison.Ordinal);
    }
}
