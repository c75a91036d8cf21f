namespace Parley.Dht.Routing;

public enum AddOutcome
{
    /// <summary>The peer took a free place in its bucket.</summary>
    Added,

    /// <summary>The peer was already in the table; its last-seen time and addresses were refreshed.</summary>
    Updated,

    /// <summary>
    /// The bucket is full. The peer waits in the bucket's replacement cache, and the caller should check whether
    /// <see cref="AddResult.EvictionCandidate"/> is still alive and report it with <see cref="RoutingTable.ReportLiveness"/>.
    /// </summary>
    PendingLivenessCheck,

    /// <summary>
    /// The bucket is full and a liveness check for it is already under way; the peer waits in the replacement cache
    /// and takes the place of the candidate if that one turns out dead.
    /// </summary>
    Queued,

    /// <summary>The peer may not enter the table; <see cref="AddResult.Reason"/> says why.</summary>
    Rejected,
}

public enum AddRejection
{
    None,

    /// <summary>The local peer never enters its own table.</summary>
    Self,

    /// <summary>The bucket already holds <see cref="RoutingTableOptions.MaxPerSubnetPerBucket"/> peers from one of this peer's subnets.</summary>
    SubnetLimitInBucket,

    /// <summary>The table already holds <see cref="RoutingTableOptions.MaxPerSubnetInTable"/> peers from one of this peer's subnets.</summary>
    SubnetLimitInTable,
}

/// <summary>What <see cref="RoutingTable.TryAdd"/> did.</summary>
/// <param name="Outcome">What happened to the peer.</param>
/// <param name="EvictionCandidate">For <see cref="AddOutcome.PendingLivenessCheck"/>: the least-recently-seen peer of the bucket, to ping.</param>
/// <param name="Reason">For <see cref="AddOutcome.Rejected"/>: why.</param>
public readonly record struct AddResult(AddOutcome Outcome, RoutingEntry? EvictionCandidate = null, AddRejection Reason = AddRejection.None);
