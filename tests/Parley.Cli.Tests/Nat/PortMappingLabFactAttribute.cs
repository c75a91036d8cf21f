using Parley.Testing.Nat;

namespace Parley.Cli.Tests.Nat;

/// <summary>A fact skipped, with the reason, where the NAT lab or its port-mapping router (miniupnpd) cannot be built.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class PortMappingLabFactAttribute : FactAttribute
{
    public PortMappingLabFactAttribute()
    {
        if (NatLab.PortMappingUnavailableReason is { } reason)
        {
            Skip = $"needs the NAT lab with a port-mapping router: {reason}";
        }
    }
}
