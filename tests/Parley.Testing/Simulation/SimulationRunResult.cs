namespace Parley.Testing.Simulation;

public enum SimulationStopReason
{
    /// <summary>The entry task finished (and, when a time limit was given, the clock reached it).</summary>
    EntryCompleted,

    /// <summary>The clock reached the time limit; the entry task, if any, has not finished.</summary>
    TimeLimitReached,

    /// <summary>The entry task has not finished, yet no work is queued and no timer is pending: it never will.</summary>
    Deadlocked,
}

/// <summary>How a run ended, the virtual time it ended at, and how much it did.</summary>
public readonly record struct SimulationRunResult(
    SimulationStopReason StopReason,
    DateTimeOffset StoppedAt,
    long WorkItemsExecuted,
    long TimersFired);
