using System.Text.RegularExpressions;

namespace Parley.Cli.Tests;

/// <summary>`parley up`, the terminal chat, driven through a pipe as a script would: commands on stdin, one line per event on stdout.</summary>
[Collection(ChatNetworkCollection.Name)]
public sealed partial class TerminalChatTests(ChatNetwork network)
{
    private static readonly TimeSpan Timeout = ChatNetwork.Timeout;

    [Fact]
    public async Task Two_terminal_chats_talk_through_pipes()
    {
        await using var tina = ParleyProcess.Start(Up(network.Folder("tina"), "tina"));
        await using var tom = ParleyProcess.Start(Up(network.Folder("tom"), "tom"));
        var tinaHandle = await ReadyAsync(tina);
        var tomHandle = await ReadyAsync(tom);

        // tina's first message is a contact request; tom sees it as one.
        await tina.WriteLineAsync($"/msg {tomHandle} hello from a pipe");
        await tina.ReadUntilAsync($"me → {tomHandle}: hello from a pipe", Timeout);
        await tom.ReadUntilAsync($"request from {tinaHandle}: hello from a pipe   /accept {tinaHandle} or /block", Timeout);

        // tom accepts and answers (a line without a command goes to whoever he last heard from or accepted).
        await tom.WriteLineAsync($"/accept {tinaHandle}");
        await tom.ReadUntilAsync($"accepted {tinaHandle}", Timeout);
        await tom.WriteLineAsync("hi back");
        await tom.ReadUntilAsync($"me → {tinaHandle}: hi back", Timeout);

        // tina sees his answer, and her own message reach delivered (on a line of its own through a pipe).
        var tinaSaw = new List<string>();
        await tina.ReadUntilAsync(line => Seen(tinaSaw, line, $"{tomHandle}: hi back", $"↳ to {tomHandle} \"hello from a pipe\" (delivered ✓)"), Timeout, "tom's answer and the delivered state");

        // /help lists the commands; an unknown command says so and the chat goes on.
        await tina.WriteLineAsync("/help");
        await tina.ReadUntilAsync("/msg <handle> <text>", Timeout);
        await tina.ReadUntilAsync("/quit                  leave (the node stops)", Timeout);
        await tina.WriteLineAsync("/frobnicate now");
        await tina.ReadUntilAsync("unknown command /frobnicate; /help lists them", Timeout);
        await tina.WriteLineAsync($"/history {tomHandle}");
        await tina.ReadUntilAsync($"{tomHandle}: hi back", Timeout);

        // End of input: tina's last message goes out, then her process exits by itself once her outbox is empty.
        await tina.WriteLineAsync("see you");
        tina.CloseInput();
        Assert.Equal(0, await tina.WaitForExitAsync(Timeout));
        Assert.DoesNotContain("leaving with messages still waiting", tina.Stdout, StringComparison.Ordinal);
        await tom.ReadUntilAsync($"{tinaHandle}: see you", Timeout);

        // /quit ends tom's.
        await tom.WriteLineAsync("/quit");
        Assert.Equal(0, await tom.WaitForExitAsync(Timeout));
        Assert.DoesNotContain("Exception", tom.Stderr + tina.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_without_an_identity_or_a_name_through_a_pipe_fails_clearly()
    {
        var folder = network.Folder("nameless");
        var (exitCode, _, stderr) = await ParleyProcess.RunAsync(Timeout, ["--data", folder, "up", "--no-mdns", "--listen", ChatNetwork.Loopback]);
        Assert.NotEqual(0, exitCode);
        Assert.Contains($"no identity in {folder}; give --name <name> to create one", stderr, StringComparison.Ordinal);
    }

    private string[] Up(string folder, string name) =>
        ["--data", folder, "--name-difficulty", ChatNetwork.NameDifficulty, .. network.BootstrapArguments(), "up", "--no-mdns", "--name", name, "--listen", ChatNetwork.Loopback];

    /// <summary>Waits for the chat's prompt; returns the handle from its first line.</summary>
    private static async Task<string> ReadyAsync(ParleyProcess up)
    {
        var first = await up.ReadUntilAsync(line => HandleLine().IsMatch(line), Timeout, "the handle line");
        await up.ReadUntilAsync("type /help for commands", Timeout);
        return HandleLine().Match(first).Groups[1].Value;
    }

    /// <summary>Notes which of <paramref name="wanted"/> a line contains; true once all were seen.</summary>
    private static bool Seen(List<string> seen, string line, params string[] wanted)
    {
        seen.AddRange(wanted.Where(w => line.Contains(w, StringComparison.Ordinal)));
        return wanted.All(seen.Contains);
    }

    [GeneratedRegex("^([a-z]+#[a-z2-7]{8})  device 12D3KooW")]
    private static partial Regex HandleLine();
}
