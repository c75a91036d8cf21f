using System.Text.Json;

namespace Parley.Cli.Tests;

/// <summary>`parley demo`: a whole network and three users in one process, no setup.</summary>
[Collection(ChatNetworkCollection.Name)]
public sealed class DemoTests
{
    [Fact]
    public async Task Demo_loses_and_duplicates_nothing()
    {
        var (exitCode, stdout, stderr) = await ParleyProcess.RunAsync(TimeSpan.FromSeconds(120), "demo", "--json");
        Assert.True(exitCode == 0, $"demo exited {exitCode}\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}");
        using var summary = JsonDocument.Parse(stdout);
        var root = summary.RootElement;
        Assert.True(root.GetProperty("sent").GetInt32() > 0, stdout);
        Assert.Equal(0, root.GetProperty("lost").GetInt32());
        Assert.Equal(0, root.GetProperty("duplicated").GetInt32());
        Assert.Equal(root.GetProperty("sent").GetInt32(), root.GetProperty("delivered").GetInt32());
    }
}
