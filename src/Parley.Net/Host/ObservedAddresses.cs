using System.Net;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Transport;

namespace Parley.Net.Host;

/// <summary>
/// How other peers see us: the observed address each directly connected peer reports in identify. An address counts
/// once peers at <see cref="ActivationThreshold"/> different IP addresses report it, so one lying peer cannot make us
/// advertise (or hole punch towards) an address of its choosing; behind a symmetric NAT every peer sees another port
/// and no address is confirmed, which is the truth.
/// </summary>
public sealed class ObservedAddresses
{
    private const int MaxObservers = 256;

    private readonly object _gate = new();
    private readonly Dictionary<PeerId, (Multiaddr Observed, IPAddress ObserverIp)> _byObserver = [];
    private IReadOnlyList<Multiaddr> _confirmed = [];

    public ObservedAddresses(int activationThreshold = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(activationThreshold);
        ActivationThreshold = activationThreshold;
    }

    public int ActivationThreshold { get; }

    /// <summary>Raised when the confirmed public addresses changed.</summary>
    public event EventHandler? Changed;

    /// <summary>Raised when a peer sees us at an IP address no connected peer saw us at before: the network may have changed.</summary>
    public event EventHandler? NewAddressSeen;

    /// <summary>
    /// Raised when a peer sees us at an IP address no connected peer saw us at before, the first one included: whether
    /// we are <see cref="SeenThroughNat"/> may have changed (behind a symmetric NAT no address is ever confirmed, so
    /// <see cref="Changed"/> would never tell).
    /// </summary>
    public event EventHandler? IpSeen;

    /// <summary>Public addresses confirmed by enough observers, most confirmed first.</summary>
    public IReadOnlyList<Multiaddr> Confirmed => Volatile.Read(ref _confirmed);

    /// <summary>The scope of the widest address any peer sees us at (public when anyone on the internet sees us); null before any observation.</summary>
    public AddressScope? WidestScope
    {
        get
        {
            lock (_gate)
            {
                return _byObserver.Count == 0 ? null : _byObserver.Values.Max(o => AddressScopes.Of(o.Observed)!.Value);
            }
        }
    }

    /// <summary>How <paramref name="observer"/> sees us; null when it told us nothing usable.</summary>
    public Multiaddr? ObservedBy(PeerId observer)
    {
        lock (_gate)
        {
            return _byObserver.TryGetValue(observer, out var o) ? o.Observed : null;
        }
    }

    /// <summary>
    /// True when a peer sees us at a public IP that none of our interfaces has: we are behind a NAT (whether it lets
    /// anyone in is AutoNAT's question).
    /// </summary>
    public bool SeenThroughNat(IEnumerable<Multiaddr> listenAddresses)
    {
        var own = listenAddresses.Select(a => a.TryGetTcpEndPoint(out var e) ? e.Address : null).OfType<IPAddress>().ToHashSet();
        lock (_gate)
        {
            return _byObserver.Values.Any(o => o.Observed.TryGetTcpEndPoint(out var e) && AddressScopes.Of(e.Address) == AddressScope.Public && !own.Contains(e.Address));
        }
    }

    /// <summary>Records what <paramref name="observer"/>, connected to us from <paramref name="observerAddress"/>, says it sees us at.</summary>
    public void Record(PeerId observer, Multiaddr observerAddress, Multiaddr observed)
    {
        ArgumentNullException.ThrowIfNull(observer);
        if (observerAddress.IsCircuit || !observerAddress.TryGetTcpEndPoint(out var observerEndPoint) || !observed.TryGetTcpEndPoint(out _))
        {
            // Over a relay the observed address is the relay's view, not ours.
            return;
        }
        bool newIp;
        bool newAddress;
        lock (_gate)
        {
            if (!_byObserver.ContainsKey(observer) && _byObserver.Count >= MaxObservers)
            {
                return;
            }
            var ip = observed.ValueOf(MultiaddrProtocol.Ip4) ?? observed.ValueOf(MultiaddrProtocol.Ip6);
            newIp = !_byObserver.Values.Any(o => (o.Observed.ValueOf(MultiaddrProtocol.Ip4) ?? o.Observed.ValueOf(MultiaddrProtocol.Ip6)) == ip);
            newAddress = _byObserver.Count > 0 && newIp;
            _byObserver[observer] = (observed.WithoutPeerId(), observerEndPoint.Address);
        }
        Recompute();
        if (newIp)
        {
            IpSeen?.Invoke(this, EventArgs.Empty);
        }
        if (newAddress)
        {
            NewAddressSeen?.Invoke(this, EventArgs.Empty);
        }
    }

    /// <summary>Forgets a peer that disconnected: what it saw may no longer be true.</summary>
    public void Forget(PeerId observer)
    {
        bool removed;
        lock (_gate)
        {
            removed = _byObserver.Remove(observer);
        }
        if (removed)
        {
            Recompute();
        }
    }

    private void Recompute()
    {
        IReadOnlyList<Multiaddr> confirmed;
        lock (_gate)
        {
            confirmed = _byObserver.Values
                .Where(o => AddressScopes.IsPublic(o.Observed))
                .GroupBy(o => o.Observed)
                .Select(g => (Address: g.Key, Observers: g.Select(o => o.ObserverIp).Distinct().Count()))
                .Where(g => g.Observers >= ActivationThreshold)
                .OrderByDescending(g => g.Observers)
                .Select(g => g.Address)
                .ToList();
        }
        var previous = Interlocked.Exchange(ref _confirmed, confirmed);
        if (!previous.SequenceEqual(confirmed))
        {
            Changed?.Invoke(this, EventArgs.Empty);
        }
    }
}
