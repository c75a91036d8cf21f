namespace Parley.Simulation.Tests.Runtime;

/// <summary>Tests that measure wall-clock time run one at a time, so they do not slow each other down.</summary>
[CollectionDefinition(Name)]
public sealed class WallClockCollection
{
    public const string Name = "Simulation runtime wall-clock measurements";
}
