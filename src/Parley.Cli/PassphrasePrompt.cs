using System.Text;
using Parley.Storage;

namespace Parley.Cli;

/// <summary>
/// Asks for the passphrase of a protected data folder on the terminal, without echo. Never through a pipe: a script
/// cannot answer a prompt it does not expect, so it gets a clear error instead.
/// </summary>
internal static class PassphrasePrompt
{
    public static Func<bool, CancellationToken, Task<string>> For(string dataFolder) => (again, ct) => AskAsync(dataFolder, again, ct);

    private static async Task<string> AskAsync(string dataFolder, bool again, CancellationToken cancellationToken)
    {
        if (Console.IsInputRedirected)
        {
            throw new PassphraseRequiredException(
                $"the keys in {dataFolder} are protected by a passphrase, and parley asks for it only on a terminal (stdin is not one): give --passphrase-file <file> or set {GlobalOptions.PassphraseVariable}");
        }
        // Asking whether a key is waiting puts the terminal in .NET's no-echo mode, which it keeps until exit: done before
        // the prompt shows, so that nothing typed as soon as it shows is echoed before the first ReadKey starts.
        _ = Console.KeyAvailable;
        Console.Error.Write(again ? "wrong passphrase; try again: " : $"passphrase for {dataFolder}: ");
        // Console.ReadKey blocks: it runs aside, so that Ctrl-C still stops the command (the read ends with the process).
        var passphrase = await Task.Run(ReadWithoutEcho, CancellationToken.None).WaitAsync(cancellationToken);
        Console.Error.WriteLine();
        return passphrase;
    }

    private static string ReadWithoutEcho()
    {
        var typed = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                return typed.ToString();
            }
            if (key.Key == ConsoleKey.Backspace)
            {
                typed.Length = Math.Max(0, typed.Length - 1);
            }
            else if (!char.IsControl(key.KeyChar))
            {
                typed.Append(key.KeyChar);
            }
        }
    }
}
