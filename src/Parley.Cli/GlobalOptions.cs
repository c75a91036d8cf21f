using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Parley.Chat.Directory;
using Parley.Chat.Messaging;
using Parley.Core.Multiformats;
using Parley.Net.PortMapping;
using Parley.Node;
using Spectre.Console;

namespace Parley.Cli;

/// <summary>The options every command takes, and what they turn into.</summary>
internal sealed record GlobalOptions(
    Option<string> Data,
    Option<LogLevel> LogLevel,
    Option<string[]> Bootstrap,
    Option<string> DhtProtocol,
    Option<string?> PassphraseFile,
    Option<bool> Json,
    Option<int> NameDifficulty)
{
    public const string PassphraseVariable = "PARLEY_PASSPHRASE";


    public void AddTo(RootCommand root)
    {
        root.Options.Add(Data);
        root.Options.Add(LogLevel);
        root.Options.Add(Bootstrap);
        root.Options.Add(DhtProtocol);
        root.Options.Add(PassphraseFile);
        root.Options.Add(Json);
        root.Options.Add(NameDifficulty);
    }

    public static ILoggerFactory CreateLoggerFactory(LogLevel level) =>
        LoggerFactory.Create(builder =>
        {
            builder.SetMinimumLevel(level);
            // stdout carries the command's output; logs go to stderr.
            builder.AddConsole(options => options.LogToStandardErrorThreshold = Microsoft.Extensions.Logging.LogLevel.Trace);
            builder.AddSimpleConsole(options => options.SingleLine = true);
        });

    /// <summary>Node options from the command line; the error says what is wrong with them.</summary>
    /// <summary>For the commands that keep a node running (<c>node</c>, <c>up</c>), which ask the home router for a port mapping unless told not to.</summary>
    public static Option<bool> NoPortMappingOption() => new("--no-port-mapping") { Description = "Do not ask the home router (NAT-PMP) to forward the listen port" };

    public ParleyNodeOptions? NodeOptions(ParseResult parse, IReadOnlyList<string> listen, bool keepData, out string error, ChatOptions? chat = null, bool portMapping = false)
    {
        if (!TryParseAll(listen, out var listenAddresses, out error) || !TryParseAll(parse.GetValue(Bootstrap) ?? [], out var bootstrap, out error))
        {
            return null;
        }
        string? passphrase;
        try
        {
            passphrase = ReadPassphrase(parse);
        }
        catch (IOException e)
        {
            error = $"cannot read the passphrase file: {e.Message}";
            return null;
        }
        return new ParleyNodeOptions
        {
            DataFolder = keepData ? parse.GetValue(Data) : null,
            Listen = listenAddresses,
            Bootstrap = bootstrap,
            DhtProtocol = parse.GetValue(DhtProtocol)!,
            Passphrase = passphrase,
            AskPassphrase = PassphrasePrompt.For(parse.GetValue(Data)!),
            Directory = new DirectoryOptions { NameClaimDifficulty = parse.GetValue(NameDifficulty) },
            Chat = chat ?? new ChatOptions(),
            Reachability = new ReachabilityOptions { PortMapping = portMapping ? new PortMappingOptions() : null },
        };
    }

    public string? ReadPassphrase(ParseResult parse)
    {
        if (parse.GetValue(PassphraseFile) is { } file)
        {
            return File.ReadAllText(file).TrimEnd('\r', '\n');
        }
        return Environment.GetEnvironmentVariable(PassphraseVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
    }

    /// <summary>"cannot reach the network" and, for each bootstrap address that could not be used, which and why.</summary>
    public static string NoNetwork(JoinReport join) =>
        "cannot reach the network: " + (join.Unusable.Count == 0
            ? "no bootstrap peer answered and no saved peer is up (give --bootstrap <multiaddr>)"
            : $"no bootstrap peer answered ({string.Join("; ", join.Unusable.Select(f => $"{f.Address}: {f.Reason}"))}) and no saved peer is up");

    /// <summary>
    /// Spectre's console on stdout (or <paramref name="output"/>): colours on a terminal; through a pipe plain text, one line per line, never wrapped
    /// at 80 columns for a script to rejoin.
    /// </summary>
    public static IAnsiConsole CreateConsole(bool terminal, TextWriter? output = null)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Out = new AnsiConsoleOutput(output ?? Console.Out),
        });
        if (!terminal)
        {
            console.Profile.Width = short.MaxValue;
        }
        return console;
    }

    public static void PrintJson<T>(T value) => Console.WriteLine(CliJson.Serialize(value));

    public static int Fail(string message)
    {
        Console.Error.WriteLine($"parley: {message}");
        return 1;
    }

    public static bool TryParseAll(IReadOnlyList<string> texts, out List<Multiaddr> addresses, out string error)
    {
        addresses = [];
        foreach (var text in texts)
        {
            if (!Multiaddr.TryParse(text, out var address))
            {
                error = $"'{text}' is not a valid multiaddr";
                return false;
            }
            addresses.Add(address!);
        }
        error = "";
        return true;
    }
}
