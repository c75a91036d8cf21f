using Parley.Chat.Crypto;
using Parley.Node.Api;
using Parley.Node.Contacts;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>How the CLI and the terminal chat show a contact link and what adding one did.</summary>
internal static class ContactLinkView
{
    /// <summary>
    /// The link, its QR code and the fingerprint. QRCoder draws the light modules as blocks, right for the light-on-dark
    /// text of most terminals; where the console has colours they are made white on black, so it scans on a light theme too.
    /// </summary>
    public static void Show(IAnsiConsole console, ContactLinkDto link)
    {
        console.MarkupLine($"your contact link: [bold]{Markup.Escape(link.Link)}[/]");
        var colours = console.Profile.Capabilities.ColorSystem != ColorSystem.NoColors;
        foreach (var row in ContactLink.Parse(link.Link).QrText().Split('\n'))
        {
            console.MarkupLine(colours ? $"[white on black]{Markup.Escape(row)}[/]" : Markup.Escape(row));
        }
        console.MarkupLine($"[grey]it carries your half of every safety number: {SafetyNumberHalf(link.Fingerprint)}; whoever opens it checks it against your key[/]");
    }

    /// <summary>What adding by link did: the safety number matched, and the request sent (or why none was).</summary>
    public static string Added(AddedContactDto added) =>
        $"[green]✓ the safety number matches: {Markup.Escape(added.Contact.Handle)} holds the key the link names[/]\n" +
        (added.Request is { } request
            ? $"  request sent to {Markup.Escape(added.Contact.Handle)}: {Markup.Escape(request.Text)}"
            : $"  {Markup.Escape(added.Contact.Handle)} is {(added.Contact.State == "requested" ? "already asked" : "already a contact")}") +
        $"\n  [grey]safety number {Markup.Escape(SafetyNumber.Format(added.SafetyNumber))}[/]";

    /// <summary>A refusal of an add: a safety number mismatch is a loud warning, anything else a plain error.</summary>
    public static string Refused(ApiException refusal) => refusal.Status == System.Net.HttpStatusCode.Conflict
        ? $"[bold white on red]{Markup.Escape(refusal.Message)}[/]"
        : $"[red]{Markup.Escape(refusal.Message)}[/]";

    private static string SafetyNumberHalf(string digits) => string.Join(' ', Enumerable.Range(0, digits.Length / 5).Select(i => digits.Substring(i * 5, 5)));
}
