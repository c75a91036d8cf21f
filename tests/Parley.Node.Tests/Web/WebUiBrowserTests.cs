using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Playwright;
using Parley.Node.Api;
using Parley.Node.Tests.Files;
using Xunit.Abstractions;
using static Microsoft.Playwright.Assertions;

namespace Parley.Node.Tests.Web;

/// <summary>
/// The web UI in a real browser: headless Chromium (Debian's <c>chromium</c>, driven by Playwright) against two user
/// nodes on loopback. Alice finds bob and writes; bob's page shows the request; alice's page shows the message
/// delivered, then read. Screenshots go to TestResults/ beside the test assembly.
/// </summary>
public sealed class WebUiBrowserTests(ITestOutputHelper output)
{
    /// <summary>Where Chromium is looked for; PARLEY_CHROMIUM overrides.</summary>
    private static readonly string[] ChromiumPaths = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    private static readonly float Patience = 20_000;

    [Fact]
    public async Task Alice_writes_to_bob_in_the_browser_and_sees_it_delivered_and_read()
    {
        var chromium = FindChromium();
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(4);
        var aliceNode = await network.StartUserAsync("alice");
        var bobNode = await network.StartUserAsync("bob");
        await using var aliceApi = await LocalApi.StartAsync(aliceNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        await using var bobApi = await LocalApi.StartAsync(bobNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        var alice = aliceNode.Chat!.Handle.ToString();
        var bob = bobNode.Chat!.Handle.ToString();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var problems = new List<string>();
        var alicePage = await OpenAsync(browser, aliceApi.WebUiAddress, "alice", problems);
        var bobPage = await OpenAsync(browser, bobApi.WebUiAddress, "bob", problems);

        // Each page knows its user, shows the node's status, and keeps the token out of the address bar.
        await Expect(alicePage.Locator("#me-handle")).ToHaveTextAsync(alice);
        await Expect(bobPage.Locator("#me-handle")).ToHaveTextAsync(bob);
        Assert.DoesNotContain("token", alicePage.Url, StringComparison.Ordinal);
        await Expect(alicePage.Locator("#status")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[1-9][0-9]* peers? · outbox [0-9]+$"));
        await alicePage.Locator("#node summary").ClickAsync();
        await Expect(alicePage.Locator("#node-addresses li").First).ToContainTextAsync($"{aliceNode.Host.ListenAddresses[0]}/p2p/{aliceNode.PeerId}");
        await Expect(alicePage.Locator("#node-device")).ToHaveTextAsync(aliceNode.PeerId.ToString());
        await alicePage.Locator("#node summary").ClickAsync();

        // The token stays with the tab (sessionStorage) across a reload; a tab without it asks for it.
        await alicePage.ReloadAsync();
        await Expect(alicePage.Locator("#me-handle")).ToHaveTextAsync(alice);
        var stranger = await OpenAsync(browser, aliceApi.BaseAddress, "a tab without the token", problems, expectRefusal: true);
        await Expect(stranger.Locator("#locked")).ToBeVisibleAsync();
        await Expect(stranger.Locator("#app")).ToBeHiddenAsync();
        await stranger.Locator("#token-input").FillAsync(bobApi.Token);
        await stranger.Locator("#token-input").PressAsync("Enter");
        await Expect(stranger.Locator("#locked-reason")).ToContainTextAsync("refused the token");
        await stranger.Locator("#token-input").FillAsync(aliceApi.Token);
        await stranger.Locator("#token-input").PressAsync("Enter");
        await Expect(stranger.Locator("#me-handle")).ToHaveTextAsync(alice);
        await stranger.Context.CloseAsync();

        // Alice finds bob by name, opens a chat with him and writes.
        await alicePage.Locator("#find-input").FillAsync("bob");
        await alicePage.Locator("#find-input").PressAsync("Enter");
        var match = alicePage.Locator($"#find-results li[data-handle='{bob}']");
        await Expect(match).ToContainTextAsync("start a chat");
        await match.ClickAsync();
        await Expect(alicePage.Locator("#peer")).ToHaveTextAsync(bob);
        await Expect(alicePage.Locator("#messages .hint")).ToBeVisibleAsync();
        await alicePage.Locator("#compose-text").FillAsync("Hello Bob, from a browser");
        await alicePage.Locator("#send").ClickAsync();
        var sent = alicePage.Locator("#messages li.outgoing").Filter(new LocatorFilterOptions { HasText = "Hello Bob, from a browser" });
        await Expect(sent).ToHaveCountAsync(1);
        await Expect(alicePage.Locator($"#contacts li[data-handle='{bob}']")).ToContainTextAsync("waiting for them to accept");

        // Bob's page lists the request as it arrives (WebSocket events), without a reload.
        var request = bobPage.Locator($"#requests li[data-handle='{alice}']");
        await Expect(request).ToContainTextAsync("asks to talk");
        await Expect(bobPage.Locator("#requests-title")).ToBeVisibleAsync();

        // Alice's page shows her message delivered (bob's device has it; bob has not opened it yet).
        await Expect(sent).ToHaveAttributeAsync("data-state", "delivered");
        await Expect(sent.Locator(".meta")).ToContainTextAsync("delivered");

        // Bob opens the request: the message, the safety number, accept.
        await request.ClickAsync();
        await Expect(bobPage.Locator("#messages li.incoming .text")).ToHaveTextAsync("Hello Bob, from a browser");
        await Expect(bobPage.Locator("#request-banner")).ToBeVisibleAsync();
        await Expect(bobPage.Locator("#request-text")).ToContainTextAsync("Safety number");
        await ScreenshotAsync(bobPage, "webui-bob-request.png");
        await bobPage.Locator("#accept").ClickAsync();
        await Expect(bobPage.Locator("#request-banner")).ToBeHiddenAsync();
        await Expect(bobPage.Locator($"#contacts li[data-handle='{alice}']")).ToBeVisibleAsync();
        await Expect(bobPage.Locator("#requests li")).ToHaveCountAsync(0);

        // Bob answered by reading: alice sees "read"; bob writes back and alice's open chat shows it.
        await Expect(sent).ToHaveAttributeAsync("data-state", "read");
        await bobPage.Locator("#compose-text").FillAsync("Hi Alice! Got it.");
        await bobPage.Locator("#compose-text").PressAsync("Enter");
        await Expect(alicePage.Locator("#messages li.incoming .text")).ToHaveTextAsync("Hi Alice! Got it.");
        await Expect(alicePage.Locator($"#contacts li[data-handle='{bob}']")).ToContainTextAsync("contact");
        var answer = bobPage.Locator("#messages li.outgoing");
        await Expect(answer).ToHaveAttributeAsync("data-state", "read");
        Assert.Equal(["Hello Bob, from a browser", "Hi Alice! Got it."], await bobPage.Locator("#messages li .text").AllTextContentsAsync());

        // Both see the same safety number.
        await alicePage.Locator("#safety").ClickAsync();
        await Expect(alicePage.Locator("#safety-dialog")).ToBeVisibleAsync();
        var number = await alicePage.Locator("#safety-number").TextContentAsync();
        Assert.Matches("^([0-9]{5} ){11}[0-9]{5}$", number);
        await bobPage.Locator("#safety").ClickAsync();
        await Expect(bobPage.Locator("#safety-number")).ToHaveTextAsync(number!);
        await bobPage.Locator("#safety-close").ClickAsync();
        await Expect(bobPage.Locator("#safety-dialog")).ToBeHiddenAsync();
        await alicePage.Locator("#safety-close").ClickAsync();

        await ScreenshotAsync(alicePage, "webui-alice.png");
        await ScreenshotAsync(bobPage, "webui-bob.png");

        // A narrow window: one column; the conversation with a back button, then the list.
        await bobPage.SetViewportSizeAsync(380, 720);
        await Expect(bobPage.Locator("#messages li.outgoing")).ToBeVisibleAsync();
        await Expect(bobPage.Locator("#back")).ToBeVisibleAsync();
        await Expect(bobPage.Locator("#sidebar")).ToBeHiddenAsync();
        await Expect(bobPage.Locator("#compose-text")).ToBeInViewportAsync();
        await ScreenshotAsync(bobPage, "webui-bob-narrow.png");
        await bobPage.Locator("#back").ClickAsync();
        await Expect(bobPage.Locator("#sidebar")).ToBeVisibleAsync();
        await Expect(bobPage.Locator("#conversation")).ToBeHiddenAsync();
        await Expect(bobPage.Locator($"#contacts li[data-handle='{alice}']")).ToBeVisibleAsync();
        await ScreenshotAsync(bobPage, "webui-bob-narrow-list.png");
        Assert.True(await bobPage.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "nothing sticks out sideways at 380 px");

        // A message to alice while bob's list is showing: an unread badge on her chat.
        await alicePage.Locator("#compose-text").FillAsync("One more thing");
        await alicePage.Locator("#send").ClickAsync();
        await Expect(bobPage.Locator($"#contacts li[data-handle='{alice}'] .badge")).ToHaveTextAsync("1");
        await bobPage.Locator($"#contacts li[data-handle='{alice}']").ClickAsync();
        await Expect(bobPage.Locator("#messages li.incoming").Last).ToContainTextAsync("One more thing");

        // On request, alice's message shows which of bob's devices has it: his one device, read.
        var more = alicePage.Locator("#messages li.outgoing").Filter(new LocatorFilterOptions { HasText = "One more thing" });
        await Expect(more).ToHaveAttributeAsync("data-state", "read");
        await more.HoverAsync();
        await more.Locator(".act-delivery").ClickAsync();
        var delivery = more.Locator(".delivery li");
        await Expect(delivery).ToHaveCountAsync(1);
        await Expect(delivery).ToHaveAttributeAsync("data-device", bobNode.Chat!.Account.Id.ToString());
        await Expect(delivery).ToHaveAttributeAsync("data-state", "read");
        await Expect(delivery).ToContainTextAsync("their device: read");
        await Expect(alicePage.Locator("#messages li.incoming .act-delivery")).ToHaveCountAsync(0);
        await ScreenshotAsync(alicePage, "webui-alice-delivery.png");

        Assert.True(problems.Count == 0, "the pages reported errors:\n" + string.Join("\n", problems));
        await browser.CloseAsync();
    }

    [Fact]
    public async Task A_node_without_an_account_is_linked_to_alice_from_its_first_run_screen_after_both_pages_show_the_same_code()
    {
        var chromium = FindChromium();
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(3);
        var aliceNode = await network.StartUserAsync("alice");
        var tabletNode = await network.StartNodeAsync("tablet");
        await using var aliceApi = await LocalApi.StartAsync(aliceNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        await using var tabletApi = await LocalApi.StartAsync(tabletNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        var alice = aliceNode.Chat!.Handle.ToString();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var problems = new List<string>();
        var alicePage = await OpenAsync(browser, aliceApi.WebUiAddress, "alice", problems);
        var tabletPage = await OpenAsync(browser, tabletApi.WebUiAddress, "tablet", problems);
        await Expect(tabletPage.Locator("#first-run")).ToBeVisibleAsync();

        await alicePage.Locator("#devices").ClickAsync();
        await Expect(alicePage.Locator("#device-list li")).ToContainTextAsync("(this device)");
        await alicePage.Locator("#link-device").ClickAsync();
        await Expect(alicePage.Locator("#offer-qr svg path")).ToHaveAttributeAsync("d", new System.Text.RegularExpressions.Regex("^M"));
        var code = await alicePage.Locator("#offer-code").TextContentAsync() ?? "";
        Assert.StartsWith("parley-link:", code, StringComparison.Ordinal);
        await ScreenshotAsync(alicePage, "webui-link-device-alice.png");

        await tabletPage.Locator("#join-code").FillAsync(code);
        await tabletPage.Locator("#join-name").FillAsync("tablet");
        await tabletPage.Locator("#join-code").PressAsync("Enter");
        await Expect(alicePage.Locator("#offer-verify")).ToBeVisibleAsync();
        var verification = await alicePage.Locator("#offer-verification").TextContentAsync() ?? "";
        Assert.Matches("^[0-9]{3} [0-9]{3}$", verification);
        await Expect(tabletPage.Locator("#join-state")).ToContainTextAsync($"Verification code: {verification}.");
        await alicePage.Locator("#link-confirm").ClickAsync();
        await Expect(alicePage.Locator("#offer-state")).ToContainTextAsync("tablet is now a device of your account");
        await Expect(alicePage.Locator("#device-list li")).ToHaveCountAsync(2);
        // Linked, the tablet's page reloads as alice.
        await Expect(tabletPage.Locator("#me-handle")).ToHaveTextAsync(alice);
        Assert.Empty(problems);
    }

    [Fact]
    public async Task Alice_adds_bob_by_his_contact_link_makes_a_room_invites_him_and_they_talk_in_it_in_the_browser()
    {
        var chromium = FindChromium();
        await using var network = new LoopbackNetwork();
        await network.StartNodesAsync(4);
        var aliceNode = await network.StartUserAsync("alice");
        var bobNode = await network.StartUserAsync("bob");
        await using var aliceApi = await LocalApi.StartAsync(aliceNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        await using var bobApi = await LocalApi.StartAsync(bobNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        var bob = bobNode.Chat!.Handle.ToString();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var problems = new List<string>();
        var alicePage = await OpenAsync(browser, aliceApi.WebUiAddress, "alice", problems);
        var bobPage = await OpenAsync(browser, bobApi.WebUiAddress, "bob", problems);
        await Expect(alicePage.Locator("#me-handle")).ToHaveTextAsync(aliceNode.Chat!.Handle.ToString());

        // Bob shows his contact link and its QR code; alice pastes it into the search field. An altered link is a loud
        // warning and sends nothing; the real one sends a request, with the safety number checked.
        await bobPage.Locator("#my-link").ClickAsync();
        await Expect(bobPage.Locator("#link-dialog")).ToBeVisibleAsync();
        await Expect(bobPage.Locator("#link-qr svg")).ToHaveAttributeAsync("viewBox", new System.Text.RegularExpressions.Regex("^0 0 ([0-9]+) \\1$"));
        await Expect(bobPage.Locator("#link-qr svg path")).ToHaveAttributeAsync("d", new System.Text.RegularExpressions.Regex("^M"));
        var link = await bobPage.Locator("#my-link-text").TextContentAsync() ?? "";
        Assert.StartsWith($"parley://contact/v1/bob/{bob.Split('#')[1]}?sn=", link, StringComparison.Ordinal);
        await Expect(bobPage.Locator("#my-fingerprint")).ToHaveTextAsync(string.Join(' ', link[^30..].Chunk(5).Select(c => new string(c))));
        await ScreenshotAsync(bobPage, "webui-contact-link-bob.png");
        await bobPage.Locator("#link-close").ClickAsync();
        await alicePage.Locator("#find-input").FillAsync(link[..^1] + (link[^1] == '0' ? '1' : '0'));
        await alicePage.Locator("#find-input").PressAsync("Enter");
        await Expect(alicePage.Locator("#find-results li.warning")).ToContainTextAsync("WARNING: the safety number in this link does not match");
        await Expect(alicePage.Locator($"#contacts li[data-handle='{bob}']")).ToHaveCountAsync(0);
        // The browser logs the refusal (409) it was meant to get; that one is no fault of the page.
        Assert.StartsWith("alice: console error: Failed to load resource: the server responded with a status of 409", Assert.Single(problems), StringComparison.Ordinal);
        problems.Clear();
        await alicePage.Locator("#find-input").FillAsync(link);
        await alicePage.Locator("#find-input").PressAsync("Enter");
        await Expect(alicePage.Locator("#find-results li.added")).ToContainTextAsync($"The safety number matches: {bob}");
        await Expect(alicePage.Locator("#peer")).ToHaveTextAsync(bob);
        await Expect(bobPage.Locator($"#requests li[data-handle='{aliceNode.Chat.Handle}']")).ToContainTextAsync("asks to talk");
        await ScreenshotAsync(alicePage, "webui-contact-link-added-alice.png");

        // Alice creates a room (the name is asked in a prompt) and invites bob from the members dialog.
        alicePage.Dialog += async (_, dialog) => await dialog.AcceptAsync("book club");
        await alicePage.Locator("#new-room").ClickAsync();
        await Expect(alicePage.Locator("#room-dialog")).ToBeVisibleAsync();
        await Expect(alicePage.Locator("#room-title")).ToHaveTextAsync("book club");
        await Expect(alicePage.Locator("#room-link")).ToContainTextAsync("parley://join/");
        await alicePage.Locator("#invite-input").FillAsync(bob);
        await alicePage.Locator("#invite-input").PressAsync("Enter");
        await Expect(alicePage.Locator("#room-invited li")).ToContainTextAsync("bob");
        await alicePage.Locator("#room-close").ClickAsync();

        // Bob's page shows the invitation live; he opens the room and joins.
        var invitation = bobPage.Locator("#rooms li").Filter(new LocatorFilterOptions { HasText = "book club" });
        await Expect(invitation).ToContainTextAsync("invited");
        await invitation.ClickAsync();
        await Expect(bobPage.Locator("#invite-banner")).ToBeVisibleAsync();
        await bobPage.Locator("#join-invited").ClickAsync();
        await Expect(bobPage.Locator("#compose")).ToBeVisibleAsync();
        await Expect(alicePage.Locator("#rooms li").Filter(new LocatorFilterOptions { HasText = "book club" })).ToContainTextAsync("2 members");

        // They talk; each sees the other's message, labelled with who sent it, and alice sees hers delivered.
        await alicePage.Locator("#rooms li").Filter(new LocatorFilterOptions { HasText = "book club" }).ClickAsync();
        await alicePage.Locator("#compose-text").FillAsync("Welcome to the club, Bob");
        await alicePage.Locator("#send").ClickAsync();
        var atBob = bobPage.Locator("#messages li.incoming").Filter(new LocatorFilterOptions { HasText = "Welcome to the club, Bob" });
        await Expect(atBob.Locator(".from")).ToContainTextAsync("alice#");
        await Expect(alicePage.Locator("#messages li.outgoing .meta")).ToContainTextAsync("delivered to all 1");
        await bobPage.Locator("#compose-text").FillAsync("Glad to be here");
        await bobPage.Locator("#send").ClickAsync();
        var glad = alicePage.Locator("#messages li.incoming").Filter(new LocatorFilterOptions { HasText = "Glad to be here" });
        await Expect(glad).ToBeVisibleAsync();

        // In a room as in a chat: alice reacts to bob's message and replies to it; bob sees both.
        await glad.HoverAsync();
        await glad.Locator(".act-react").ClickAsync();
        await glad.Locator(".picker button[data-emoji='😂']").ClickAsync();
        await Expect(bobPage.Locator("#messages li.outgoing").Filter(new LocatorFilterOptions { HasText = "Glad to be here" }).Locator(".reaction")).ToHaveTextAsync("😂");
        await glad.HoverAsync();
        await glad.Locator(".act-reply").ClickAsync();
        await alicePage.Locator("#compose-text").FillAsync("So are we");
        await alicePage.Locator("#compose-text").PressAsync("Enter");
        var quoted = bobPage.Locator("#messages li.incoming").Filter(new LocatorFilterOptions { HasText = "So are we" });
        await Expect(quoted.Locator(".quote-text")).ToHaveTextAsync("Glad to be here");
        await Expect(quoted.Locator(".quote-from")).ToHaveTextAsync("You");

        // The members dialog shows both, the admin badge, and the membership log.
        await bobPage.Locator("#room-info").ClickAsync();
        await Expect(bobPage.Locator("#room-members li")).ToHaveCountAsync(2);
        await Expect(bobPage.Locator("#room-log li").First).ToContainTextAsync("created the room");
        await ScreenshotAsync(alicePage, "webui-room-alice.png");
        await ScreenshotAsync(bobPage, "webui-room-bob.png");
        Assert.Empty(problems);
        await browser.CloseAsync();
    }

    [Fact]
    public async Task Alice_and_bob_see_each_other_online_type_reply_react_edit_delete_and_get_notified_in_the_browser()
    {
        var chromium = FindChromium();
        await using var network = new LoopbackNetwork();
        var (aliceNode, bobNode) = await ContactsAsync(network);
        var alice = aliceNode.Chat!.Handle.ToString();
        var bob = bobNode.Chat!.Handle.ToString();
        // The greeting read.
        await bobNode.Chat.MarkReadAsync(await bobNode.Chat.GetUnreadAsync(CancellationToken.None), CancellationToken.None);
        await using var aliceApi = await LocalApi.StartAsync(aliceNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        await using var bobApi = await LocalApi.StartAsync(bobNode, 0, NullLoggerFactory.Instance, CancellationToken.None);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var problems = new List<string>();
        var alicePage = await OpenAsync(browser, aliceApi.WebUiAddress, "alice", problems, initScript: RecordingScript);
        var bobPage = await OpenAsync(browser, bobApi.WebUiAddress, "bob", problems, initScript: RecordingScript);
        bobPage.Dialog += async (_, dialog) => await dialog.AcceptAsync();

        // Day labels and presence texts, as the page computes them.
        var labels = await alicePage.EvaluateAsync<string[]>("""
            async () => {
              const m = await import("/message-parts.js");
              const now = new Date(2025, 5, 12, 15, 0);
              const at = (d, h) => new Date(2025, 5, d, h, 5).toISOString();
              return [m.dayLabel(at(12, 9), now), m.dayLabel(at(11, 23), now), m.dayLabel(new Date(2024, 11, 31).toISOString(), now),
                m.presenceText({ online: true }), m.presenceText({ online: false, lastSeen: new Date().toISOString() }), m.presenceText(undefined)];
            }
            """);
        Assert.Equal(["Today", "Yesterday"], labels[..2]);
        Assert.Contains("2024", labels[2], StringComparison.Ordinal);
        Assert.Equal("online", labels[3]);
        Assert.StartsWith("last seen today at ", labels[4], StringComparison.Ordinal);
        Assert.Equal("", labels[5]);

        // Notifications are asked for with the button, never on load.
        await Expect(bobPage.Locator("#me-handle")).ToHaveTextAsync(bob);
        await Expect(bobPage.Locator("#notify")).ToBeVisibleAsync();
        Assert.Equal(0, await bobPage.EvaluateAsync<int>("window.__notifications.asked()"));
        await bobPage.Locator("#notify").ClickAsync();
        await Expect(bobPage.Locator("#notify")).ToBeHiddenAsync();
        Assert.Equal(1, await bobPage.EvaluateAsync<int>("window.__notifications.asked()"));

        // Alice opens bob's chat: he is online (each told the other when bob accepted). A day separator heads the day.
        await alicePage.Locator($"#contacts li[data-handle='{bob}']").ClickAsync();
        await Expect(alicePage.Locator("#peer-state")).ToHaveTextAsync("online");
        await Expect(alicePage.Locator($"#contacts li[data-handle='{bob}']")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("online"));
        await Expect(alicePage.Locator("#messages li").First).ToHaveTextAsync("Today");
        await Expect(alicePage.Locator("#messages li.day")).ToHaveCountAsync(1);

        // Bob is on his chat list: alice's message counts in his tab's title and shows a desktop notification.
        await alicePage.Locator("#compose-text").FillAsync("Are you coming tonight?");
        await alicePage.Locator("#compose-text").PressAsync("Enter");
        await Expect(bobPage).ToHaveTitleAsync("(1) Parley");
        Assert.Equal(await bobPage.EvaluateAsync<string>("JSON.stringify(window.__notifications.shown)"), $$"""[{"title":"{{alice}}","body":"Are you coming tonight?"}]""");
        await bobPage.Locator($"#contacts li[data-handle='{alice}']").ClickAsync();
        await Expect(bobPage).ToHaveTitleAsync("Parley");
        await Expect(bobPage.Locator("#peer-state")).ToHaveTextAsync("online");

        // Alice types: bob sees it, until her message comes.
        await alicePage.Locator("#compose-text").PressSequentiallyAsync("Bring");
        await Expect(bobPage.Locator("#peer-state")).ToHaveTextAsync("typing…");
        await Expect(bobPage.Locator($"#contacts li[data-handle='{alice}']")).ToContainTextAsync("typing…");
        await alicePage.Locator("#compose-text").PressSequentiallyAsync(" snacks");
        await alicePage.Locator("#compose-text").PressAsync("Enter");
        await Expect(bobPage.Locator("#messages li.incoming .text").Last).ToHaveTextAsync("Bring snacks");
        await Expect(bobPage.Locator("#peer-state")).ToHaveTextAsync("online");

        // Bob replies to her question: both show the quote.
        var question = bobPage.Locator("#messages li.incoming").Filter(new LocatorFilterOptions { HasText = "Are you coming tonight?" });
        await question.HoverAsync();
        await question.Locator(".act-reply").ClickAsync();
        await Expect(bobPage.Locator("#compose-banner")).ToContainTextAsync("Replying to alice");
        await bobPage.Locator("#compose-text").FillAsync("Yes, at eight");
        await bobPage.Locator("#compose-text").PressAsync("Enter");
        await Expect(bobPage.Locator("#compose-banner")).ToBeHiddenAsync();
        var reply = alicePage.Locator("#messages li.incoming").Filter(new LocatorFilterOptions { HasText = "Yes, at eight" });
        await Expect(reply.Locator(".quote-text")).ToHaveTextAsync("Are you coming tonight?");
        await Expect(reply.Locator(".quote-from")).ToHaveTextAsync("You");
        await Expect(bobPage.Locator("#messages li.outgoing .quote-from")).ToHaveTextAsync("alice");

        // Alice reacts to the reply; bob sees her reaction on it.
        await reply.HoverAsync();
        await reply.Locator(".act-react").ClickAsync();
        await reply.Locator(".picker button[data-emoji='👍']").ClickAsync();
        await Expect(reply.Locator(".reaction.mine")).ToHaveTextAsync("👍");
        var mine = bobPage.Locator("#messages li.outgoing").Filter(new LocatorFilterOptions { HasText = "Yes, at eight" });
        await Expect(mine.Locator(".reaction")).ToHaveTextAsync("👍");
        await Expect(mine.Locator(".reaction")).ToHaveAttributeAsync("title", "alice");
        await ScreenshotAsync(alicePage, "webui-actions-alice.png");

        // Bob edits his reply: alice sees the new text, marked edited. Then he deletes it for everyone.
        await mine.HoverAsync();
        await mine.Locator(".act-edit").ClickAsync();
        await Expect(bobPage.Locator("#compose-banner")).ToContainTextAsync("Editing message");
        await bobPage.Locator("#compose-text").FillAsync("Yes, at nine");
        await bobPage.Locator("#compose-text").PressAsync("Enter");
        var edited = alicePage.Locator("#messages li.incoming").Filter(new LocatorFilterOptions { HasText = "Yes, at nine" });
        await Expect(edited.Locator(".meta")).ToContainTextAsync("edited");
        await Expect(edited.Locator(".reaction")).ToHaveTextAsync("👍");
        var changed = bobPage.Locator("#messages li.outgoing").Filter(new LocatorFilterOptions { HasText = "Yes, at nine" });
        await changed.HoverAsync();
        await changed.Locator(".act-delete").ClickAsync();
        await Expect(alicePage.Locator("#messages li.deleted .text")).ToHaveTextAsync("This message was deleted.");
        await Expect(alicePage.Locator("#messages li.deleted .reaction")).ToHaveCountAsync(0);
        await Expect(alicePage.Locator("#messages li").Filter(new LocatorFilterOptions { HasText = "Yes, at nine" })).ToHaveCountAsync(0);
        await Expect(bobPage.Locator("#messages li.outgoing.deleted .act-edit")).ToHaveCountAsync(0);

        // Bob turns both indicators off: alice no longer sees him online; his typing is not sent, and hers not shown.
        await bobPage.Locator("#settings").ClickAsync();
        await Expect(bobPage.Locator("#notify-state")).ToHaveTextAsync("on");
        await bobPage.Locator("#share-presence").UncheckAsync();
        await bobPage.Locator("#share-typing").UncheckAsync();
        await bobPage.Locator("#settings-close").ClickAsync();
        await Expect(alicePage.Locator("#peer-state")).ToHaveTextAsync("end-to-end encrypted");
        await Expect(bobPage.Locator("#peer-state")).ToHaveTextAsync("end-to-end encrypted");
        await alicePage.Locator("#compose-text").PressSequentiallyAsync("Fine");
        await bobPage.Locator("#compose-text").PressSequentiallyAsync("Sorry");
        await bobPage.Locator("#compose-text").PressAsync("Enter");
        await alicePage.Locator("#compose-text").PressAsync("Enter");
        await Expect(alicePage.Locator("#messages li.incoming .text").Last).ToHaveTextAsync("Sorry");
        await Expect(bobPage.Locator("#messages li.incoming .text").Last).ToHaveTextAsync("Fine");
        // (What each header showed since the indicators went off.)
        Assert.DoesNotContain("typing…", (await alicePage.EvaluateAsync<string[]>("window.__peerStates")).SkipWhile(s => s != "end-to-end encrypted"));
        Assert.DoesNotContain("typing…", (await bobPage.EvaluateAsync<string[]>("window.__peerStates")).SkipWhile(s => s != "end-to-end encrypted"));
        await ScreenshotAsync(bobPage, "webui-actions-bob.png");
        Assert.Empty(problems);
        await browser.CloseAsync();
    }

    [Fact]
    public async Task Alice_sends_bob_an_image_and_a_document_then_a_picture_in_a_room_in_the_browser_he_sees_the_images_inline_and_saves_them_intact()
    {
        var chromium = FindChromium();
        await using var network = new LoopbackNetwork();
        var (aliceNode, bobNode) = await ContactsAsync(network);
        var alice = aliceNode.Chat!.Handle.ToString();
        var bob = bobNode.Chat!.Handle.ToString();
        await using var aliceApi = await LocalApi.StartAsync(aliceNode, 0, NullLoggerFactory.Instance, CancellationToken.None);
        await using var bobApi = await LocalApi.StartAsync(bobNode, 0, NullLoggerFactory.Instance, CancellationToken.None);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await LaunchAsync(playwright, chromium);
        var problems = new List<string>();
        var alicePage = await OpenAsync(browser, aliceApi.WebUiAddress, "alice", problems);
        var bobPage = await OpenAsync(browser, bobApi.WebUiAddress, "bob", problems, acceptDownloads: true);
        await alicePage.Locator($"#contacts li[data-handle='{bob}']").ClickAsync();
        await bobPage.Locator($"#contacts li[data-handle='{alice}']").ClickAsync();

        // What a file's state says, as the page words it (the node's file as the API gives it).
        var states = await alicePage.EvaluateAsync<string[]>("""
            async () => {
              const f = await import("/file-parts.js");
              const file = (more) => ({ outgoing: false, inRoom: false, size: 1000, bytesHeld: 0, bytesSent: 0, active: false, problem: null, state: "waiting", ...more });
              return [
                f.fileStateText(file({ active: true, bytesHeld: 400 })),
                f.fileStateText(file({ problem: "waiting for a direct connection to alice" })),
                f.fileStateText(file({ state: "toolarge", problem: "big.iso is 2 GiB, over your limit of 256 MiB per file" })),
                f.fileStateText(file({ state: "complete", bytesHeld: 1000 })),
                f.fileStateText(file({ outgoing: true, state: "offered", problem: "waiting for bob to come online" })),
                f.fileStateText(file({ outgoing: true, state: "offered", active: true, bytesSent: 600 })),
                f.fileStateText(file({ outgoing: true, state: "delivered" })),
                f.sizeText(1000), f.sizeText(40 * 1024), f.sizeText(1536 * 1024),
              ];
            }
            """);
        Assert.Equal(
            [
                "downloading 40%", "waiting for a direct connection to alice", "not fetched: big.iso is 2 GiB, over your limit of 256 MiB per file", "received",
                "waiting for bob to come online", "sending 60%", "delivered ✓", "1000 B", "40 KiB", "1.5 MiB",
            ],
            states);

        // Alice picks a photo with the file button (the input behind it): her page shows it as it goes, then delivered.
        var photo = TestImages.Photo(1200, 900, SkiaSharp.SKEncodedImageFormat.Jpeg);
        await alicePage.Locator("#file-input").SetInputFilesAsync(new FilePayload { Name = "holiday.jpg", MimeType = "image/jpeg", Buffer = photo });
        var sentPhoto = alicePage.Locator("#messages li.outgoing .file").Filter(new LocatorFilterOptions { HasText = "holiday.jpg" });
        await Expect(sentPhoto.Locator(".file-state")).ToHaveTextAsync("delivered ✓");
        await Expect(alicePage.Locator("#messages li.upload")).ToHaveCountAsync(0);

        // Bob's page shows the picture inline from its thumbnail (decoded by the browser: it has a width), with its name
        // and size; clicking it saves the whole file, byte for byte.
        var photoAtBob = bobPage.Locator("#messages li.incoming .file").Filter(new LocatorFilterOptions { HasText = "holiday.jpg" });
        await Expect(photoAtBob.Locator(".file-state")).ToHaveTextAsync("received");
        var thumbnail = photoAtBob.Locator("img.thumbnail");
        await Expect(thumbnail).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^blob:"));
        await WaitUntilAsync(async () => await thumbnail.EvaluateAsync<int>("image => image.complete ? image.naturalWidth : 0") > 0, "the thumbnail is decoded");
        Assert.Equal(320, await thumbnail.EvaluateAsync<int>("image => image.naturalWidth"));
        await Expect(photoAtBob.Locator(".file-size")).ToHaveTextAsync(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{photo.Length / 1024.0:0.#} KiB"));
        await ScreenshotAsync(bobPage, "webui-file-image-bob.png");
        var saved = await bobPage.RunAndWaitForDownloadAsync(() => thumbnail.ClickAsync());
        Assert.Equal("holiday.jpg", saved.SuggestedFilename);
        Assert.Equal(SHA256.HashData(photo), SHA256.HashData(await File.ReadAllBytesAsync((await saved.PathAsync())!)));

        // Alice drops a document on the conversation: bob sees its name and size as a link to save it, no picture. The
        // answer to her upload is held until her page has heard from the node's events that bob saved it: an answer
        // older than the page's news must not take the file back to waiting (on a loaded machine it can come last).
        var sentDocument = alicePage.Locator("#messages li.outgoing .file").Filter(new LocatorFilterOptions { HasText = "minutes.pdf" });
        await alicePage.RouteAsync(url => url.Contains("/files?name=minutes.pdf", StringComparison.Ordinal), async route =>
        {
            var answer = await route.FetchAsync();
            try
            {
                await Expect(sentDocument.Locator(".file-state")).ToHaveTextAsync("delivered ✓");
            }
            finally
            {
                await route.FulfillAsync(new RouteFulfillOptions { Response = answer });
            }
        });
        var document = RandomNumberGenerator.GetBytes(40 * 1024);
        var transfer = await alicePage.EvaluateHandleAsync(
            """
            (base64) => {
              const transfer = new DataTransfer();
              const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
              transfer.items.add(new File([bytes], "minutes.pdf", { type: "application/pdf" }));
              return transfer;
            }
            """,
            Convert.ToBase64String(document));
        await alicePage.Locator("#messages").DispatchEventAsync("dragover", new Dictionary<string, object> { ["dataTransfer"] = transfer });
        await Expect(alicePage.Locator("#conversation")).ToHaveClassAsync(new System.Text.RegularExpressions.Regex("dropping"));
        await alicePage.Locator("#messages").DispatchEventAsync("drop", new Dictionary<string, object> { ["dataTransfer"] = transfer });
        await Expect(alicePage.Locator("#conversation")).Not.ToHaveClassAsync(new System.Text.RegularExpressions.Regex("dropping"));
        var documentAtBob = bobPage.Locator("#messages li.incoming .file").Filter(new LocatorFilterOptions { HasText = "minutes.pdf" });
        await Expect(documentAtBob.Locator(".file-state")).ToHaveTextAsync("received");
        await Expect(documentAtBob.Locator("button.file-name")).ToHaveTextAsync("minutes.pdf");
        await Expect(documentAtBob.Locator(".file-size")).ToHaveTextAsync("40 KiB");
        await Expect(documentAtBob.Locator("img")).ToHaveCountAsync(0);
        await ScreenshotAsync(bobPage, "webui-file-document-bob.png");
        var savedDocument = await bobPage.RunAndWaitForDownloadAsync(() => documentAtBob.Locator("button.file-name").ClickAsync());
        Assert.Equal("minutes.pdf", savedDocument.SuggestedFilename);
        Assert.Equal(SHA256.HashData(document), SHA256.HashData(await File.ReadAllBytesAsync((await savedDocument.PathAsync())!)));
        // The answer came (the upload's placeholder is gone) and the document stays delivered.
        await Expect(alicePage.Locator("#messages li.upload")).ToHaveCountAsync(0);
        await Expect(sentDocument.Locator(".file-state")).ToHaveTextAsync("delivered ✓");
        await ScreenshotAsync(alicePage, "webui-files-alice.png");

        // In a room the same: alice drops a picture on the room's conversation; bob's node pulls it from hers, and his
        // page shows it inline and saves it intact.
        var room = await aliceNode.Chat.CreateGroupAsync("photo club", historyEnabled: false, CancellationToken.None);
        await aliceNode.Chat.InviteToGroupAsync(room.IdText, bob, CancellationToken.None);
        await WaitUntilAsync(async () => (await bobNode.Chat.GetGroupsAsync(CancellationToken.None)).Any(g => g.IdText == room.IdText), "bob is invited");
        await bobNode.Chat.JoinGroupAsync(room.IdText, CancellationToken.None);
        await WaitUntilAsync(async () => (await aliceNode.Chat.GetGroupAsync(room.IdText, CancellationToken.None)).Members.Count == 2, "alice sees bob in the room");
        await alicePage.Locator("#rooms li").Filter(new LocatorFilterOptions { HasText = "photo club" }).ClickAsync();
        await bobPage.Locator("#rooms li").Filter(new LocatorFilterOptions { HasText = "photo club" }).ClickAsync();
        var picture = TestImages.Photo(500, 700, SkiaSharp.SKEncodedImageFormat.Png);
        var pictureTransfer = await alicePage.EvaluateHandleAsync(
            """
            (base64) => {
              const transfer = new DataTransfer();
              transfer.items.add(new File([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))], "sketch.png", { type: "image/png" }));
              return transfer;
            }
            """,
            Convert.ToBase64String(picture));
        await alicePage.Locator("#messages").DispatchEventAsync("drop", new Dictionary<string, object> { ["dataTransfer"] = pictureTransfer });
        var pictureAtBob = bobPage.Locator("#messages li.incoming .file").Filter(new LocatorFilterOptions { HasText = "sketch.png" });
        await Expect(pictureAtBob.Locator(".file-state")).ToHaveTextAsync("received");
        var roomThumbnail = pictureAtBob.Locator("img.thumbnail");
        await WaitUntilAsync(async () => await roomThumbnail.EvaluateAsync<int>("image => image.complete ? image.naturalHeight : 0") > 0, "the room thumbnail is decoded");
        Assert.Equal(320, await roomThumbnail.EvaluateAsync<int>("image => image.naturalHeight"));
        var savedPicture = await bobPage.RunAndWaitForDownloadAsync(() => roomThumbnail.ClickAsync());
        Assert.Equal(SHA256.HashData(picture), SHA256.HashData(await File.ReadAllBytesAsync((await savedPicture.PathAsync())!)));
        await ScreenshotAsync(bobPage, "webui-file-room-bob.png");

        Assert.True(problems.Count == 0, "the pages reported errors:\n" + string.Join("\n", problems));
        await browser.CloseAsync();
    }

    /// <summary>
    /// Put in each page before its script runs: a stand-in for the Notification API that records what is asked and
    /// shown (permission "default" until asked), and every text the conversation header's state takes.
    /// </summary>
    private const string RecordingScript = """
        (() => {
          const shown = [];
          let asked = 0;
          let permission = "default";
          class RecordedNotification extends EventTarget {
            constructor(title, options) { super(); shown.push({ title, body: options?.body ?? "" }); }
            static get permission() { return permission; }
            static async requestPermission() { asked++; permission = "granted"; return permission; }
            close() {}
          }
          window.Notification = RecordedNotification;
          window.__notifications = { shown, asked: () => asked };
          window.__peerStates = [];
          document.addEventListener("DOMContentLoaded", () => {
            const header = document.getElementById("peer-state");
            new MutationObserver(() => window.__peerStates.push(header.textContent)).observe(header, { childList: true, characterData: true, subtree: true });
          });
        })();
        """;

    /// <summary>Alice and bob on loopback, contacts already (the first test shows how a request is made and accepted in the page).</summary>
    private static async Task<(ParleyNode Alice, ParleyNode Bob)> ContactsAsync(LoopbackNetwork network)
    {
        await network.StartNodesAsync(4);
        var alice = await network.StartUserAsync("alice");
        var bob = await network.StartUserAsync("bob");
        var aliceHandle = alice.Chat!.Handle.ToString();
        await alice.Chat.SendAsync(bob.Chat!.Handle.ToString(), "hello", CancellationToken.None);
        await WaitUntilAsync(async () => (await bob.Chat.GetContactsAsync(CancellationToken.None)).Any(c => c.Handle.ToString() == aliceHandle), "bob has alice's request");
        await bob.Chat.AcceptAsync(aliceHandle, CancellationToken.None);
        return (alice, bob);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMilliseconds(Patience);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not in time: {what}");
            await Task.Delay(50);
        }
    }

    /// <summary>Headless Chromium with the flags this machine's closed network needs (no background connections).</summary>
    private static async Task<IBrowser> LaunchAsync(IPlaywright playwright, string chromium)
    {
        SetDefaultExpectTimeout(Patience);
        return await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
    }

    private static string FindChromium()
    {
        var candidates = Environment.GetEnvironmentVariable("PARLEY_CHROMIUM") is { Length: > 0 } configured ? [configured] : ChromiumPaths;
        return candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                $"Chromium is needed for the web UI browser test and was not found at {string.Join(", ", candidates)}. " +
                "Install it with: apt-get install -y chromium (scripts/test, which CI runs, installs it), or set PARLEY_CHROMIUM to its path.");
    }

    private async Task<IPage> OpenAsync(IBrowser browser, Uri address, string who, List<string> problems, bool expectRefusal = false, string? initScript = null, bool acceptDownloads = false)
    {
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1000, Height = 640 }, AcceptDownloads = acceptDownloads });
        if (initScript is not null)
        {
            await context.AddInitScriptAsync(initScript);
        }
        var page = await context.NewPageAsync();
        page.Console += (_, message) =>
        {
            // A refused token is a 401 the browser logs; anything else is a fault of the page.
            if (message.Type is "error" or "warning" && !(expectRefusal && message.Text.Contains("401", StringComparison.Ordinal)))
            {
                problems.Add($"{who}: console {message.Type}: {message.Text}");
            }
        };
        page.PageError += (_, error) => problems.Add($"{who}: page error: {error}");
        await page.GotoAsync(address.ToString());
        output.WriteLine($"{who}: {address.GetLeftPart(UriPartial.Path)}");
        return page;
    }

    private async Task ScreenshotAsync(IPage page, string name)
    {
        var file = Path.Combine(AppContext.BaseDirectory, "TestResults", name);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file });
        output.WriteLine($"screenshot: {file}");
    }
}
