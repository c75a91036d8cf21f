using Parley.Testing.Nat;

namespace Parley.Cli.Tests.Nat;

/// <summary>A fact skipped, with the reason, where the NAT lab cannot be built (not root, no iproute2 or nftables).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class NatLabFactAttribute : FactAttribute
{
    public NatLabFactAttribute()
    {
        if (NatLab.UnavailableReason is { } reason)
        {
            Skip = $"needs the NAT lab: {reason}";
        }
    }
}
