using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Directory;

/// <summary>
/// What the chat core needs of the user directory: who holds a name, where an account's devices are, and the keys to
/// start a session with it; and publishing the same for our own account. <see cref="DirectoryClient"/> does it over
/// the DHT; tests use an in-memory directory (Parley.Testing).
/// </summary>
public interface IUserDirectory
{
    /// <summary>"name#tag": that account or nothing; "name": every current claimant, first come first.</summary>
    /// <exception cref="FormatException">Neither a valid name nor a valid handle.</exception>
    Task<IReadOnlyList<HandleMatch>> FindAsync(string nameOrHandle, CancellationToken cancellationToken);

    /// <summary>The current presence of <paramref name="account"/>, or null when none is found.</summary>
    Task<Presence?> GetPresenceAsync(PeerId account, CancellationToken cancellationToken);

    /// <summary>The current prekey bundle of <paramref name="account"/>, or null when none is found.</summary>
    Task<PrekeyBundle?> GetPrekeysAsync(PeerId account, CancellationToken cancellationToken);

    /// <summary>The presence and prekey records this directory client last published for <paramref name="account"/>, as
    /// it stored them: a room passes them on, so that its members need not look them up.</summary>
    PublishedRecords PublishedRecords(PeerId account);

    /// <summary>
    /// Records of <paramref name="account"/> that a room member passed on: the next <see cref="GetPresenceAsync"/> or
    /// <see cref="GetPrekeysAsync"/> of that account checks them as it checks a record found in the directory and,
    /// when they hold, answers with them instead of asking the network (once: later lookups ask again).
    /// </summary>
    void Remember(PeerId account, PublishedRecords records);

    /// <summary>Publishes where the account's devices are (no addresses: offline); returns how many places stored it.</summary>
    Task<int> PublishPresenceAsync(Account account, IReadOnlyList<DeviceCertificate> devices, IReadOnlyList<DeviceAddresses> addresses, CancellationToken cancellationToken);

    /// <summary>Publishes the account's prekey bundle; returns how many places stored it.</summary>
    Task<int> PublishPrekeysAsync(Account account, uint signedPrekeyId, byte[] signedPrekeyPublic, CancellationToken cancellationToken);

    /// <summary>Publishes one linked device's presence, apart from the other devices' (docs/devices.md).</summary>
    Task<int> PublishDevicePresenceAsync(Account account, DeviceCertificate device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken);

    /// <summary>One linked device's presence, or null when none is found.</summary>
    Task<Presence?> GetDevicePresenceAsync(PeerId account, PeerId device, CancellationToken cancellationToken);

    /// <summary>Publishes one linked device's signed prekey (the identity DH key is the account's).</summary>
    Task<int> PublishDevicePrekeysAsync(Account account, PeerId device, uint signedPrekeyId, byte[] signedPrekeyPublic, CancellationToken cancellationToken);

    /// <summary>One linked device's prekey bundle, or null when none is found.</summary>
    Task<PrekeyBundle?> GetDevicePrekeysAsync(PeerId account, PeerId device, CancellationToken cancellationToken);

    /// <summary>Publishes the account's device list; returns how many places stored it.</summary>
    Task<int> PublishDeviceListAsync(Account account, IReadOnlyList<LinkedDevice> devices, IReadOnlyList<PublicKey> removed, CancellationToken cancellationToken);

    /// <summary>The account's device list, or null when it has none (a single-device account).</summary>
    Task<DeviceList?> GetDeviceListAsync(PeerId account, CancellationToken cancellationToken);

    /// <summary>Claims a name for the account, solving its stamp once.</summary>
    /// <exception cref="NameUnavailableException">The name already has the most claimants a name may have.</exception>
    Task<NameClaimResult> ClaimNameAsync(Account account, string name, CancellationToken cancellationToken);

    /// <summary>Renews the account's claim with the stamp kept from <see cref="ClaimNameAsync"/>.</summary>
    Task<NameClaimResult> RenewNameAsync(Account account, string name, ulong proofOfWork, CancellationToken cancellationToken);
}
