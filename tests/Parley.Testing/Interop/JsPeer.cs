using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Parley.Testing.Interop;

/// <summary>Thrown when the js peer reports an error, exits, or does not answer in time.</summary>
public sealed class JsPeerException : Exception
{
    public JsPeerException()
    {
    }

    public JsPeerException(string message)
        : base(message)
    {
    }

    public JsPeerException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A js-libp2p node (tests/interop/peer.mjs) running in a child node process, driven over
/// JSON lines on stdin/stdout. Requires <c>npm ci</c> in tests/interop.
/// </summary>
public sealed class JsPeer : IAsyncDisposable
{
    private static readonly TimeSpan DefaultCommandTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan DefaultEventTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private const int StderrLinesKept = 400;

    private readonly Process _process;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly Lock _eventsGate = new();
    private readonly List<JsonElement> _events = [];
    private readonly List<EventWaiter> _eventWaiters = [];
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly SemaphoreSlim _stdinGate = new(1, 1);
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private long _nextId;
    private int _disposed;

    private JsPeer(Process process)
    {
        _process = process;
        _stdoutPump = Task.Run(PumpStdoutAsync);
        _stderrPump = Task.Run(PumpStderrAsync);
    }

    /// <summary>The js node's peer id (base58, e.g. 12D3KooW...).</summary>
    public string PeerId { get; private set; } = "";

    /// <summary>Listen addresses including the /p2p/&lt;id&gt; suffix.</summary>
    public IReadOnlyList<string> Addresses { get; private set; } = [];

    /// <summary>The identify agentVersion this node announces.</summary>
    public string AgentVersion { get; private set; } = "";

    /// <summary>True once the node process has exited.</summary>
    public bool HasExited => _exited.Task.IsCompleted;

    /// <summary>Snapshot of all events (lines with an "event" field) seen so far.</summary>
    public IReadOnlyList<JsonElement> Events
    {
        get
        {
            lock (_eventsGate)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Starts <c>node tests/interop/peer.mjs</c> and waits for its "listening" line.</summary>
    public static Task<JsPeer> StartAsync(string? agent = null, CancellationToken ct = default) =>
        StartAsync(agent, [], ct);

    /// <summary>
    /// Starts peer.mjs with extra command-line arguments, e.g. <c>["--listen", "/ip6/::1/tcp/0"]</c> or
    /// <c>["--key", hexOfPrivateKeyProtobuf]</c>, and waits for its "listening" line.
    /// </summary>
    public static Task<JsPeer> StartAsync(string? agent, IReadOnlyList<string> extraArgs, CancellationToken ct = default) =>
        StartScriptAsync("peer.mjs", agent, extraArgs, ct);

    /// <summary>
    /// Starts another JSON-lines script of tests/interop (e.g. <c>dht-peer.mjs</c>) that follows peer.mjs's protocol,
    /// with extra command-line arguments, and waits for its "listening" line.
    /// </summary>
    public static Task<JsPeer> StartScriptAsync(string script, string? agent, IReadOnlyList<string> extraArgs, CancellationToken ct = default) =>
        StartScriptAsync(null, script, agent, extraArgs, ct);

    /// <summary>As <see cref="StartScriptAsync(string, string?, IReadOnlyList{string}, CancellationToken)"/>, inside a
    /// network namespace (<c>ip netns exec</c>, which execs node itself, so the process is node's).</summary>
    public static Task<JsPeer> StartScriptInNamespaceAsync(string networkNamespace, string script, string? agent, IReadOnlyList<string> extraArgs, CancellationToken ct = default) =>
        StartScriptAsync(networkNamespace, script, agent, extraArgs, ct);

    private static async Task<JsPeer> StartScriptAsync(string? networkNamespace, string script, string? agent, IReadOnlyList<string> extraArgs, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrEmpty(script);
        ArgumentNullException.ThrowIfNull(extraArgs);
        var interopDir = FindInteropDirectory();
        if (!File.Exists(Path.Combine(interopDir, script)))
        {
            throw new JsPeerException($"{Path.Combine(interopDir, script)} is missing.");
        }

        var nodeCommand = Environment.GetEnvironmentVariable("PARLEY_NODE") ?? "node";
        var startInfo = new ProcessStartInfo(networkNamespace is null ? nodeCommand : "ip")
        {
            WorkingDirectory = interopDir,
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = new UTF8Encoding(false),
            StandardErrorEncoding = new UTF8Encoding(false),
            StandardInputEncoding = new UTF8Encoding(false),
            CreateNoWindow = true,
        };
        if (networkNamespace is not null)
        {
            foreach (var arg in new[] { "netns", "exec", networkNamespace, nodeCommand })
            {
                startInfo.ArgumentList.Add(arg);
            }
        }
        startInfo.ArgumentList.Add(script);
        if (agent is not null)
        {
            startInfo.ArgumentList.Add("--agent");
            startInfo.ArgumentList.Add(agent);
        }

        foreach (var arg in extraArgs)
        {
            startInfo.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        try
        {
            if (!process.Start())
            {
                throw new JsPeerException($"Failed to start the node process for tests/interop/{script}.");
            }
        }
        catch (Win32Exception ex)
        {
            process.Dispose();
            throw new JsPeerException(
                $"Could not run '{startInfo.FileName}' (is Node.js >= 20 on PATH? set PARLEY_NODE to override): {ex.Message}", ex);
        }

        var peer = new JsPeer(process);
        try
        {
            var listening = await peer.WaitForEventAsync("listening", timeout: StartTimeout, ct: ct);
            peer.PeerId = listening.GetProperty("peerId").GetString() ?? "";
            peer.Addresses = [.. listening.GetProperty("addrs").EnumerateArray().Select(a => a.GetString() ?? "")];
            peer.AgentVersion = listening.TryGetProperty("agentVersion", out var av) ? av.GetString() ?? "" : "";
            return peer;
        }
        catch
        {
            await peer.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Sends <paramref name="cmd"/> with the properties of <paramref name="args"/> (use camelCase names,
    /// e.g. <c>new { addr, streams = 100 }</c>) and returns the reply. Throws <see cref="JsPeerException"/>
    /// when the reply has ok=false, the process exits, or the timeout (default 60 s) elapses.
    /// </summary>
    public async Task<JsonElement> CommandAsync(string cmd, object? args = null, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(cmd);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0 && cmd != "stop", this);

        var message = args is null ? [] : JsonSerializer.SerializeToNode(args) as JsonObject
            ?? throw new ArgumentException("Command arguments must serialize to a JSON object.", nameof(args));
        var id = Interlocked.Increment(ref _nextId);
        message["id"] = id;
        message["cmd"] = cmd;

        var reply = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = reply;
        try
        {
            if (HasExited)
            {
                throw new JsPeerException($"js peer has exited; cannot send '{cmd}'.{DiagnosticsTail()}");
            }

            await _stdinGate.WaitAsync(ct);
            try
            {
                await _process.StandardInput.WriteLineAsync(message.ToJsonString().AsMemory(), ct);
                await _process.StandardInput.FlushAsync(ct);
            }
            catch (IOException ex)
            {
                throw new JsPeerException($"Failed to send '{cmd}' to the js peer: {ex.Message}{DiagnosticsTail()}", ex);
            }
            finally
            {
                _stdinGate.Release();
            }

            var effective = timeout ?? DefaultCommandTimeout;
            JsonElement result;
            try
            {
                result = await reply.Task.WaitAsync(effective, ct);
            }
            catch (TimeoutException ex)
            {
                throw new JsPeerException($"js peer did not answer '{message.ToJsonString()}' within {effective.TotalSeconds:0.#} s.{DiagnosticsTail()}", ex);
            }

            if (result.TryGetProperty("ok", out var ok) && ok.ValueKind == JsonValueKind.True)
            {
                return result;
            }

            var error = result.TryGetProperty("error", out var e) ? e.ToString() : result.ToString();
            throw new JsPeerException($"js peer command '{cmd}' failed: {error}{DiagnosticsTail()}");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>
    /// Returns the first event named <paramref name="eventName"/> matching <paramref name="match"/>,
    /// including events that arrived before this call. Default timeout 15 s.
    /// </summary>
    public async Task<JsonElement> WaitForEventAsync(string eventName, Func<JsonElement, bool>? match = null, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(eventName);
        var waiter = new EventWaiter(eventName, match);
        lock (_eventsGate)
        {
            foreach (var evt in _events)
            {
                if (waiter.Matches(evt))
                {
                    return evt;
                }
            }

            if (HasExited)
            {
                throw new JsPeerException($"js peer has exited; event '{eventName}' will not arrive.{DiagnosticsTail()}");
            }

            _eventWaiters.Add(waiter);
        }

        var effective = timeout ?? DefaultEventTimeout;
        try
        {
            return await waiter.Completion.Task.WaitAsync(effective, ct);
        }
        catch (TimeoutException ex)
        {
            string seen;
            lock (_eventsGate)
            {
                seen = string.Join(", ", _events.Select(ev => ev.GetProperty("event").GetString()).Distinct());
            }

            throw new JsPeerException($"js peer did not emit a matching '{eventName}' event within {effective.TotalSeconds:0.#} s (events seen: {seen}).{DiagnosticsTail()}", ex);
        }
        finally
        {
            lock (_eventsGate)
            {
                _eventWaiters.Remove(waiter);
            }
        }
    }

    /// <summary>The last <paramref name="lines"/> lines the node wrote to stderr.</summary>
    public string RecentStderr(int lines = 40)
    {
        var all = _stderr.ToArray();
        return string.Join(Environment.NewLine, all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>Sends "stop", waits briefly for a clean exit, then kills the process tree.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (!HasExited)
        {
            try
            {
                await CommandAsync("stop", timeout: TimeSpan.FromSeconds(3));
            }
            catch (Exception ex) when (ex is JsPeerException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
            {
                // fall through to the kill below
            }

            try
            {
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(5));
            }
            catch (TimeoutException)
            {
                // fall through to the kill below
            }
        }

        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // already gone
        }

        try
        {
            await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            // pumps end when the pipes close; do not hang disposal on them
        }

        FailAll(new ObjectDisposedException(nameof(JsPeer)));
        _process.Dispose();
        _stdinGate.Dispose();
    }

    private static string FindInteropDirectory()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Parley.slnx")))
        {
            dir = dir.Parent;
        }

        if (dir is null)
        {
            throw new JsPeerException($"Could not find the repository root (a folder containing Parley.slnx) above {AppContext.BaseDirectory}.");
        }

        var interop = Path.Combine(dir.FullName, "tests", "interop");
        if (!File.Exists(Path.Combine(interop, "peer.mjs")))
        {
            throw new JsPeerException($"{Path.Combine(interop, "peer.mjs")} is missing.");
        }

        if (!Directory.Exists(Path.Combine(interop, "node_modules", "libp2p")))
        {
            throw new JsPeerException($"{Path.Combine(interop, "node_modules")} is missing or incomplete: run npm ci in tests/interop");
        }

        return interop;
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            var reader = _process.StandardOutput;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.Length > 0)
                {
                    HandleStdoutLine(line);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            AddStderr($"[harness] stdout pump stopped: {ex.Message}");
        }
        finally
        {
            await WaitForExitQuietlyAsync();
            _exited.TrySetResult();
            var code = TryGetExitCode();
            FailAll(new JsPeerException($"js peer exited (code {code?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"}).{DiagnosticsTail()}"));
        }
    }

    private async Task PumpStderrAsync()
    {
        try
        {
            var reader = _process.StandardError;
            while (await reader.ReadLineAsync() is { } line)
            {
                AddStderr(line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            AddStderr($"[harness] stderr pump stopped: {ex.Message}");
        }
    }

    private void HandleStdoutLine(string line)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(line);
            root = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            AddStderr($"[stdout, not JSON] {line}");
            return;
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            AddStderr($"[stdout, not an object] {line}");
            return;
        }

        if (root.TryGetProperty("event", out var evt) && evt.ValueKind == JsonValueKind.String)
        {
            List<EventWaiter> completed = [];
            lock (_eventsGate)
            {
                _events.Add(root);
                foreach (var waiter in _eventWaiters)
                {
                    if (waiter.Matches(root))
                    {
                        completed.Add(waiter);
                    }
                }

                foreach (var waiter in completed)
                {
                    _eventWaiters.Remove(waiter);
                }
            }

            foreach (var waiter in completed)
            {
                waiter.Completion.TrySetResult(root);
            }

            return;
        }

        if (root.TryGetProperty("id", out var idProp) && idProp.ValueKind == JsonValueKind.Number
            && idProp.TryGetInt64(out var id) && _pending.TryGetValue(id, out var reply))
        {
            reply.TrySetResult(root);
            return;
        }

        AddStderr($"[stdout, unmatched] {line}");
    }

    private void FailAll(Exception error)
    {
        foreach (var pending in _pending.Values)
        {
            pending.TrySetException(error);
        }

        List<EventWaiter> waiters;
        lock (_eventsGate)
        {
            waiters = [.. _eventWaiters];
            _eventWaiters.Clear();
        }

        foreach (var waiter in waiters)
        {
            waiter.Completion.TrySetException(error);
        }
    }

    private async Task WaitForExitQuietlyAsync()
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
        {
            // stdout closed but the process lingers; DisposeAsync kills it
        }
    }

    private int? TryGetExitCode()
    {
        try
        {
            return _process.HasExited ? _process.ExitCode : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private void AddStderr(string line)
    {
        _stderr.Enqueue(line);
        while (_stderr.Count > StderrLinesKept && _stderr.TryDequeue(out _))
        {
        }
    }

    private string DiagnosticsTail()
    {
        var tail = RecentStderr(30);
        return tail.Length == 0 ? "" : $"{Environment.NewLine}--- js peer stderr (last lines) ---{Environment.NewLine}{tail}";
    }

    private sealed class EventWaiter(string eventName, Func<JsonElement, bool>? match)
    {
        public TaskCompletionSource<JsonElement> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool Matches(JsonElement evt)
        {
            if (!evt.TryGetProperty("event", out var name) || !name.ValueEquals(eventName))
            {
                return false;
            }

            try
            {
                return match is null || match(evt);
            }
            catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                // a predicate probing a property this event lacks simply does not match
                return false;
            }
        }
    }
}
