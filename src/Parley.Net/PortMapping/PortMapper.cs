using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Parley.Core.Multiformats;
using Parley.Net.Host;
using Parley.Net.Transport;

namespace Parley.Net.PortMapping;

public sealed class PortMappingOptions
{
    /// <summary>The lifetime asked for (RFC 6886 recommends two hours); the mapping is renewed at half of what the router grants.</summary>
    public TimeSpan Lifetime { get; init; } = TimeSpan.FromHours(2);

    /// <summary>How long to wait before asking again after the router did not answer or refused (the network may change).</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>
/// Asks the home router (the default gateway) to forward our TCP listen port, with NAT-PMP, as go-libp2p's NAT
/// manager does. The granted public address is handed to the host, which tests it with AutoNAT and advertises it once
/// peers can dial it; so a node at home whose router obliges becomes publicly reachable, a DHT server, and needs no
/// relay. Only a private gateway is asked (a home router), and only for a port we listen on at a private address;
/// the mapping is renewed at half its lifetime and deleted when the node stops.
/// </summary>
public sealed class PortMapper : IAsyncDisposable
{
    private static readonly TimeSpan MinimumRenewal = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DeleteTimeout = TimeSpan.FromSeconds(1);

    private readonly Libp2pHost _host;
    private readonly PortMappingOptions _options;
    private readonly Func<IPAddress?> _findGateway;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;
    private (IPAddress Gateway, int InternalPort)? _granted;
    private string? _lastProblem;

    public PortMapper(Libp2pHost host, PortMappingOptions options, ILogger logger, Func<IPAddress?>? findGateway = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _host = host;
        _options = options;
        _logger = logger;
        _findGateway = findGateway ?? DefaultGateway.Find;
    }

    /// <summary>The mapping the router granted; null while there is none.</summary>
    public NatPmpMapping? Mapping { get; private set; }

    public void Start() => _loop = RunAsync(_stopping.Token);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        if (_granted is var (gateway, internalPort))
        {
            using var timeout = new CancellationTokenSource(DeleteTimeout);
            try
            {
                await NatPmp.MapTcpAsync(gateway, internalPort, 0, TimeSpan.Zero, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NatPmpException or OperationCanceledException)
            {
                // The router forgets the mapping when its lifetime ends anyway.
                _logger.LogDebug("could not delete the port mapping: {Reason}", e.Message);
            }
        }
        _stopping.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            var wait = _options.RetryInterval;
            try
            {
                wait = await MapAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (NatPmpException e)
            {
                Withdraw(e.Message);
            }
            await Task.Delay(wait, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Asks for (or renews) the mapping; returns when to ask again.</summary>
    private async Task<TimeSpan> MapAsync(CancellationToken cancellationToken)
    {
        var gateway = _findGateway();
        var internalPort = PrivateListenPort();
        if (gateway is null || AddressScopes.Of(gateway) != AddressScope.Private || internalPort is null)
        {
            Withdraw(gateway is null ? "no IPv4 default gateway" : internalPort is null ? "not listening on a private IPv4 address" : $"the gateway {gateway} is not a home router (public address)");
            return _options.RetryInterval;
        }
        var external = await NatPmp.GetExternalAddressAsync(gateway, cancellationToken).ConfigureAwait(false);
        var suggested = Mapping?.ExternalPort ?? internalPort.Value;
        var (_, externalPort, lifetime) = await NatPmp.MapTcpAsync(gateway, internalPort.Value, suggested, _options.Lifetime, cancellationToken).ConfigureAwait(false);
        _granted = (gateway, internalPort.Value);
        var mapping = new NatPmpMapping(external, internalPort.Value, externalPort, lifetime);
        if (mapping != Mapping)
        {
            _logger.LogInformation("the router {Gateway} forwards {External}:{ExternalPort} to our port {InternalPort} for {Lifetime} (NAT-PMP)", gateway, external, externalPort, internalPort, lifetime);
        }
        Mapping = mapping;
        _lastProblem = null;
        if (AddressScopes.Of(external) == AddressScope.Public)
        {
            _host.SetMappedAddresses([Multiaddr.FromEndPoint(new IPEndPoint(external, externalPort))]);
        }
        else
        {
            // A router behind another NAT (carrier-grade NAT): its mapping does not reach the internet.
            _logger.LogInformation("the router's own address {External} is not public (carrier-grade NAT?): its port mapping does not make us reachable", external);
            _host.SetMappedAddresses([]);
        }
        return lifetime / 2 > MinimumRenewal ? lifetime / 2 : MinimumRenewal;
    }

    private void Withdraw(string problem)
    {
        Mapping = null;
        _host.SetMappedAddresses([]);
        if (problem != _lastProblem)
        {
            _logger.LogInformation("no port mapping: {Problem}", problem);
            _lastProblem = problem;
        }
    }

    private int? PrivateListenPort() =>
        _host.InterfaceAddresses
            .Select(a => a.TryGetTcpEndPoint(out var endPoint) ? endPoint : null)
            .FirstOrDefault(e => e is not null && e.AddressFamily == AddressFamily.InterNetwork && AddressScopes.Of(e.Address) == AddressScope.Private)?.Port;
}
