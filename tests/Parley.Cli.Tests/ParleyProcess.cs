using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace Parley.Cli.Tests;

/// <summary>Runs the built `parley` CLI as a child process and reads its output line by line; kills it on dispose.</summary>
public sealed class ParleyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stderr = new();

    private ParleyProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.Writer.TryComplete();
            }
            else
            {
                _lines.Writer.TryWrite(e.Data);
            }
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static ParleyProcess Start(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "parley.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        return new ParleyProcess(Process.Start(start) ?? throw new InvalidOperationException("cannot start parley"));
    }

    /// <summary>Runs a one-shot command to completion: exit code, stdout, stderr.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, params string[] arguments)
    {
        await using var process = Start(arguments);
        var stdout = new StringBuilder();
        using var cts = new CancellationTokenSource(timeout);
        while (await process.ReadLineAsync(cts.Token) is { } line)
        {
            stdout.AppendLine(line);
        }
        await process._process.WaitForExitAsync(cts.Token);
        return (process._process.ExitCode, stdout.ToString(), process.Stderr);
    }

    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        if (await _lines.Reader.WaitToReadAsync(cancellationToken) && _lines.Reader.TryRead(out var line))
        {
            return line;
        }
        return null;
    }

    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
