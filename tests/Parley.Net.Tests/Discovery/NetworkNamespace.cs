using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Parley.Net.Tests.Discovery;

/// <summary>
/// A Linux network namespace made for one test with iproute2 (<c>ip netns add</c>) and deleted on dispose, so that
/// multicast never touches the machine's real interfaces. Needs root.
/// </summary>
internal sealed class NetworkNamespace : IDisposable
{
    private const int CloneNewNet = 0x40000000;
    private static readonly Lazy<string?> Unavailable = new(FindWhyUnavailable);

    private NetworkNamespace(string name)
    {
        Name = name;
    }

    /// <summary>Null when namespaces can be made here; otherwise the reason they cannot.</summary>
    public static string? UnavailableReason => Unavailable.Value;

    public string Name { get; }

    /// <exception cref="InvalidOperationException">iproute2 refused.</exception>
    public static NetworkNamespace Create()
    {
        var name = "parley-mdns-" + RandomNumberGenerator.GetHexString(8, lowercase: true);
        RunIp($"netns add {name}");
        return new NetworkNamespace(name);
    }

    /// <summary>Runs <c>ip -n &lt;namespace&gt; &lt;arguments&gt;</c>.</summary>
    public void Ip(string arguments) => RunIp($"-n {Name} {arguments}");

    /// <summary>
    /// Runs <paramref name="action"/> on a new thread that enters the namespace (setns) and ends with the call, so
    /// sockets it creates live in the namespace. Keep it to plain socket calls: a thread it caused to be started, such
    /// as a thread-pool worker, would stay in the namespace and run unrelated work there.
    /// </summary>
    public T RunInside<T>(Func<T> action)
    {
        T? result = default;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using (var handle = File.OpenHandle($"/var/run/netns/{Name}"))
                {
                    if (SetNamespace((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                    {
                        throw new Win32Exception(Marshal.GetLastPInvokeError(), $"setns into {Name} failed");
                    }
                }
                result = action();
            }
            catch (Exception e)
            {
                failure = ExceptionDispatchInfo.Capture(e);
            }
        });
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result!;
    }

    public void Dispose() => RunIp($"netns del {Name}");

    private static void RunIp(string arguments)
    {
        var start = new ProcessStartInfo("ip", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start ip");
        var error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"'ip {arguments}' exited with {process.ExitCode}: {error.Trim()}");
        }
    }

    private static string? FindWhyUnavailable()
    {
        if (!OperatingSystem.IsLinux())
        {
            return "network namespaces exist only on Linux";
        }
        if (!Environment.IsPrivilegedProcess)
        {
            return "creating network namespaces needs root";
        }
        try
        {
            using var probe = Create();
            probe.Ip("link set lo up");
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or Win32Exception)
        {
            return $"cannot create a network namespace: {e.Message}";
        }
    }

    [DllImport("libc", EntryPoint = "setns", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int SetNamespace(int fd, int namespaceType);
}

/// <summary>A fact that is skipped, saying why, where the test cannot create network namespaces (not Linux, not root, no iproute2).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class NetworkNamespaceFactAttribute : FactAttribute
{
    public NetworkNamespaceFactAttribute()
    {
        if (NetworkNamespace.UnavailableReason is { } reason)
        {
            Skip = $"needs a network namespace: {reason}";
        }
    }
}
