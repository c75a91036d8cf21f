using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Net.Discovery;

/// <summary>
/// libp2p mDNS peer discovery (libp2p/specs discovery/mdns.md), interoperable with go-libp2p and js-libp2p: asks the
/// link for <c>_p2p._udp.local</c> peers on start and every <see cref="MdnsOptions.QueryInterval"/>, answers such
/// questions with our listen addresses, and raises <see cref="PeerDiscovered"/> for the peers that answer. Hostile
/// traffic costs bounded work: packets are size- and rate-limited, peers per packet and addresses per peer are capped,
/// a peer is reported again only when its addresses change or an interval has passed, and nothing is queued.
/// </summary>
public sealed class MdnsDiscovery : IAsyncDisposable
{
    /// <summary>Packets handled per second; the rest are dropped unread, so a flood costs no parsing and no events.</summary>
    internal const int MaxPacketsPerSecond = 200;

    /// <summary>Peers remembered for duplicate suppression; the stalest is forgotten first.</summary>
    internal const int MaxRememberedPeers = 256;

    /// <summary>RFC 6762 section 6: a record is multicast at most once per second per interface.</summary>
    private static readonly TimeSpan MinResponseSpacing = TimeSpan.FromSeconds(1);

    /// <summary>Keeps a socket that fails every receive (interface gone) from spinning.</summary>
    private static readonly TimeSpan ReceiveErrorBackoff = TimeSpan.FromMilliseconds(200);

    private static readonly TimeSpan PacketRateWindow = TimeSpan.FromSeconds(1);

    private readonly PeerId _localPeer;
    private readonly Func<IReadOnlyList<Multiaddr>> _localAddresses;
    private readonly MdnsOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Dictionary<PeerId, ReportedPeer> _reported = [];
    // Capacity one and drop-on-full: any number of questions while a response waits collapse into that response.
    private readonly Channel<bool> _responseRequests = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly Lock _lifecycle = new();
    private readonly List<Task> _loops = [];
    private Socket? _socket;
    private IPEndPoint? _groupEndPoint;
    private DateTimeOffset _packetWindowStart = DateTimeOffset.MinValue;
    private int _packetsInWindow;
    private bool _disposed;

    /// <param name="localAddresses">Our listen addresses (with or without /p2p), read each time we answer.</param>
    /// <exception cref="ArgumentException">The group is not multicast, the port is out of range, the local interface is of another family, or the interval is not positive.</exception>
    public MdnsDiscovery(PeerId localPeer, Func<IReadOnlyList<Multiaddr>> localAddresses, MdnsOptions options, TimeProvider time, ILogger? logger)
    {
        ArgumentNullException.ThrowIfNull(localPeer);
        ArgumentNullException.ThrowIfNull(localAddresses);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        Validate(options);
        _localPeer = localPeer;
        _localAddresses = localAddresses;
        _options = options;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        PeerName = MdnsProtocol.NewPeerName();
    }

    /// <summary>Raised on the receive loop for each peer heard; a handler that throws is logged and skipped.</summary>
    public event EventHandler<MdnsPeer>? PeerDiscovered;

    /// <summary>The random label we announce under (the spec's peer-name), fixed for this instance's lifetime.</summary>
    public string PeerName { get; }

    internal int RememberedPeerCount => _reported.Count;

    /// <summary>Opens the socket on the configured interface, joins the group and starts asking and answering.</summary>
    /// <exception cref="SocketException">The port cannot be bound or the group cannot be joined on that interface.</exception>
    /// <exception cref="ArgumentException">No interface has the configured IPv6 <see cref="MdnsOptions.LocalInterface"/>.</exception>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    public void Start()
    {
        lock (_lifecycle)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_socket is not null)
            {
                throw new InvalidOperationException("mDNS discovery is already started");
            }
        }
        Start(OpenSocket(_options));
    }

    /// <summary>Starts on a socket from <see cref="OpenSocket"/>, which it then owns; tests open it inside a network namespace.</summary>
    internal void Start(MulticastSocket multicast)
    {
        ArgumentNullException.ThrowIfNull(multicast);
        lock (_lifecycle)
        {
            if (_disposed || _socket is not null)
            {
                multicast.Socket.Dispose();
                ObjectDisposedException.ThrowIf(_disposed, this);
                throw new InvalidOperationException("mDNS discovery is already started");
            }
            var socket = multicast.Socket;
            _socket = socket;
            _groupEndPoint = multicast.Group;
            var cancellationToken = _shutdown.Token;
            _loops.Add(Task.Run(() => ReceiveLoopAsync(socket, cancellationToken), CancellationToken.None));
            _loops.Add(Task.Run(() => QueryLoopAsync(cancellationToken), CancellationToken.None));
            _loops.Add(Task.Run(() => ResponderLoopAsync(cancellationToken), CancellationToken.None));
        }
        _logger.LogInformation("mDNS discovery on {Group}:{Port} via {Interface} as {PeerName}", _options.MulticastGroup, _options.Port, _options.LocalInterface?.ToString() ?? "the default interface", PeerName);
    }

    public async ValueTask DisposeAsync()
    {
        Task[] loops;
        lock (_lifecycle)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            loops = [.. _loops];
        }
        await _shutdown.CancelAsync();
        _socket?.Dispose();
        // Every loop ends on cancellation and handles its own errors, so this does not throw.
        await Task.WhenAll(loops);
        _shutdown.Dispose();
    }

    /// <summary>
    /// A UDP socket bound to the mDNS port with address reuse (so other responders on the host keep working), joined
    /// to the group on the chosen interface, sending there with TTL 255 (RFC 6762 section 11) and looping our own
    /// packets back so that instances on one host hear each other.
    /// </summary>
    internal static MulticastSocket OpenSocket(MdnsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var group = options.MulticastGroup;
        var socket = new Socket(group.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (group.AddressFamily == AddressFamily.InterNetwork)
            {
                socket.Bind(new IPEndPoint(IPAddress.Any, options.Port));
                var local = options.LocalInterface ?? IPAddress.Any;
                socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(group, local));
                if (options.LocalInterface is not null)
                {
                    socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, local.GetAddressBytes());
                }
                socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastTimeToLive, 255);
                socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
                return new MulticastSocket(socket, new IPEndPoint(group, options.Port));
            }
            else
            {
                socket.DualMode = false;
                socket.Bind(new IPEndPoint(IPAddress.IPv6Any, options.Port));
                var index = InterfaceIndex(options.LocalInterface);
                socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(group, index));
                if (index != 0)
                {
                    socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, (int)index);
                }
                socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastTimeToLive, 255);
                socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastLoopback, true);
                // A link-local group names its interface by scope.
                return new MulticastSocket(socket, new IPEndPoint(new IPAddress(group.GetAddressBytes(), index), options.Port));
            }
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Handles one received packet: rate limit, decode, then answer a question or report the peers of a response.</summary>
    /// <exception cref="FormatException">The packet is not a well-formed DNS message.</exception>
    internal void HandlePacket(ReadOnlySpan<byte> packet)
    {
        if (!TryAdmitPacket())
        {
            return;
        }
        var message = DnsMessage.Decode(packet);
        if (!message.IsResponse)
        {
            if (MdnsProtocol.ShouldAnswer(message, PeerName))
            {
                _responseRequests.Writer.TryWrite(true);
            }
            return;
        }
        foreach (var peer in MdnsProtocol.ReadPeers(message, PeerName, _localPeer, _options.AnnounceLoopback))
        {
            if (IsNews(peer))
            {
                Report(peer);
            }
        }
    }

    /// <summary>Our response right now, or null when there is no address worth announcing.</summary>
    internal DnsMessage? BuildResponse()
    {
        var addresses = _localAddresses()
            .Where(address => _options.AnnounceLoopback || !MdnsProtocol.IsLoopback(address))
            // Checked before adding /p2p so that WithPeerId cannot exceed the multiaddr size bound.
            .Where(address => address.ToString().Length < MdnsProtocol.MaxTxtStringLength)
            .Select(address => address.WithPeerId(_localPeer))
            .Where(address => MdnsProtocol.DnsaddrPrefix.Length + address.ToString().Length <= MdnsProtocol.MaxTxtStringLength)
            .Distinct()
            .Take(MdnsProtocol.MaxAddressesPerPeer)
            .ToList();
        return addresses.Count == 0 ? null : MdnsProtocol.Response(PeerName, addresses);
    }

    private async Task ReceiveLoopAsync(Socket socket, CancellationToken cancellationToken)
    {
        // One byte more than the largest legal packet, so an oversized datagram is seen as such and refused.
        var buffer = new byte[DnsMessage.MaxSize + 1];
        EndPoint anyRemote = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetwork ? IPAddress.Any : IPAddress.IPv6Any, 0);
        while (!cancellationToken.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, anyRemote, cancellationToken);
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested || e is ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.MessageSize)
            {
                _logger.LogDebug("ignoring an mDNS datagram over {Max} bytes", DnsMessage.MaxSize);
                continue;
            }
            catch (SocketException e)
            {
                _logger.LogWarning(e, "mDNS receive failed");
                await DelayAsync(ReceiveErrorBackoff, cancellationToken);
                continue;
            }
            try
            {
                HandlePacket(buffer.AsSpan(0, received.ReceivedBytes));
            }
            catch (FormatException e)
            {
                _logger.LogDebug("ignoring malformed mDNS packet from {Remote}: {Reason}", received.RemoteEndPoint, e.Message);
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "mDNS packet from {Remote} could not be handled", received.RemoteEndPoint);
            }
        }
    }

    private async Task QueryLoopAsync(CancellationToken cancellationToken)
    {
        var query = MdnsProtocol.Query().Encode();
        using var timer = new PeriodicTimer(_options.QueryInterval, _time);
        do
        {
            await SendAsync(query, cancellationToken);
        }
        while (await WaitForTickAsync(timer, cancellationToken));
    }

    private async Task ResponderLoopAsync(CancellationToken cancellationToken)
    {
        var lastResponse = DateTimeOffset.MinValue;
        while (await WaitToReadAsync(cancellationToken))
        {
            var wait = lastResponse + MinResponseSpacing - _time.GetUtcNow();
            if (wait > TimeSpan.Zero && !await DelayAsync(wait, cancellationToken))
            {
                return;
            }
            // Questions that came while we waited were dropped (capacity one): what we send now answers them too.
            _responseRequests.Reader.TryRead(out _);
            try
            {
                if (BuildResponse() is { } response)
                {
                    await SendAsync(response.Encode(), cancellationToken);
                }
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "could not build our mDNS response");
            }
            lastResponse = _time.GetUtcNow();
        }
    }

    private async Task SendAsync(byte[] packet, CancellationToken cancellationToken)
    {
        try
        {
            await _socket!.SendToAsync(packet, SocketFlags.None, _groupEndPoint!, cancellationToken);
        }
        catch (Exception e) when (cancellationToken.IsCancellationRequested || e is ObjectDisposedException)
        {
            // Shutting down.
        }
        catch (SocketException e)
        {
            _logger.LogWarning("mDNS send to {Group} failed: {Reason}", _groupEndPoint, e.Message);
        }
    }

    /// <summary>Fixed one-second windows; only the receive loop calls this.</summary>
    private bool TryAdmitPacket()
    {
        var now = _time.GetUtcNow();
        if (now - _packetWindowStart >= PacketRateWindow || now < _packetWindowStart)
        {
            _packetWindowStart = now;
            _packetsInWindow = 0;
        }
        _packetsInWindow++;
        if (_packetsInWindow == MaxPacketsPerSecond + 1)
        {
            _logger.LogWarning("more than {Max} mDNS packets in a second; dropping the rest of this second", MaxPacketsPerSecond);
        }
        return _packetsInWindow <= MaxPacketsPerSecond;
    }

    /// <summary>
    /// True when the peer is new, its addresses changed, or it was last reported an interval ago: every peer answers
    /// every query on the link, and consumers need one event per change, not one per packet. Only the receive loop calls this.
    /// </summary>
    private bool IsNews(MdnsPeer peer)
    {
        var now = _time.GetUtcNow();
        if (_reported.TryGetValue(peer.Peer, out var previous)
            && now - previous.At < _options.QueryInterval
            && now >= previous.At
            && previous.Addresses.SetEquals(peer.Addresses))
        {
            return false;
        }
        if (!_reported.ContainsKey(peer.Peer) && _reported.Count >= MaxRememberedPeers)
        {
            var stalest = _reported.MinBy(entry => entry.Value.At).Key;
            _reported.Remove(stalest);
        }
        _reported[peer.Peer] = new ReportedPeer(now, [.. peer.Addresses]);
        return true;
    }

    private void Report(MdnsPeer peer)
    {
        _logger.LogDebug("mDNS: peer {Peer} at {Addresses}", peer.Peer, string.Join(", ", peer.Addresses));
        if (PeerDiscovered is not { } handlers)
        {
            return;
        }
        // One by one, so that a subscriber that throws neither stops discovery nor starves the subscribers after it.
        foreach (var handler in handlers.GetInvocationList().Cast<EventHandler<MdnsPeer>>())
        {
            try
            {
                handler(this, peer);
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "a PeerDiscovered handler threw for {Peer}", peer.Peer);
            }
        }
    }

    private async Task<bool> WaitToReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _responseRequests.Reader.WaitToReadAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task<bool> WaitForTickAsync(PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>False when cancelled.</summary>
    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>0 (kernel's choice) without an address; the scope id when it has one; otherwise the interface holding it.</summary>
    private static uint InterfaceIndex(IPAddress? local)
    {
        if (local is null)
        {
            return 0;
        }
        if (local.ScopeId != 0)
        {
            return (uint)local.ScopeId;
        }
        var bytes = local.GetAddressBytes();
        foreach (var networkInterface in NetworkInterface.GetAllNetworkInterfaces())
        {
            var properties = networkInterface.GetIPProperties();
            if (properties.UnicastAddresses.Any(unicast => unicast.Address.GetAddressBytes().AsSpan().SequenceEqual(bytes)))
            {
                return (uint)properties.GetIPv6Properties().Index;
            }
        }
        throw new ArgumentException($"no network interface has the address {local}", nameof(local));
    }

    private static void Validate(MdnsOptions options)
    {
        var group = options.MulticastGroup ?? throw new ArgumentException("a multicast group is required", nameof(options));
        var isMulticast = group.AddressFamily switch
        {
            AddressFamily.InterNetwork => (group.GetAddressBytes()[0] & 0xF0) == 0xE0,
            AddressFamily.InterNetworkV6 => group.IsIPv6Multicast,
            _ => false,
        };
        if (!isMulticast)
        {
            throw new ArgumentException($"{group} is not a multicast address", nameof(options));
        }
        if (options.Port is < 1 or > 65535)
        {
            throw new ArgumentException($"port {options.Port} is out of range", nameof(options));
        }
        if (options.LocalInterface is { } local && local.AddressFamily != group.AddressFamily)
        {
            throw new ArgumentException($"local interface {local} is not of the group's address family", nameof(options));
        }
        if (options.QueryInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("the query interval must be positive", nameof(options));
        }
    }

    private sealed record ReportedPeer(DateTimeOffset At, HashSet<Multiaddr> Addresses);
}
