using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Directory;

/// <summary>Where an account's devices are: verified contents of a presence record. No addresses means offline.</summary>
public sealed record Presence(PublicKey Account, IReadOnlyList<DeviceCertificate> Devices, IReadOnlyList<DeviceAddresses> Addresses, ulong Sequence, DateTimeOffset ExpiresAt)
{
    public bool IsOnline => Addresses.Any(a => a.Addresses.Count > 0);
}

/// <summary>The listen addresses of one certified device.</summary>
public sealed record DeviceAddresses(PeerId Device, IReadOnlyList<Multiaddr> Addresses);

/// <summary>One device of an account's device list: its certificate and the name the user gave it.</summary>
public sealed record LinkedDevice(DeviceCertificate Certificate, string Name)
{
    public PeerId DeviceId => Certificate.DeviceId;
}

/// <summary>
/// Verified contents of a device list record (docs/devices.md): the account's current devices and the keys of devices
/// it removed, which are never accepted again.
/// </summary>
public sealed record DeviceList(PublicKey Account, IReadOnlyList<LinkedDevice> Devices, IReadOnlyList<PublicKey> Removed, ulong Sequence, DateTimeOffset ExpiresAt)
{
    public bool Contains(PeerId device) => Devices.Any(d => d.DeviceId == device);

    public bool WasRemoved(PublicKey device) => Removed.Contains(device);
}

/// <summary>Verified contents of a prekey record: the account's certified identity DH key and its current signed prekey.</summary>
public sealed record PrekeyBundle(PublicKey Account, IdentityDhCertificate Identity, uint SignedPrekeyId, byte[] SignedPrekey, ulong Sequence, DateTimeOffset ExpiresAt);

/// <summary>An account's presence and prekey records as the directory stores them (signed by the account; null when
/// there is none): what a room passes on so that its members need not look each other up.</summary>
public sealed record PublishedRecords(byte[]? Presence, byte[]? Prekeys);

/// <summary>One account found under a name.</summary>
public sealed record HandleMatch(Handle Handle, PublicKey Account)
{
    public PeerId AccountId => Account.ToPeerId();
}

/// <summary>A claim as published: the handle, the stamp (persist it to renew without solving again), and how many peers took the put.</summary>
public sealed record NameClaimResult(Handle Handle, ulong ProofOfWork, int Stored, int Attempted);

/// <summary>The name already has as many claimants as a name may have; the claim was not published.</summary>
public sealed class NameUnavailableException : Exception
{
    public NameUnavailableException()
        : base("the name has as many claimants as a name may have")
    {
    }

    public NameUnavailableException(string message)
        : base(message)
    {
    }

    public NameUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public NameUnavailableException(string name, int claimants)
        : base($"the name '{name}' already has {claimants} claimants, the most a name may have; it frees up when a claim lapses")
    {
        Name = name;
    }

    /// <summary>The normalized name, when known.</summary>
    public string? Name { get; }
}
