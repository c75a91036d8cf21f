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
        await tina.ReadUntilAsync("/quit             leave (the node stops)", Timeout);
        await tina.WriteLineAsync("/frobnicate now");
        await tina.ReadUntilAsync("unknown command /frobnicate; /help lists them", Timeout);
        await tina.WriteLineAsync("/devices");
        await tina.ReadUntilAsync("first device", Timeout);
        await tina.WriteLineAsync("/devices remove nonsense");
        await tina.ReadUntilAsync("is not a device id", Timeout);
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
    public async Task Reply_react_edit_and_delete_in_the_terminal()
    {
        await using var ada = ParleyProcess.Start(Up(network.Folder("ada"), "ada"));
        await using var max = ParleyProcess.Start(Up(network.Folder("max"), "max"));
        var adaHandle = await ReadyAsync(ada);
        var maxHandle = await ReadyAsync(max);
        await ada.WriteLineAsync($"/msg {maxHandle} lunch at noon?");
        await max.ReadUntilAsync($"request from {adaHandle}: lunch at noon?", Timeout);
        await max.WriteLineAsync($"/accept {adaHandle}");
        await max.ReadUntilAsync($"accepted {adaHandle}", Timeout);

        // Max replies to her latest message: both show what it quotes.
        await max.WriteLineAsync("/reply sure, where?");
        await max.ReadUntilAsync($"me → {adaHandle}: (↪ ada: \"lunch at noon?\") sure, where?", Timeout);
        await ada.ReadUntilAsync($"{maxHandle}: (↪ ada: \"lunch at noon?\") sure, where?", Timeout);

        // Ada reacts to it; max sees the reaction. /history numbers the messages for ^N.
        await ada.WriteLineAsync("/react 👍");
        await ada.ReadUntilAsync("↳ reactions to max#", Timeout);
        await max.ReadUntilAsync("↳ reactions to your \"sure, where?\": 👍 ada", Timeout);
        await ada.WriteLineAsync($"/history {maxHandle}");
        await ada.ReadUntilAsync("^2 ", Timeout);
        await ada.ReadUntilAsync(l => l.StartsWith("^1 ", StringComparison.Ordinal) && l.Contains("sure, where? [👍 ada]", StringComparison.Ordinal), Timeout, "the reply with its reaction as ^1");

        // Ada edits her first message (^2), which max may not, then deletes it for everyone; max sees both.
        await ada.WriteLineAsync("/edit ^2 lunch at one?");
        await max.ReadUntilAsync($"↳ {adaHandle} edited: lunch at one? (edited)", Timeout);
        await max.WriteLineAsync("/edit ^2 mine now");
        await max.ReadUntilAsync("you can only edit your own messages", Timeout);
        await ada.WriteLineAsync("/delete");
        await ada.ReadUntilAsync("↳ you deleted a message for everyone", Timeout);
        await max.ReadUntilAsync($"↳ {adaHandle} deleted a message for everyone", Timeout);
        await max.WriteLineAsync($"/history {adaHandle}");
        await max.ReadUntilAsync(l => l.StartsWith("^2 ", StringComparison.Ordinal) && l.EndsWith("this message was deleted", StringComparison.Ordinal), Timeout, "the deleted message in max's history");

        // Nor may he act on a deleted one, or name a message that is not there.
        await max.WriteLineAsync("/react ^2 👍");
        await max.ReadUntilAsync("that message was deleted", Timeout);
        await max.WriteLineAsync("/react ^9 👍");
        await max.ReadUntilAsync("^9 names no message here: ^1 is the latest, up to ^2", Timeout);
        Assert.DoesNotContain("Exception", ada.Stderr + max.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_without_an_identity_or_a_name_through_a_pipe_fails_clearly()
    {
        var folder = network.Folder("nameless");
        var (exitCode, _, stderr) = await ParleyProcess.RunAsync(Timeout, ["--data", folder, "up", "--no-mdns", "--listen", ChatNetwork.Loopback]);
        Assert.NotEqual(0, exitCode);
        Assert.Contains($"no identity in {folder}; give --name <name> to create one", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Up_shows_what_waited_in_the_mailbox_and_a_stored_message_as_a_success()
    {
        var wanda = network.Folder("wanda");
        var wandaHandle = (await network.RunOkAsync(wanda, "init", "--name", "wanda")).Trim();

        // wanda runs no node: vic's request waits in her mailbox, which is a success, however small the network.
        await using (var vic = ParleyProcess.Start(Up(network.Folder("vic"), "vic")))
        {
            var vicHandle = await ReadyAsync(vic);
            await vic.WriteLineAsync($"/msg {wandaHandle} while you were away");
            await vic.ReadUntilAsync($"me → {wandaHandle}: while you were away", Timeout);
            Assert.Matches("\\(in their mailbox ✓, kept by [0-9]+ nodes?\\)$", await vic.ReadUntilAsync("in their mailbox", Timeout));
            Assert.DoesNotContain(" of 20 ", vic.Stdout, StringComparison.Ordinal);
            await vic.WriteLineAsync("/quit");
            Assert.Equal(0, await vic.WaitForExitAsync(Timeout));

            // wanda comes online: the request fetched from her mailbox at start is shown, with its time.
            await using var up = ParleyProcess.Start(Up(wanda, "wanda"));
            var request = await up.ReadUntilAsync($"request from {vicHandle}: while you were away", Timeout);
            Assert.Matches($"^[0-9]{{2}}:[0-9]{{2}} request from {vicHandle}: while you were away   /accept {vicHandle} or /block$", request);
            await up.ReadUntilAsync("type /help for commands", Timeout);
        }
    }

    [Fact]
    public async Task A_room_message_shows_delivered_to_all_once_every_member_has_it()
    {
        await using var rita = ParleyProcess.Start(Up(network.Folder("rita"), "rita"));
        await using var ron = ParleyProcess.Start(Up(network.Folder("ron"), "ron"));
        var ritaHandle = await ReadyAsync(rita);
        var ronHandle = await ReadyAsync(ron);

        await rita.WriteLineAsync("/create club");
        await rita.ReadUntilAsync("created club", Timeout);
        await rita.WriteLineAsync($"/invite club {ronHandle}");
        await ron.ReadUntilAsync("you are invited to club", Timeout);
        await ron.WriteLineAsync("/join club");
        await ron.ReadUntilAsync("club: joined", Timeout);
        // rita's node learns that ron took the invitation; /members lists him without "invited" then.
        using (var deadline = new CancellationTokenSource(Timeout))
        {
            while (true)
            {
                await rita.WriteLineAsync("/members club");
                var line = await rita.ReadUntilAsync(l => l.Contains(ronHandle, StringComparison.Ordinal), Timeout, "ron in the member list");
                if (!line.Contains("invited", StringComparison.Ordinal))
                {
                    break;
                }
                await Task.Delay(200, deadline.Token);
            }
        }

        await rita.WriteLineAsync("hello club");
        await rita.ReadUntilAsync(l => l.Contains("hello club", StringComparison.Ordinal) && l.Contains("(delivered to all 1)", StringComparison.Ordinal), Timeout, "the room message delivered to all");
        await ron.ReadUntilAsync($"[club] {ritaHandle}: hello club", Timeout);
    }

    [Fact]
    public async Task Link_and_add_in_the_terminal_and_only_a_slash_makes_a_command()
    {
        await using var lena = ParleyProcess.Start(Up(network.Folder("lena"), "lena"));
        await using var leo = ParleyProcess.Start(Up(network.Folder("leo"), "leo"));
        var lenaHandle = await ReadyAsync(lena);
        var leoHandle = await ReadyAsync(leo);

        await lena.WriteLineAsync("/link");
        var link = (await lena.ReadUntilAsync("your contact link: ", Timeout))["your contact link: ".Length..];
        Assert.StartsWith($"parley://contact/v1/lena/{lenaHandle.Split('#')[1]}?sn=", link, StringComparison.Ordinal);

        // A link whose safety number was altered: a warning, and nothing sent.
        var altered = link[..^1] + (link[^1] == '0' ? '1' : '0');
        await leo.WriteLineAsync($"/add {altered}");
        Assert.StartsWith("WARNING: the safety number in this link does not match", await leo.ReadUntilAsync("WARNING", Timeout), StringComparison.Ordinal);
        await leo.WriteLineAsync("/contacts");
        await leo.ReadUntilAsync("no contacts yet", Timeout);

        await leo.WriteLineAsync($"/add {link} hi from your link");
        await leo.ReadUntilAsync($"✓ the safety number matches: {lenaHandle} holds the key the link names", Timeout);
        await lena.ReadUntilAsync($"request from {leoHandle}: hi from your link", Timeout);

        // "clear" is text for lena (leo's current chat); "/clear" is a command (nothing to clear through a pipe).
        await leo.WriteLineAsync("clear");
        await leo.ReadUntilAsync($"me → {lenaHandle}: clear", Timeout);
        await leo.WriteLineAsync("/clear");
        await leo.WriteLineAsync("/help");
        await leo.ReadUntilAsync("/clear", Timeout);
        Assert.DoesNotContain("unknown command", leo.Stdout, StringComparison.Ordinal);
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
