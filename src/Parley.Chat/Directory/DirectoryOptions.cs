using Parley.Dht.Records;
using Pow = Parley.Core.Crypto.ProofOfWork;

namespace Parley.Chat.Directory;

/// <summary>Directory parameters. The validation ones (difficulty, claims per name) must be equal network-wide.</summary>
public sealed class DirectoryOptions
{
    /// <summary>Leading zero bits a name-claim stamp needs; 21 bits cost about a second of one core (docs/directory.md).</summary>
    public int NameClaimDifficulty { get; init; } = 21;

    /// <summary>Accounts that may claim one name; later claimants are refused (first come, first served).</summary>
    public int MaxClaimsPerName { get; init; } = 16;

    public TimeSpan PresenceLifetime { get; init; } = TimeSpan.FromHours(2);

    /// <summary>How often the node should republish presence (and whenever its addresses change); the caller schedules it.</summary>
    public TimeSpan PresenceRepublish { get; init; } = TimeSpan.FromMinutes(30);

    public TimeSpan PrekeyLifetime { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How often the node should republish its prekey bundle; the caller schedules it.</summary>
    public TimeSpan PrekeyRepublish { get; init; } = TimeSpan.FromDays(1);

    public TimeSpan NameClaimLifetime { get; init; } = TimeSpan.FromDays(7);

    /// <summary>A device list's lifetime; every device republishes it with its prekeys.</summary>
    public TimeSpan DeviceListLifetime { get; init; } = TimeSpan.FromDays(7);

    /// <summary>How often the node should renew its name claims; the caller schedules it.</summary>
    public TimeSpan NameClaimRenewal { get; init; } = TimeSpan.FromDays(1);

    /// <summary>Copies a name lookup collects before it stops (the DHT's default is 3): claim sets are merged, so more copies see more claims.</summary>
    public int NameLookupQuorum { get; init; } = 20;

    /// <summary>The longest lifetime storing nodes accept for any directory record.</summary>
    public static TimeSpan MaxLifetime => SignedRecordValidator.DefaultMaxExpiryAhead;

    /// <exception cref="ArgumentOutOfRangeException">A value out of range.</exception>
    internal DirectoryOptions Validated()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(NameClaimDifficulty, nameof(NameClaimDifficulty));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(NameClaimDifficulty, Pow.MaxDifficulty, nameof(NameClaimDifficulty));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(MaxClaimsPerName, nameof(MaxClaimsPerName));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(NameLookupQuorum, nameof(NameLookupQuorum));
        foreach (var (lifetime, name) in new[] { (PresenceLifetime, nameof(PresenceLifetime)), (PrekeyLifetime, nameof(PrekeyLifetime)), (NameClaimLifetime, nameof(NameClaimLifetime)), (DeviceListLifetime, nameof(DeviceListLifetime)) })
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lifetime, TimeSpan.Zero, name);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(lifetime, MaxLifetime, name);
        }
        return this;
    }
}
