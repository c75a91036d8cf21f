using System.Net;
using System.Net.Sockets;
using Parley.Core.Identity;

namespace Parley.Net.Resources;

/// <summary>Why the resource manager refused something; counted, and shown by `parley status`.</summary>
public enum Refusal
{
    InboundConnections,
    OutboundConnections,
    ConnectionsPerPeer,
    ConnectionsPerAddress,
    ConnectionsPerSubnet,
    PendingHandshakes,
    PendingHandshakesPerAddress,
    PendingHandshakesPerSubnet,
    HandshakeDisplaced,
    InboundStreams,
    OutboundStreams,
    InboundStreamsPerPeer,
    OutboundStreamsPerPeer,
    ProtocolStreams,
    ProtocolStreamsPerPeer,
    Memory,
    MemoryPerPeer,
    Trimmed,
}

/// <summary>What the host holds now and what it refused since it started.</summary>
public sealed record ResourceUsage(
    int InboundConnections,
    int OutboundConnections,
    int PendingHandshakes,
    int InboundStreams,
    int OutboundStreams,
    long BufferedBytes,
    IReadOnlyDictionary<Refusal, long> Refusals);

/// <summary>
/// Accounts for every connection, pending handshake, stream and stream window the host holds, by direction, by
/// source address and subnet, by peer and by protocol, and refuses what would exceed <see cref="ResourceLimits"/>
/// (anchored on go-libp2p's resource manager, docs/architecture.md). One lock guards all counts: every operation is a
/// few dictionary updates, far cheaper than the handshake or stream it admits.
/// </summary>
public sealed class ResourceManager
{
    private readonly ResourceLimits _limits;
    private readonly Lock _gate = new();
    private readonly LinkedList<PendingHandshake> _pending = new();
    private readonly Dictionary<string, int> _pendingBySource = [];
    private readonly Dictionary<string, int> _inboundBySource = [];
    private readonly Dictionary<PeerId, PeerUsage> _peers = [];
    private readonly Dictionary<string, int> _protocolStreams = [];
    private readonly long[] _refusals = new long[Enum.GetValues<Refusal>().Length];
    private int _inbound;
    private int _outbound;
    private int _inboundStreams;
    private int _outboundStreams;
    private long _bufferedBytes;

    public ResourceManager(ResourceLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        limits.Validate();
        _limits = limits;
    }

    public ResourceLimits Limits => _limits;

    public ResourceUsage Usage
    {
        get
        {
            lock (_gate)
            {
                return new ResourceUsage(
                    _inbound,
                    _outbound,
                    _pending.Count,
                    _inboundStreams,
                    _outboundStreams,
                    _bufferedBytes,
                    Enum.GetValues<Refusal>().ToDictionary(r => r, r => Interlocked.Read(ref _refusals[(int)r])));
            }
        }
    }

    internal void Count(Refusal refusal) => Interlocked.Increment(ref _refusals[(int)refusal]);

    /// <summary>
    /// Admits an inbound connection from <paramref name="remote"/> into its handshake, or refuses it (null) before any
    /// work is done for it. When a subnet's or the host's pending handshakes are full, a newcomer displaces the oldest
    /// handshake of the busiest source there if that source has at least two more pending than the newcomer's: the
    /// displaced one's <see cref="PendingHandshake.Displaced"/> fires.
    /// </summary>
    public PendingHandshake? TryBeginInbound(IPAddress remote)
    {
        ArgumentNullException.ThrowIfNull(remote);
        return TryBeginInbound(Source.Of(remote, _limits.ExemptNetworks));
    }

    /// <summary>
    /// Admits an inbound connection that <paramref name="relay"/> brings us from <paramref name="peer"/> (circuit relay's
    /// stop) into its handshake, or refuses it (null). It counts toward the inbound and pending-handshake totals and the
    /// peer's connections, but not toward the relay's address or subnet, which is not where the peer is; what one relay
    /// brings is bounded by the relay's own limits and the stop protocol's stream limits. The peer is known before the
    /// handshake, so a full inbound side or a peer at its limit is refused here, while the relay can still be told.
    /// </summary>
    public PendingHandshake? TryBeginRelayedInbound(PeerId relay, PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate)
        {
            if (_inbound >= _limits.MaxInboundConnections)
            {
                Count(Refusal.InboundConnections);
                return null;
            }
            if (_peers.TryGetValue(peer, out var usage) && usage.Connections >= _limits.MaxConnectionsPerPeer)
            {
                Count(Refusal.ConnectionsPerPeer);
                return null;
            }
        }
        return TryBeginInbound(Source.OfRelay(relay));
    }

    private PendingHandshake? TryBeginInbound(Source source)
    {
        List<PendingHandshake> displaced = [];
        PendingHandshake? admitted = null;
        lock (_gate)
        {
            if (!source.Exempt)
            {
                if (Get(_inboundBySource, source.Address) + Get(_pendingBySource, source.Address) >= _limits.MaxInboundConnectionsPerAddress)
                {
                    return Refuse(Refusal.ConnectionsPerAddress);
                }
                if (Get(_inboundBySource, source.Subnet) + Get(_pendingBySource, source.Subnet) >= _limits.MaxInboundConnectionsPerSubnet)
                {
                    return Refuse(Refusal.ConnectionsPerSubnet);
                }
                if (Get(_pendingBySource, source.Address) >= _limits.MaxPendingHandshakesPerAddress)
                {
                    return Refuse(Refusal.PendingHandshakesPerAddress);
                }
                if (Get(_pendingBySource, source.Subnet) >= _limits.MaxPendingHandshakesPerSubnet
                    && !TryDisplace(source, p => p.Source.Subnet == source.Subnet, displaced))
                {
                    return Refuse(Refusal.PendingHandshakesPerSubnet);
                }
            }
            if (_pending.Count >= _limits.MaxPendingHandshakes && !TryDisplace(source, _ => true, displaced))
            {
                return Refuse(Refusal.PendingHandshakes);
            }
            admitted = new PendingHandshake(this, source);
            admitted.Node = _pending.AddLast(admitted);
            Add(_pendingBySource, source.Address, 1);
            Add(_pendingBySource, source.Subnet, 1);
        }
        foreach (var victim in displaced)
        {
            victim.SignalDisplaced();
        }
        return admitted;
    }

    /// <summary>Reserves an outbound connection for a dial; null when the outbound budget is spent.</summary>
    public OutboundDial? TryBeginOutbound()
    {
        lock (_gate)
        {
            if (_outbound >= _limits.MaxOutboundConnections)
            {
                Count(Refusal.OutboundConnections);
                return null;
            }
            _outbound++;
            return new OutboundDial(this);
        }
    }

    private PendingHandshake? Refuse(Refusal refusal)
    {
        Count(refusal);
        return null;
    }

    /// <summary>Under the lock: frees one slot among the pending handshakes <paramref name="inScope"/>.</summary>
    private bool TryDisplace(Source newcomer, Func<PendingHandshake, bool> inScope, List<PendingHandshake> displaced)
    {
        var busiest = _pending.Where(inScope).GroupBy(p => p.Source.Address).MaxBy(g => g.Count());
        if (busiest is null || busiest.Count() < Get(_pendingBySource, newcomer.Address) + 2)
        {
            return false;
        }
        var victim = busiest.First();
        RemovePending(victim);
        displaced.Add(victim);
        Count(Refusal.HandshakeDisplaced);
        return true;
    }

    /// <summary>Under the lock.</summary>
    private void RemovePending(PendingHandshake handshake)
    {
        if (handshake.Node is { } node)
        {
            _pending.Remove(node);
            handshake.Node = null;
            Add(_pendingBySource, handshake.Source.Address, -1);
            Add(_pendingBySource, handshake.Source.Subnet, -1);
        }
    }

    internal void EndPending(PendingHandshake handshake)
    {
        lock (_gate)
        {
            RemovePending(handshake);
        }
    }

    /// <summary>Turns a finished inbound handshake into a connection, or refuses it (null).</summary>
    internal ConnectionLease? CompleteInbound(PendingHandshake handshake, PeerId peer)
    {
        lock (_gate)
        {
            var wasPending = handshake.Node is not null;
            RemovePending(handshake);
            if (!wasPending)
            {
                // Displaced while finishing: its slot is someone else's now.
                Count(Refusal.HandshakeDisplaced);
                return null;
            }
            if (_inbound >= _limits.MaxInboundConnections)
            {
                Count(Refusal.InboundConnections);
                return null;
            }
            if (!TryAddPeerConnection(peer))
            {
                return null;
            }
            _inbound++;
            Add(_inboundBySource, handshake.Source.Address, 1);
            Add(_inboundBySource, handshake.Source.Subnet, 1);
            return new ConnectionLease(this, peer, isInbound: true, handshake.Source);
        }
    }

    internal ConnectionLease? CompleteOutbound(PeerId peer)
    {
        lock (_gate)
        {
            if (!TryAddPeerConnection(peer))
            {
                return null;
            }
            return new ConnectionLease(this, peer, isInbound: false, null);
        }
    }

    internal void ReleaseOutbound()
    {
        lock (_gate)
        {
            _outbound--;
        }
    }

    /// <summary>Under the lock.</summary>
    private bool TryAddPeerConnection(PeerId peer)
    {
        var usage = PeerOf(peer);
        if (usage.Connections >= _limits.MaxConnectionsPerPeer)
        {
            Count(Refusal.ConnectionsPerPeer);
            ForgetIfIdle(peer, usage);
            return false;
        }
        usage.Connections++;
        return true;
    }

    internal void ReleaseConnection(ConnectionLease lease)
    {
        lock (_gate)
        {
            if (lease.IsInbound)
            {
                _inbound--;
                Add(_inboundBySource, lease.Source!.Value.Address, -1);
                Add(_inboundBySource, lease.Source!.Value.Subnet, -1);
            }
            else
            {
                _outbound--;
            }
            var usage = PeerOf(lease.Peer);
            usage.Connections--;
            ForgetIfIdle(lease.Peer, usage);
        }
    }

    internal bool TryOpenStream(PeerId peer, bool inbound)
    {
        lock (_gate)
        {
            var usage = PeerOf(peer);
            var (total, perPeer, totalLimit, perPeerLimit, totalRefusal, perPeerRefusal) = inbound
                ? (_inboundStreams, usage.InboundStreams, _limits.MaxInboundStreams, _limits.MaxInboundStreamsPerPeer, Refusal.InboundStreams, Refusal.InboundStreamsPerPeer)
                : (_outboundStreams, usage.OutboundStreams, _limits.MaxOutboundStreams, _limits.MaxOutboundStreamsPerPeer, Refusal.OutboundStreams, Refusal.OutboundStreamsPerPeer);
            if (total >= totalLimit || perPeer >= perPeerLimit)
            {
                Count(total >= totalLimit ? totalRefusal : perPeerRefusal);
                return false;
            }
            if (inbound)
            {
                _inboundStreams++;
                usage.InboundStreams++;
            }
            else
            {
                _outboundStreams++;
                usage.OutboundStreams++;
            }
            return true;
        }
    }

    internal void CloseStream(PeerId peer, bool inbound)
    {
        lock (_gate)
        {
            var usage = PeerOf(peer);
            if (inbound)
            {
                _inboundStreams--;
                usage.InboundStreams--;
            }
            else
            {
                _outboundStreams--;
                usage.OutboundStreams--;
            }
            ForgetIfIdle(peer, usage);
        }
    }

    internal bool TryOpenProtocolStream(PeerId peer, string protocol)
    {
        var limit = _limits.LimitOf(protocol);
        lock (_gate)
        {
            var usage = PeerOf(peer);
            if (Get(_protocolStreams, protocol) >= limit.Streams)
            {
                Count(Refusal.ProtocolStreams);
                return false;
            }
            if (Get(usage.ProtocolStreams, protocol) >= limit.StreamsPerPeer)
            {
                Count(Refusal.ProtocolStreamsPerPeer);
                return false;
            }
            Add(_protocolStreams, protocol, 1);
            Add(usage.ProtocolStreams, protocol, 1);
            return true;
        }
    }

    internal void CloseProtocolStream(PeerId peer, string protocol)
    {
        lock (_gate)
        {
            Add(_protocolStreams, protocol, -1);
            var usage = PeerOf(peer);
            Add(usage.ProtocolStreams, protocol, -1);
            ForgetIfIdle(peer, usage);
        }
    }

    internal bool TryReserveMemory(PeerId peer, int bytes)
    {
        lock (_gate)
        {
            var usage = PeerOf(peer);
            if (_bufferedBytes + bytes > _limits.MaxBufferedBytes || usage.BufferedBytes + bytes > _limits.MaxBufferedBytesPerPeer)
            {
                Count(_bufferedBytes + bytes > _limits.MaxBufferedBytes ? Refusal.Memory : Refusal.MemoryPerPeer);
                ForgetIfIdle(peer, usage);
                return false;
            }
            _bufferedBytes += bytes;
            usage.BufferedBytes += bytes;
            return true;
        }
    }

    internal void ReleaseMemory(PeerId peer, int bytes)
    {
        lock (_gate)
        {
            _bufferedBytes -= bytes;
            var usage = PeerOf(peer);
            usage.BufferedBytes -= bytes;
            ForgetIfIdle(peer, usage);
        }
    }

    private PeerUsage PeerOf(PeerId peer)
    {
        if (!_peers.TryGetValue(peer, out var usage))
        {
            usage = new PeerUsage();
            _peers[peer] = usage;
        }
        return usage;
    }

    private void ForgetIfIdle(PeerId peer, PeerUsage usage)
    {
        if (usage is { Connections: 0, InboundStreams: 0, OutboundStreams: 0, BufferedBytes: 0 } && usage.ProtocolStreams.Count == 0)
        {
            _peers.Remove(peer);
        }
    }

    private static int Get(Dictionary<string, int> counts, string? key) => key is not null && counts.TryGetValue(key, out var n) ? n : 0;

    private static void Add(Dictionary<string, int> counts, string? key, int delta)
    {
        if (key is null)
        {
            return;
        }
        var n = Get(counts, key) + delta;
        if (n <= 0)
        {
            counts.Remove(key);
        }
        else
        {
            counts[key] = n;
        }
    }

    private sealed class PeerUsage
    {
        public int Connections;
        public int InboundStreams;
        public int OutboundStreams;
        public long BufferedBytes;
        public Dictionary<string, int> ProtocolStreams { get; } = [];
    }
}

/// <summary>Where an inbound connection comes from, as the limits count it: its address (IPv4 /32 or IPv6 /64) and
/// its subnet (IPv4 /24 or IPv6 /48). An exempt source still counts toward the host's own totals.</summary>
public readonly record struct Source(string Address, string Subnet, bool Exempt)
{
    public static Source Of(IPAddress remote, IReadOnlyList<IPNetwork> exempt)
    {
        ArgumentNullException.ThrowIfNull(remote);
        ArgumentNullException.ThrowIfNull(exempt);
        if (remote.IsIPv4MappedToIPv6)
        {
            remote = remote.MapToIPv4();
        }
        var isExempt = exempt.Any(n => n.Contains(remote));
        return remote.AddressFamily == AddressFamily.InterNetwork
            ? new Source(Prefix(remote, 32), Prefix(remote, 24), isExempt)
            : new Source(Prefix(remote, 64), Prefix(remote, 48), isExempt);
    }

    /// <summary>Connections a relay brings: exempt from the address limits, grouped by relay when a handshake is displaced.</summary>
    public static Source OfRelay(PeerId relay)
    {
        ArgumentNullException.ThrowIfNull(relay);
        return new Source($"circuit via {relay}", $"circuits via {relay}", Exempt: true);
    }

    private static string Prefix(IPAddress address, int bits)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(bits - (i * 8), 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return $"{new IPAddress(bytes)}/{bits}";
    }
}

/// <summary>An inbound connection in its handshake: dispose it when the handshake fails; <see cref="Complete"/> it
/// when it succeeds.</summary>
public sealed class PendingHandshake : IDisposable
{
    private readonly ResourceManager _manager;
    private readonly CancellationTokenSource _displaced = new();

    internal PendingHandshake(ResourceManager manager, Source source)
    {
        _manager = manager;
        Source = source;
    }

    public Source Source { get; }

    /// <summary>Fires when a newcomer took this handshake's slot: abandon the handshake.</summary>
    public CancellationToken Displaced => _displaced.Token;

    internal LinkedListNode<PendingHandshake>? Node { get; set; }

    /// <summary>The connection's lease, or null if a limit refuses it (the refusal is counted).</summary>
    public ConnectionLease? Complete(PeerId peer) => _manager.CompleteInbound(this, peer);

    internal void SignalDisplaced() => _displaced.Cancel();

    public void Dispose()
    {
        _manager.EndPending(this);
        _displaced.Dispose();
    }
}

/// <summary>A dial holding one of the outbound connections: <see cref="Complete"/> it once the handshake named the
/// peer; dispose it if the dial failed.</summary>
public sealed class OutboundDial(ResourceManager manager) : IDisposable
{
    private bool _done;

    public ConnectionLease? Complete(PeerId peer)
    {
        var lease = manager.CompleteOutbound(peer);
        _done = lease is not null;
        return lease;
    }

    public void Dispose()
    {
        if (!_done)
        {
            _done = true;
            manager.ReleaseOutbound();
        }
    }
}

/// <summary>
/// One connection's share of the limits: its streams and the receive windows it grants count against its peer and the
/// host. Yamux reserves a stream's window through it (<see cref="Yamux.IStreamMemory"/>). Disposing it releases the
/// connection; the streams release themselves as they close.
/// </summary>
public sealed class ConnectionLease : Yamux.IStreamMemory, IDisposable
{
    private readonly ResourceManager _manager;
    private int _disposed;

    internal ConnectionLease(ResourceManager manager, PeerId peer, bool isInbound, Source? source)
    {
        _manager = manager;
        Peer = peer;
        IsInbound = isInbound;
        Source = source;
    }

    public PeerId Peer { get; }

    public bool IsInbound { get; }

    internal Source? Source { get; }

    public bool TryOpenStream(bool inbound) => _manager.TryOpenStream(Peer, inbound);

    public void CloseStream(bool inbound) => _manager.CloseStream(Peer, inbound);

    public bool TryOpenProtocolStream(string protocol) => _manager.TryOpenProtocolStream(Peer, protocol);

    public void CloseProtocolStream(string protocol) => _manager.CloseProtocolStream(Peer, protocol);

    public bool TryReserve(int bytes) => _manager.TryReserveMemory(Peer, bytes);

    public void Release(int bytes) => _manager.ReleaseMemory(Peer, bytes);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _manager.ReleaseConnection(this);
        }
    }
}
