using System.Security.Cryptography;

namespace Parley.Cli.Tests;

/// <summary>`parley send-file` and `parley files` through running nodes on the test network.</summary>
[Collection(ChatNetworkCollection.Name)]
public sealed class FileCliTests(ChatNetwork network)
{
    [Fact]
    public async Task A_file_sent_through_the_running_node_is_saved_whole_on_the_other_side_and_listed_on_both()
    {
        var gus = network.Folder("gus");
        var hana = network.Folder("hana");
        var initGus = network.RunOkAsync(gus, "init", "--name", "gus");
        var initHana = network.RunOkAsync(hana, "init", "--name", "hana");
        var gusHandle = (await initGus).Trim();
        var hanaHandle = (await initHana).Trim();
        await using var gusNode = await network.StartNodeAsync(gus);
        await using var hanaNode = await network.StartNodeAsync(hana);
        await network.RunOkAsync(gus, "send", hanaHandle, "a file is coming");
        await hanaNode.ReadUntilAsync($"message {gusHandle} (request): a file is coming", ChatNetwork.Timeout);
        await network.RunOkAsync(hana, "accept", gusHandle);

        var path = Path.Combine(network.Root.FullName, $"report-{Guid.NewGuid():N}.pdf");
        var bytes = RandomNumberGenerator.GetBytes(200 * 1024);
        await File.WriteAllBytesAsync(path, bytes);
        var sent = await network.RunJsonAsync(gus, "send-file", hanaHandle, path);
        Assert.Equal(Path.GetFileName(path), sent.GetProperty("name").GetString());
        Assert.Equal(bytes.Length, sent.GetProperty("size").GetInt64());
        Assert.Equal("application/pdf", sent.GetProperty("mediaType").GetString());
        var id = sent.GetProperty("id").GetString()!;

        string? savedAs = null;
        using (var deadline = new CancellationTokenSource(ChatNetwork.Timeout))
        {
            while (savedAs is null)
            {
                var file = (await network.RunJsonAsync(hana, "files")).EnumerateArray().FirstOrDefault(f => f.GetProperty("id").GetString() == id);
                savedAs = file.ValueKind == System.Text.Json.JsonValueKind.Object && file.GetProperty("state").GetString() == "complete" ? file.GetProperty("savedAs").GetString() : null;
                if (savedAs is null)
                {
                    Assert.False(deadline.IsCancellationRequested, "hana's node did not save gus's file in time");
                    await Task.Delay(500, CancellationToken.None);
                }
            }
        }
        Assert.Equal(bytes, await File.ReadAllBytesAsync(Path.Combine(hana, "files", savedAs)));
        Assert.StartsWith($"{id[..12]} received {Path.GetFileName(path)} 200 KiB complete -> files/{savedAs}", (await network.RunOkAsync(hana, "files")).Trim(), StringComparison.Ordinal);
        Assert.StartsWith($"{id[..12]} sent {Path.GetFileName(path)} 200 KiB", (await network.RunOkAsync(gus, "files")).Trim(), StringComparison.Ordinal);

        Assert.Contains("no file", await network.RunFailingAsync(gus, "send-file", hanaHandle, path + ".missing"), StringComparison.Ordinal);
    }
}
