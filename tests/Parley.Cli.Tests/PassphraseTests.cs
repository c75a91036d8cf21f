using System.Diagnostics;
using System.Text;

namespace Parley.Cli.Tests;

/// <summary>
/// A data folder protected by a passphrase: on a terminal parley asks for it without echo (and again after a wrong
/// one); through a pipe it never asks and says how to give it. The terminal is a pseudo-terminal made by `script`,
/// which echoes what is typed unless the program turns echo off, as a real terminal does.
/// </summary>
public sealed class PassphraseTests : IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private const string Passphrase = "correct-horse-9";
    private const string WrongPassphrase = "not-it-123";
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("parley-passphrase-test-");

    public void Dispose() => _data.Delete(recursive: true);

    [Fact]
    public async Task A_protected_folder_asks_on_a_terminal_without_echo_and_fails_clearly_through_a_pipe()
    {
        var folder = Path.Combine(_data.FullName, "paula");
        var file = Path.Combine(_data.FullName, "passphrase");
        await File.WriteAllTextAsync(file, Passphrase + "\n");
        var (initExit, initOut, initErr) = await ParleyProcess.RunAsync(Timeout, "--data", folder, "--name-difficulty", "8", "--passphrase-file", file, "init", "--name", "paula", "--listen", "/ip4/127.0.0.1/tcp/0");
        Assert.True(initExit == 0, initErr);
        var handle = initOut.Trim();

        // Through a pipe: no prompt, a clear error.
        var (pipedExit, _, pipedErr) = await ParleyProcess.RunAsync(Timeout, "--data", folder, "whoami", "--listen", "/ip4/127.0.0.1/tcp/0");
        Assert.NotEqual(0, pipedExit);
        Assert.Contains($"the keys in {folder} are protected by a passphrase, and parley asks for it only on a terminal (stdin is not one): give --passphrase-file <file> or set PARLEY_PASSPHRASE", pipedErr, StringComparison.Ordinal);

        // On a terminal: asked, a wrong answer asked again, nothing typed is echoed.
        var dll = Path.Combine(AppContext.BaseDirectory, "parley.dll");
        var start = new ProcessStartInfo("script") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { "--quiet", "--echo", "always", "--return", "--command", $"dotnet {dll} --data {folder} whoami --listen /ip4/127.0.0.1/tcp/0", "/dev/null" })
        {
            start.ArgumentList.Add(argument);
        }
        using var terminal = Process.Start(start)!;
        try
        {
            var screen = new StringBuilder();
            var reading = ReadAllAsync(terminal.StandardOutput, screen);
            await WaitForAsync(screen, $"passphrase for {folder}: ");
            await terminal.StandardInput.WriteAsync(WrongPassphrase + "\r");
            await terminal.StandardInput.FlushAsync();
            await WaitForAsync(screen, "wrong passphrase; try again: ");
            await terminal.StandardInput.WriteAsync(Passphrase + "\r");
            await terminal.StandardInput.FlushAsync();
            using var exit = new CancellationTokenSource(Timeout);
            await terminal.WaitForExitAsync(exit.Token);
            await reading;
            var output = Screen(screen);
            Assert.True(terminal.ExitCode == 0, output);
            Assert.Contains(handle, output, StringComparison.Ordinal);
            Assert.DoesNotContain(Passphrase, output, StringComparison.Ordinal);
            Assert.DoesNotContain(WrongPassphrase, output, StringComparison.Ordinal);
        }
        finally
        {
            if (!terminal.HasExited)
            {
                terminal.Kill(entireProcessTree: true);
            }
        }
    }

    private static async Task ReadAllAsync(StreamReader output, StringBuilder screen)
    {
        var buffer = new char[1024];
        int read;
        while ((read = await output.ReadAsync(buffer)) > 0)
        {
            lock (screen)
            {
                screen.Append(buffer, 0, read);
            }
        }
    }

    private static string Screen(StringBuilder screen)
    {
        lock (screen)
        {
            return screen.ToString();
        }
    }

    /// <summary>The prompt ends without a newline: waits for the text itself.</summary>
    private static async Task WaitForAsync(StringBuilder screen, string text)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!Screen(screen).Contains(text, StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"no '{text}' on the terminal within {Timeout.TotalSeconds:0} s:\n{Screen(screen)}");
            }
            await Task.Delay(50);
        }
    }
}
