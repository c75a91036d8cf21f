using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace Parley.Cli.Tests;

/// <summary>
/// Runs the built `parley` CLI as a child process and reads its output line by line; kills it on dispose. Every wait
/// takes a timeout and fails with what the process printed (stdout so far and stderr) instead of hanging.
/// </summary>
public sealed class ParleyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _commandLine;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private ParleyProcess(Process process, string commandLine)
    {
        _process = process;
        _commandLine = commandLine;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.Writer.TryComplete();
                return;
            }
            lock (_stdout)
            {
                _stdout.AppendLine(e.Data);
            }
            _lines.Writer.TryWrite(e.Data);
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

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the process wrote to stdout so far (also the lines not read yet).</summary>
    public string Stdout
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

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

    /// <summary>The command, its output so far and its stderr, for assertion messages.</summary>
    public string Describe() => $"`parley {_commandLine}`\n--- stdout ---\n{Stdout}--- stderr ---\n{Stderr}";

    public static ParleyProcess Start(params string[] arguments) => StartProcess(null, null, arguments);

    /// <summary>Starts it under a umask of its own (octal, such as "000"), through the shell, which sets it and then
    /// becomes the process (exec), so killing it kills parley.</summary>
    public static ParleyProcess StartWithUmask(string? umask, params string[] arguments) => StartProcess(null, umask, arguments);

    /// <summary>Starts parley inside the network namespace <paramref name="ns"/> (the NAT lab), or here when null.</summary>
    public static ParleyProcess StartIn(string? ns, params string[] arguments) => StartProcess(ns, null, arguments);

    private static ParleyProcess StartProcess(string? ns, string? umask, string[] arguments)
    {
        // Through env, so that Ctrl-C (SIGINT) reaches parley as it does from a terminal, even when the test runner was
        // started with SIGINT ignored (a background job of a non-interactive shell), which children inherit. env and
        // ip netns exec (for the NAT lab) replace themselves with what they run, so the process id stays the node's.
        var start = new ProcessStartInfo("env") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add("--default-signal=INT");
        if (ns is not null)
        {
            foreach (var part in new[] { "ip", "netns", "exec", ns })
            {
                start.ArgumentList.Add(part);
            }
        }
        if (umask is not null)
        {
            start.ArgumentList.Add("/bin/sh");
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add($"umask {umask} && exec \"$@\"");
            start.ArgumentList.Add("sh");
        }
        start.ArgumentList.Add("dotnet");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "parley.dll"));
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        // Output through a pipe is UTF-8 whatever the machine's locale (the terminal chat prints ✓ and →).
        start.StandardOutputEncoding = Encoding.UTF8;
        start.StandardErrorEncoding = Encoding.UTF8;
        var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start parley");
        return new ParleyProcess(process, string.Join(' ', arguments));
    }

    /// <summary>Runs a one-shot command to completion: exit code, stdout, stderr.</summary>
    /// <exception cref="TimeoutException">It did not finish in time (it is killed; the message holds its output).</exception>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(TimeSpan timeout, params string[] arguments) => RunInAsync(null, timeout, arguments);

    /// <summary>As <see cref="RunAsync"/>, inside the network namespace <paramref name="ns"/> when it is not null.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunInAsync(string? ns, TimeSpan timeout, params string[] arguments)
    {
        await using var process = StartIn(ns, arguments);
        var exitCode = await process.WaitForExitAsync(timeout);
        return (exitCode, process.Stdout, process.Stderr);
    }

    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        if (await _lines.Reader.WaitToReadAsync(cancellationToken) && _lines.Reader.TryRead(out var line))
        {
            return line;
        }
        return null;
    }

    /// <summary>Reads lines until one matches; the lines before it are skipped.</summary>
    /// <exception cref="TimeoutException">No such line within <paramref name="timeout"/>, or the process ended first.</exception>
    public async Task<string> ReadUntilAsync(Func<string, bool> match, TimeSpan timeout, string what)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (await ReadLineAsync(cts.Token) is { } line)
            {
                if (match(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"no line with {what} within {timeout.TotalSeconds:0} s from {Describe()}");
        }
        throw new TimeoutException($"the process ended without printing {what}: {Describe()}");
    }

    public Task<string> ReadUntilAsync(string contains, TimeSpan timeout) =>
        ReadUntilAsync(line => line.Contains(contains, StringComparison.Ordinal), timeout, $"'{contains}'");

    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>End of input, as when the other end of a pipe closes.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Waits for the process to end by itself; returns its exit code.</summary>
    /// <exception cref="TimeoutException">It is still running after <paramref name="timeout"/> (it is killed; the message holds its output).</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            Kill();
            throw new TimeoutException($"still running after {timeout.TotalSeconds:0} s (killed): {Describe()}");
        }
        // WaitForExitAsync returns once the output pipes are drained too, so Stdout and Stderr are complete.
        return _process.ExitCode;
    }

    /// <summary>SIGTERM, then waits for the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        await SignalAsync("TERM");
        return await WaitForExitAsync(timeout);
    }

    /// <summary>Sends a signal (TERM, INT…) as `kill` from another process does; Ctrl-C on a terminal is INT.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>SIGKILL (kill -9): the process gets no chance to clean up.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }
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
