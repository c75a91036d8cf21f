namespace Parley.Cli.Tests;

/// <summary>`parley device link` on a running node and `parley device add` on an empty folder, as real processes.</summary>
[Collection(ChatNetworkCollection.Name)]
public sealed class DeviceLinkCliTests(ChatNetwork network)
{
    [Fact]
    public async Task A_linked_device_is_the_same_account_with_its_contacts_and_bad_codes_are_refused()
    {
        var (alice, bob, laptop) = (network.Folder("alice"), network.Folder("bob"), network.Folder("laptop"));
        await network.RunOkAsync(alice, "init", "--name", "linda");
        var bobHandle = (await network.RunOkAsync(bob, "init", "--name", "boris")).Trim();
        await network.RunOkAsync(alice, "send", bobHandle, "hi bob");
        Assert.Contains("not a link code", await network.RunFailingAsync(laptop, "device", "add", "parley-link:abcdefgh"), StringComparison.Ordinal);
        Assert.Contains("start it first", (await ParleyProcess.RunAsync(ChatNetwork.Timeout, "--data", alice, "device", "link")).Stderr, StringComparison.Ordinal);

        await using var node = await network.StartNodeAsync(alice);
        var code = await LinkAsync(alice, laptop, confirm: true);

        var (aliceWhoami, laptopWhoami) = (await network.RunJsonAsync(alice, "whoami"), await network.RunJsonAsync(laptop, "whoami"));
        Assert.Equal(aliceWhoami.GetProperty("handle").GetString(), laptopWhoami.GetProperty("handle").GetString());
        Assert.Equal(aliceWhoami.GetProperty("account").GetString(), laptopWhoami.GetProperty("account").GetString());
        Assert.NotEqual(aliceWhoami.GetProperty("device").GetString(), laptopWhoami.GetProperty("device").GetString());
        Assert.Equal([$"{bobHandle} requested"], ChatCliTests.Lines(await network.RunOkAsync(laptop, "contacts")));
        var devices = ChatCliTests.Lines(await network.RunOkAsync(alice, "device", "list"));
        Assert.Equal(2, devices.Length);
        Assert.Contains(devices, d => d.Contains(laptopWhoami.GetProperty("device").GetString()!, StringComparison.Ordinal) && d.Contains("laptop", StringComparison.Ordinal));
        Assert.Contains(devices, d => d.StartsWith('*') && d.Contains("(this device)", StringComparison.Ordinal));

        // The code is spent; another empty folder is refused with the reason.
        var (exitCode, _, stderr) = await ParleyProcess.RunAsync(ChatNetwork.Timeout, network.Command(network.Folder("phone"), "device", "add", code));
        Assert.Equal(1, exitCode);
        Assert.Contains("this link code was already used", stderr, StringComparison.Ordinal);

        // The laptop is lost: alice removes it; it is gone from the list, and a device cannot remove itself.
        var laptopDevice = laptopWhoami.GetProperty("device").GetString()!;
        Assert.Contains("cannot remove itself", await network.RunFailingAsync(alice, "device", "remove", aliceWhoami.GetProperty("device").GetString()!), StringComparison.Ordinal);
        Assert.Contains($"removed {laptopDevice}", await network.RunOkAsync(alice, "device", "remove", laptopDevice), StringComparison.Ordinal);
        Assert.DoesNotContain(ChatCliTests.Lines(await network.RunOkAsync(alice, "device", "list")), d => d.Contains(laptopDevice, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Killing_either_device_during_linking_leaves_both_folders_usable_and_a_new_code_links()
    {
        var (alice, laptop) = (network.Folder("alice"), network.Folder("laptop"));
        await network.RunOkAsync(alice, "init", "--name", "marta");

        // The existing device dies while the new one waits for the confirmation.
        var node = await network.StartNodeAsync(alice);
        var link = ParleyProcess.Start("--data", alice, "device", "link");
        var code = (await link.ReadUntilAsync("link code: ", ChatNetwork.Timeout))["link code: ".Length..];
        await using (var add = ParleyProcess.Start(network.Command(laptop, "device", "add", code, "--name", "laptop")))
        {
            await add.ReadUntilAsync("verification code: ", ChatNetwork.Timeout);
            node.Kill();
            Assert.Equal(1, await add.WaitForExitAsync(ChatNetwork.Timeout));
            Assert.Contains("parley: ", add.Stderr, StringComparison.Ordinal);
        }
        await link.DisposeAsync();
        await node.DisposeAsync();
        Assert.Contains("no identity", await network.RunFailingAsync(laptop, "whoami"), StringComparison.Ordinal);

        // The new device dies just after the confirmation, somewhere in the transfer or the import.
        await using var restarted = await network.StartNodeAsync(alice);
        link = ParleyProcess.Start("--data", alice, "device", "link");
        code = (await link.ReadUntilAsync("link code: ", ChatNetwork.Timeout))["link code: ".Length..];
        await using (var add = ParleyProcess.Start(network.Command(laptop, "device", "add", code, "--name", "laptop")))
        {
            await link.ReadUntilAsync("Does it show the same code?", ChatNetwork.Timeout);
            await link.WriteLineAsync("y");
            await Task.Delay(Random.Shared.Next(0, 150));
            add.Kill();
        }
        await link.WaitForExitAsync(ChatNetwork.Timeout);
        await link.DisposeAsync();

        // Whether or not the import got committed before the kill, the folder is either linked or ready to link again.
        var (whoamiExit, _, _) = await network.RunAsync(laptop, "whoami");
        if (whoamiExit != 0)
        {
            await LinkAsync(alice, laptop, confirm: true);
        }
        var (aliceWhoami, laptopWhoami) = (await network.RunJsonAsync(alice, "whoami"), await network.RunJsonAsync(laptop, "whoami"));
        Assert.Equal(aliceWhoami.GetProperty("account").GetString(), laptopWhoami.GetProperty("account").GetString());
        Assert.Contains(ChatCliTests.Lines(await network.RunOkAsync(alice, "device", "list")), d => d.Contains(laptopWhoami.GetProperty("device").GetString()!, StringComparison.Ordinal));
    }

    /// <summary>Runs `device link` on the running node of <paramref name="existing"/> and `device add` on <paramref name="empty"/>; both must succeed. Returns the code.</summary>
    private async Task<string> LinkAsync(string existing, string empty, bool confirm)
    {
        await using var link = ParleyProcess.Start("--data", existing, "device", "link");
        var code = (await link.ReadUntilAsync("link code: ", ChatNetwork.Timeout))["link code: ".Length..];
        await using var add = ParleyProcess.Start(network.Command(empty, "device", "add", code, "--name", "laptop"));
        var shownNew = await add.ReadUntilAsync("verification code: ", ChatNetwork.Timeout);
        var shownExisting = await link.ReadUntilAsync("verification code: ", ChatNetwork.Timeout);
        Assert.Equal(shownNew, shownExisting);
        await link.ReadUntilAsync("Does it show the same code?", ChatNetwork.Timeout);
        await link.WriteLineAsync(confirm ? "y" : "n");
        Assert.True(await add.WaitForExitAsync(ChatNetwork.Timeout) == 0, add.Describe());
        Assert.True(await link.WaitForExitAsync(ChatNetwork.Timeout) == 0, link.Describe());
        var handle = (await network.RunJsonAsync(existing, "whoami")).GetProperty("handle").GetString();
        Assert.Contains($"linked: this device is now {handle}", add.Stdout, StringComparison.Ordinal);
        return code;
    }
}
