using System.CommandLine;
using Parley.Chat.Linking;
using Parley.Node;
using Parley.Node.Api;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>`parley device link|add|list|remove`: linking devices to the account (docs/linking.md).</summary>
internal static class DeviceCommands
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    public static Command Create(GlobalOptions options)
    {
        var device = new Command("device", "Your account on several devices: link a new one, list or remove them");

        var link = new Command("link", "Show a one-time code (and its QR code) that links a new device to your account; your node must be running");
        link.SetAction((parse, ct) => LinkAsync(options, parse, ct));
        device.Subcommands.Add(link);

        var code = new Argument<string>("code") { Description = "The link code the existing device shows (parley-link:…)" };
        var name = new Option<string>("--name") { Description = "What to call this device in the list (default: the machine's name)", DefaultValueFactory = _ => Environment.MachineName };
        var listen = ChatCommands.ListenOption();
        var add = new Command("add", "Make this data folder (no account yet) a device of the account whose device shows the code") { code, name, listen };
        add.SetAction((parse, ct) => AddAsync(options, parse, parse.GetValue(code)!, parse.GetValue(name)!, parse.GetValue(listen)!, ct));
        device.Subcommands.Add(add);

        var id = new Argument<string>("id") { Description = "The device's id, as parley device list shows it" };
        device.Subcommands.Add(ChatCommands.Build(options, "remove", "Remove a device from your account (a lost or sold one): it is dropped from the published device list and its key is barred for good", [id], network: true, async (api, parse, json, _, ct) =>
        {
            var left = await api.RemoveDeviceAsync(parse.GetValue(id)!, ct);
            if (json)
            {
                GlobalOptions.PrintJson(left);
                return 0;
            }
            Console.WriteLine($"removed {parse.GetValue(id)}; the account's devices now: {string.Join(", ", left.Select(d => d.Name ?? d.Id))}");
            Console.WriteLine("it held your account key: if it was stolen, see docs/devices.md (a thief can still sign records for the account)");
            return 0;
        }));
        device.Subcommands.Add(ChatCommands.Build(options, "list", "List the account's devices known here (this one marked)", [], network: false, async (api, _, json, _, ct) =>
        {
            var devices = await api.DevicesAsync(ct);
            if (json)
            {
                GlobalOptions.PrintJson(devices);
                return 0;
            }
            foreach (var entry in devices)
            {
                Console.WriteLine($"{(entry.ThisDevice ? "*" : " ")} {entry.Id} {entry.Name ?? "(first device)"}  certified {entry.CertifiedAt:yyyy-MM-dd HH:mm} UTC{(entry.ThisDevice ? "  (this device)" : "")}");
            }
            return 0;
        }));
        return device;
    }

    private static async Task<int> LinkAsync(GlobalOptions options, ParseResult parse, CancellationToken cancellationToken)
    {
        var data = parse.GetValue(options.Data)!;
        var json = parse.GetValue(options.Json);
        using var api = await ApiClient.TryConnectAsync(data, cancellationToken);
        if (api is null)
        {
            return GlobalOptions.Fail($"no node is running on {data}: start it first (parley up or parley node), since the new device connects to it");
        }
        try
        {
            var offer = await api.CreateLinkOfferAsync(cancellationToken);
            if (json)
            {
                GlobalOptions.PrintJson(new LinkCodeLine("code", offer.Code, offer.ExpiresAt));
            }
            else
            {
                Show(offer);
            }
            var asked = false;
            while (true)
            {
                await Task.Delay(PollInterval, cancellationToken);
                offer = await api.LinkOfferAsync(cancellationToken);
                switch (offer.State)
                {
                    case "confirming" when !asked:
                        asked = true;
                        Console.WriteLine(json
                            ? CliJson.Serialize(new ConfirmLine("confirm", offer.VerificationCode, offer.DeviceName, offer.Device))
                            : $"verification code: {offer.VerificationCode}\nthe device \"{offer.DeviceName}\" ({offer.Device}) wants to link to your account. Does it show the same code? [y/N]");
                        var answer = await Console.In.ReadLineAsync(cancellationToken);
                        var accept = answer?.Trim().StartsWith('y') == true || answer?.Trim().StartsWith('Y') == true;
                        await api.ConfirmLinkAsync(accept, cancellationToken);
                        break;
                    case "linked":
                        Console.WriteLine(json ? CliJson.Serialize(new DeviceLinkedLine("linked", offer.Device)) : $"linked: {offer.DeviceName} ({offer.Device}) is now a device of your account");
                        return 0;
                    case "failed":
                        return GlobalOptions.Fail($"the link did not happen: {offer.Error}");
                    case "waiting" when DateTimeOffset.UtcNow >= offer.ExpiresAt:
                        return GlobalOptions.Fail("the link code expired; run parley device link again for a new one");
                }
            }
        }
        catch (ApiException e)
        {
            return GlobalOptions.Fail(e.Message);
        }
        catch (HttpRequestException e)
        {
            return GlobalOptions.Fail($"the node running on {data} stopped answering: {e.Message}");
        }
    }

    private static void Show(LinkOfferDto offer)
    {
        var console = GlobalOptions.CreateConsole(!Console.IsOutputRedirected);
        console.MarkupLine($"link code: [bold]{Markup.Escape(offer.Code)}[/]");
        var colours = console.Profile.Capabilities.ColorSystem != ColorSystem.NoColors;
        foreach (var row in QrRendering.Text(LinkOfferDto.LinkCodeQr(LinkCode.Parse(offer.Code))).Split('\n'))
        {
            console.MarkupLine(colours ? $"[white on black]{Markup.Escape(row)}[/]" : Markup.Escape(row));
        }
        console.MarkupLine($"[grey]on the new device: parley device add <code> (or scan it in its web UI); valid until {offer.ExpiresAt.ToLocalTime():HH:mm}, once[/]");
        console.MarkupLine("[grey]whoever uses this code gets your account: your keys, contacts and recent messages. Compare the verification codes before you confirm.[/]");
    }

    private static async Task<int> AddAsync(GlobalOptions options, ParseResult parse, string text, string deviceName, string listen, CancellationToken cancellationToken)
    {
        LinkCode code;
        try
        {
            code = LinkCode.Parse(text);
        }
        catch (FormatException e)
        {
            return GlobalOptions.Fail(e.Message);
        }
        var data = parse.GetValue(options.Data)!;
        var json = parse.GetValue(options.Json);
        using (var running = await ApiClient.TryConnectAsync(data, cancellationToken))
        {
            if (running is not null)
            {
                return await AddThroughApiAsync(running, text, deviceName, json, cancellationToken);
            }
        }
        var nodeOptions = options.NodeOptions(parse, [listen], keepData: true, out var error);
        if (nodeOptions is null)
        {
            return GlobalOptions.Fail(error);
        }
        using var loggerFactory = GlobalOptions.CreateLoggerFactory(parse.GetValue(options.LogLevel));
        try
        {
            await using var node = await ParleyNode.StartAsync(nodeOptions, loggerFactory, cancellationToken);
            if (await node.OpenChatAsync(cancellationToken))
            {
                return GlobalOptions.Fail($"{data} already has an account ({node.Chat!.Handle}); link a new device from an empty data folder (--data)");
            }
            if (nodeOptions.Bootstrap.Count > 0)
            {
                await node.JoinAsync(cancellationToken);
            }
            var result = await node.LinkAsync(code, deviceName, verification => ShowVerification(json, verification), cancellationToken);
            PrintLinked(json, node.Chat!.Handle.ToString(), result.Account.ToString(), result.Contacts, result.Rooms, result.Messages);
            return 0;
        }
        catch (LinkException e)
        {
            return GlobalOptions.Fail(e.Message);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or System.Net.Sockets.SocketException or Chat.Messaging.ChatException)
        {
            return GlobalOptions.Fail(e.Message);
        }
    }

    private static async Task<int> AddThroughApiAsync(ApiClient api, string code, string deviceName, bool json, CancellationToken cancellationToken)
    {
        try
        {
            var join = await api.AddDeviceAsync(code, deviceName, cancellationToken);
            var shown = false;
            while (true)
            {
                if (join.VerificationCode is { } verification && !shown)
                {
                    shown = true;
                    ShowVerification(json, verification);
                }
                switch (join.State)
                {
                    case "linked":
                        PrintLinked(json, join.Handle!, join.Account!, join.Contacts, join.Rooms, join.Messages);
                        return 0;
                    case "failed":
                        return GlobalOptions.Fail(join.Error!);
                }
                await Task.Delay(PollInterval, cancellationToken);
                join = await api.DeviceJoinAsync(cancellationToken);
            }
        }
        catch (ApiException e)
        {
            return GlobalOptions.Fail(e.Message);
        }
    }

    private static void ShowVerification(bool json, string verification) => Console.WriteLine(json
        ? CliJson.Serialize(new VerifyLine("verify", verification))
        : $"verification code: {verification}\ncheck that the existing device shows the same code, and confirm there");

    private static void PrintLinked(bool json, string handle, string account, int contacts, int rooms, int messages) => Console.WriteLine(json
        ? CliJson.Serialize(new AccountLinkedLine("linked", handle, account, contacts, rooms, messages))
        : $"linked: this device is now {handle} ({contacts} contacts, {rooms} rooms, {messages} messages)");
}
