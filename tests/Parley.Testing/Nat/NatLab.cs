using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;

namespace Parley.Testing.Nat;

/// <summary>How a lab router translates and filters (docs/nat.md explains each against RFC 4787's terms).</summary>
public enum NatType
{
    /// <summary>(a) Endpoint-independent mapping (masquerade keeps the source port); unsolicited inbound packets are dropped.</summary>
    EndpointIndependent,

    /// <summary>(b) As (a) behind a strict stateful firewall: only packets conntrack matched to an outgoing flow pass, invalid ones are dropped, no mid-stream pickup.</summary>
    PortRestricted,

    /// <summary>(c) Symmetric: a random public port for every new flow (masquerade random); unsolicited inbound dropped.</summary>
    Symmetric,

    /// <summary>(d) As (a), and the router forwards a port on request (NAT-PMP, served by miniupnpd on the LAN side).</summary>
    PortMapping,
}

/// <summary>
/// A small internet in Linux network namespaces: a public segment (a bridge) with public hosts, and homes behind
/// router namespaces that NAT with nftables. Addresses exist only inside the namespaces; nothing routes out of them.
/// Namespace names carry this process's id, so a lab left behind by a killed test run is swept by the next one.
/// Needs root, iproute2 and nftables; <see cref="UnavailableReason"/> says why a lab cannot be built.
/// </summary>
public sealed class NatLab : IDisposable
{
    /// <summary>The lab's public segment; an ordinary unicast range, so every libp2p implementation treats it as public.</summary>
    public const string PublicPrefix = "11.0.0.";
    private const string NamePrefix = "plab";
    private static readonly Lazy<string?> Unavailable = new(FindWhyUnavailable);

    private readonly List<string> _namespaces = [];
    private readonly List<Process> _daemons = [];
    private readonly ConcurrentQueue<string> _portMappingLog = new();
    private readonly List<string> _files = [];
    private readonly string _id;
    private int _publicHosts;
    private int _homes;

    private NatLab()
    {
        _id = $"{NamePrefix}{Environment.ProcessId}x{RandomNumberGenerator.GetHexString(4, lowercase: true)}";
        Network = Add("net");
        Ip(Network, "link add name sw type bridge");
        Ip(Network, "link set sw up");
    }

    /// <summary>Null when a lab can be built here; otherwise why not.</summary>
    public static string? UnavailableReason => Unavailable.Value;

    /// <summary>Null when a (d) router can be built here (the lab and miniupnpd); otherwise why not.</summary>
    public static string? PortMappingUnavailableReason =>
        UnavailableReason ?? (new[] { "/usr/sbin/miniupnpd", "/usr/local/sbin/miniupnpd" }.Any(File.Exists)
            ? null
            : "miniupnpd is not installed (scripts/test installs miniupnpd-nftables)");

    /// <summary>The namespace holding the public segment's bridge.</summary>
    public string Network { get; }

    /// <exception cref="InvalidOperationException">iproute2 or nft refused (the lab built so far is torn down).</exception>
    public static NatLab Create()
    {
        SweepAbandoned();
        var lab = new NatLab();
        return lab;
    }

    /// <summary>A host on the public segment; returns its namespace and address.</summary>
    public (string Namespace, string Address) AddPublicHost()
    {
        var index = ++_publicHosts;
        var ns = Add($"p{index}");
        var address = PublicPrefix + (10 + index).ToString(CultureInfo.InvariantCulture);
        Attach(ns, "eth0", $"p{index}", address);
        return (ns, address);
    }

    /// <summary>A home network behind a router of <paramref name="type"/>: its host's namespace and LAN address, and the router's namespace and public address.</summary>
    public Home AddHome(NatType type)
    {
        var index = ++_homes;
        var router = Add($"r{index}");
        var home = Add($"h{index}");
        var publicAddress = PublicPrefix + (100 + index).ToString(CultureInfo.InvariantCulture);
        Attach(router, "wan", $"r{index}", publicAddress);
        var lan = $"10.{index}.0";
        Ip(router, $"link add name lan type veth peer name eth0 netns {home}");
        Ip(router, $"addr add {lan}.1/24 dev lan");
        Ip(router, "link set lan up");
        Ip(home, $"addr add {lan}.2/24 dev eth0");
        Ip(home, "link set eth0 up");
        Ip(home, $"route add default via {lan}.1");
        Exec(router, "sysctl", "-qw", "net.ipv4.ip_forward=1");
        if (type == NatType.PortRestricted)
        {
            Exec(router, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0");
        }
        Nft(router, Ruleset(type));
        if (type == NatType.PortMapping)
        {
            StartPortMappingService(router, $"{lan}.0/24");
        }
        return new Home(home, $"{lan}.2", router, publicAddress, type);
    }

    public void Dispose()
    {
        foreach (var daemon in _daemons)
        {
            try
            {
                daemon.Kill();
                daemon.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            daemon.Dispose();
        }
        _daemons.Clear();
        foreach (var file in _files)
        {
            File.Delete(file);
        }
        _files.Clear();
        foreach (var ns in Enumerable.Reverse(_namespaces))
        {
            TryRun("ip", "netns", "del", ns);
        }
        _namespaces.Clear();
    }

    /// <summary>The command line that runs <paramref name="arguments"/> inside <paramref name="ns"/>.</summary>
    public static string[] InNamespace(string ns, params string[] arguments) => ["ip", "netns", "exec", ns, .. arguments];

    /// <summary>
    /// miniupnpd (NAT-PMP and PCP only, no UPnP multicast) in <paramref name="router"/>, granting ports to hosts of
    /// <paramref name="lan"/>; it writes its forwards into the lab_pmp table that <see cref="Ruleset"/> made for it.
    /// </summary>
    private void StartPortMappingService(string router, string lan)
    {
        var config = PortMappingConfig(router);
        _files.Add(config);
        File.WriteAllText(config, $"""
            ext_ifname=wan
            listening_ip=lan
            enable_natpmp=yes
            enable_upnp=no
            secure_mode=yes
            system_uptime=yes
            upnp_table_name=lab_pmp
            upnp_nat_table_name=lab_pmp
            uuid={Guid.NewGuid()}
            allow 1024-65535 {lan} 1024-65535
            deny 0-65535 0.0.0.0/0 0-65535

            """);
        // A pid file of its own: the default one is shared with any other miniupnpd on the machine, and one that names a
        // live process makes miniupnpd exit at once.
        var pidFile = PortMappingPidFile(router);
        _files.Add(pidFile);
        var command = InNamespace(router, "miniupnpd", "-d", "-f", config, "-P", pidFile);
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        var daemon = Process.Start(start) ?? throw new InvalidOperationException("could not start miniupnpd");
        _daemons.Add(daemon);
        daemon.OutputDataReceived += (_, line) => KeepPortMappingLog(router, line.Data);
        daemon.ErrorDataReceived += (_, line) => KeepPortMappingLog(router, line.Data);
        daemon.BeginOutputReadLine();
        daemon.BeginErrorReadLine();
        // A node asking before the daemon listens is refused (ICMP) and would not ask again for minutes.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!_portMappingLog.Any(line => line.StartsWith(router + " ", StringComparison.Ordinal) && line.Contains("Listening for NAT-PMP", StringComparison.Ordinal)))
        {
            if (daemon.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"miniupnpd in {router} is not listening for NAT-PMP:\n{PortMappingLog()}");
            }
            Thread.Sleep(50);
        }
    }

    /// <summary>What the lab's miniupnpd daemons printed (their latest lines), for a failing test to show.</summary>
    public string PortMappingLog() => _portMappingLog.IsEmpty ? "(miniupnpd printed nothing)" : string.Join('\n', _portMappingLog);

    private void KeepPortMappingLog(string router, string? line)
    {
        if (line is null)
        {
            return;
        }
        _portMappingLog.Enqueue($"{router} miniupnpd: {line}");
        while (_portMappingLog.Count > 200 && _portMappingLog.TryDequeue(out _))
        {
        }
    }

    private static string PortMappingConfig(string router) => Path.Combine(Path.GetTempPath(), $"{router}-miniupnpd.conf");

    private static string PortMappingPidFile(string router) => Path.Combine(Path.GetTempPath(), $"{router}-miniupnpd.pid");

    /// <summary>A killed test run leaves its routers' miniupnpd running (it keeps their namespace alive): ends it and its file.</summary>
    private static void StopAbandonedPortMapping(string router)
    {
        var config = PortMappingConfig(router);
        foreach (var daemon in Process.GetProcessesByName("miniupnpd"))
        {
            using (daemon)
            {
                try
                {
                    if (File.ReadAllText($"/proc/{daemon.Id}/cmdline").Contains(config, StringComparison.Ordinal))
                    {
                        daemon.Kill();
                    }
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException)
                {
                    // Gone meanwhile.
                }
            }
        }
        File.Delete(config);
        File.Delete(PortMappingPidFile(router));
    }

    private static string Ruleset(NatType type)
    {
        var masquerade = type == NatType.Symmetric ? "masquerade random" : "masquerade";
        var strict = type == NatType.PortRestricted ? "ct state invalid drop" : string.Empty;
        // (d): flows the router forwards on request (DNAT by miniupnpd) pass the firewall; miniupnpd keeps its own rules in lab_pmp.
        var forwarded = type == NatType.PortMapping ? """iifname "wan" ct status dnat accept""" : string.Empty;
        var portMapping = type != NatType.PortMapping ? string.Empty : """
            table inet lab_pmp {
              chain forward { type filter hook forward priority filter - 10; policy accept; jump miniupnpd; }
              chain miniupnpd { }
              chain prerouting { type nat hook prerouting priority dstnat; policy accept; jump prerouting_miniupnpd; }
              chain postrouting { type nat hook postrouting priority srcnat - 10; policy accept; jump postrouting_miniupnpd; }
              chain prerouting_miniupnpd { }
              chain postrouting_miniupnpd { }
            }
            """;
        return $$"""
            table ip lab_nat {
              chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" {{masquerade}}; }
            }
            table inet lab {
              chain forward {
                type filter hook forward priority filter; policy accept;
                {{strict}}
                iifname "wan" ct state established,related accept
                {{forwarded}}
                iifname "wan" drop
              }
              chain input {
                type filter hook input priority filter; policy accept;
                iifname "wan" ct state established,related accept
                iifname "wan" drop
              }
            }
            {{portMapping}}
            """;
    }

    /// <summary>Drops <paramref name="percent"/>% of the packets a router forwards, both ways (tc netem is not available here).</summary>
    public static void AddLoss(Home home, int percent)
    {
        ArgumentNullException.ThrowIfNull(home);
        Exec(home.Router, "nft", "insert", "rule", "inet", "lab", "forward", "numgen", "random", "mod", "100", "<", percent.ToString(CultureInfo.InvariantCulture), "drop");
    }

    private string Add(string suffix)
    {
        var name = $"{_id}-{suffix}";
        Run("ip", "netns", "add", name);
        _namespaces.Add(name);
        Ip(name, "link set lo up");
        return name;
    }

    /// <summary>A veth from <paramref name="ns"/> to the bridge, with <paramref name="address"/>/24 on the namespace's end.</summary>
    private void Attach(string ns, string device, string bridgePort, string address)
    {
        Ip(ns, $"link add name {device} type veth peer name {bridgePort} netns {Network}");
        Ip(Network, $"link set {bridgePort} master sw");
        Ip(Network, $"link set {bridgePort} up");
        Ip(ns, $"addr add {address}/24 dev {device}");
        Ip(ns, $"link set {device} up");
    }

    private static void Ip(string ns, string arguments) => Run(["ip", "-n", ns, .. arguments.Split(' ')]);

    private static void Exec(string ns, params string[] arguments) => Run(InNamespace(ns, arguments));

    private static void Nft(string ns, string ruleset) => Run(InNamespace(ns, "nft", "-f", "-"), ruleset);

    private static void Run(params string[] command) => Run(command, null);

    private static void Run(string[] command, string? input)
    {
        var (code, error) = TryRun(command, input);
        if (code != 0)
        {
            throw new InvalidOperationException($"'{string.Join(' ', command)}' exited with {code}: {error.Trim()}");
        }
    }

    private static (int Code, string Error) TryRun(params string[] command) => TryRun(command, null);

    private static (int Code, string Error) TryRun(string[] command, string? input)
    {
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command[0]}");
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        var error = process.StandardError.ReadToEnd();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, error);
    }

    /// <summary>Deletes the namespaces of labs whose test process is gone (killed before it could clean up).</summary>
    private static void SweepAbandoned()
    {
        if (!Directory.Exists("/var/run/netns"))
        {
            return;
        }
        foreach (var path in Directory.GetFiles("/var/run/netns", NamePrefix + "*"))
        {
            var name = Path.GetFileName(path);
            var pid = name[NamePrefix.Length..].Split('x')[0];
            if (int.TryParse(pid, CultureInfo.InvariantCulture, out var owner) && !Directory.Exists($"/proc/{owner}"))
            {
                StopAbandonedPortMapping(name);
                TryRun("ip", "netns", "del", name);
            }
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
            return "building the NAT lab needs root";
        }
        try
        {
            using var probe = Create();
            probe.AddHome(NatType.EndpointIndependent);
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return $"cannot build the NAT lab (iproute2 and nftables needed; scripts/test installs them): {e.Message}";
        }
    }
}

/// <summary>A home network: the host's namespace and LAN address, its router's namespace and public address.</summary>
public sealed record Home(string Namespace, string Address, string Router, string PublicAddress, NatType Type);
