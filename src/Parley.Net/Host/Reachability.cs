namespace Parley.Net.Host;

/// <summary>Whether peers on the internet can dial this node (AutoNAT's verdict).</summary>
public enum Reachability
{
    /// <summary>Not known yet, or the evidence disagrees.</summary>
    Unknown,

    /// <summary>Peers dialled us back at an address we advertise.</summary>
    Public,

    /// <summary>Peers could not dial us back: behind a NAT or firewall; we need relays.</summary>
    Private,
}
