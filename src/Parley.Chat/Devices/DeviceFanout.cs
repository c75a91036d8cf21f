using System.Collections.Concurrent;
using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Devices;

/// <summary>
/// Which devices a 1:1 envelope goes to (docs/devices.md, Sesame-like): every current device of a contact whose account
/// has a device list, and our own other devices (the sync copy). Keeps each linked contact's list as last verified
/// (a setting per contact: its devices and every key it ever removed), and checks the device an envelope names against
/// it. A contact without a list, and our account without one, take the account route as before: no lookup, no bytes.
/// </summary>
internal sealed class DeviceFanout(ChatContext context, IUserDirectory directory, DeviceCertificate thisDevice)
{
    /// <summary>How often, at most, an unknown device named by an envelope makes us look its account's list up again.</summary>
    private static readonly TimeSpan UnknownDeviceRecheck = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<PeerId, DateTimeOffset> _lookedUpAt = new();

    public DeviceCertificate ThisDevice => thisDevice;

    internal static string ContactListSetting(PeerId account) => $"contact-devices/{account}";

    /// <summary>The certificate our envelopes name, once our account has a device list; null before.</summary>
    public byte[]? SenderDevice(IChatReader reader) => reader.GetSetting(AccountDevices.ListSetting) is null ? null : thisDevice.ToBytes();

    /// <summary>The devices of <paramref name="account"/> to encrypt to, each on its own session; null: the account route (no list known).</summary>
    public IReadOnlyList<DeviceTarget>? TargetsOf(IChatReader reader, PeerId account)
    {
        if (account == context.Account.Id)
        {
            return OwnOtherDevices(reader);
        }
        return reader.GetSetting(ContactListSetting(account)) is { } bytes ? Targets(AccountDevices.ParseList(bytes).Devices) : null;
    }

    /// <summary>Our account's devices but this one (empty while the account has no list).</summary>
    public IReadOnlyList<DeviceTarget> OwnOtherDevices(IChatReader reader) => OwnDevices(reader).Where(t => t.Device != thisDevice.DeviceId).ToList();

    /// <summary>Our account's devices, this one included, in the list's order (empty while the account has no list).</summary>
    public static IReadOnlyList<DeviceTarget> OwnDevices(IChatReader reader) =>
        reader.GetSetting(AccountDevices.ListSetting) is { } bytes ? Targets(AccountDevices.ParseList(bytes).Devices) : [];

    /// <summary>Ourselves as the "contact" our sync copies go to: the account's keys; no mailbox token (a stamp pays).</summary>
    public ContactRecord Self() =>
        new(context.Account.Id, context.Account.PublicKey, context.Account.IdentityDhPublicKey, context.Name, ContactState.Accepted, null, null, DateTimeOffset.UnixEpoch);

    /// <summary>
    /// Looks up a linked contact's device list again when ours is older than <see cref="ChatOptions.PresenceCacheTime"/>
    /// (or at once with <paramref name="force"/>), merges it into what we know and drops the sessions and queued
    /// envelopes of devices it removed. Nothing for a contact not known to be linked unless forced.
    /// </summary>
    public async Task RefreshAsync(PeerId account, bool force, CancellationToken cancellationToken)
    {
        var now = context.Now;
        if (account == context.Account.Id
            || (!force && _lookedUpAt.TryGetValue(account, out var at) && now - at < context.Options.PresenceCacheTime))
        {
            return;
        }
        var known = await context.Store.ReadAsync(r => r.GetSetting(ContactListSetting(account)), cancellationToken);
        if (known is null && !force)
        {
            return;
        }
        _lookedUpAt[account] = now;
        DeviceList? published;
        try
        {
            published = await directory.GetDeviceListAsync(account, cancellationToken);
        }
        catch (IOException e)
        {
            ChatLog.DeviceListLookupFailed(context.Logger, account, e.Message);
            return;
        }
        if (published is null)
        {
            return;
        }
        await context.Store.TransactAsync(tx =>
        {
            var removed = tx.GetSetting(ContactListSetting(account)) is { } bytes ? AccountDevices.ParseList(bytes).Removed : [];
            removed.AddRange(published.Removed.Where(k => !removed.Contains(k)));
            var devices = published.Devices.Where(d => !removed.Contains(d.Certificate.Device)).ToList();
            tx.PutSetting(ContactListSetting(account), DirectoryClient.DeviceListPayload(devices, removed).ToByteArray());
            Forget(tx, account, removed.Select(k => k.ToPeerId()).ToHashSet());
            return true;
        }, cancellationToken);
    }

    /// <summary>
    /// A room entry signed by <paramref name="account"/> says it removed <paramref name="device"/> (docs/devices.md,
    /// "Rooms"): taken at once into the list we keep of it (a contact's, or our own), so that the room's new keys, sent in
    /// the sync that follows, do not go to that device even before its list is looked up again. Nothing for an account
    /// we know no list of (we send to its first device alone).
    /// </summary>
    public void MarkRemoved(IChatTransaction tx, PeerId account, PublicKey device)
    {
        var setting = account == context.Account.Id ? AccountDevices.ListSetting : ContactListSetting(account);
        if (tx.GetSetting(setting) is not { } bytes)
        {
            return;
        }
        var list = AccountDevices.ParseList(bytes);
        if (list.Removed.Contains(device))
        {
            return;
        }
        list.Removed.Add(device);
        tx.PutSetting(setting, DirectoryClient.DeviceListPayload(list.Devices.Where(d => !d.Certificate.Device.Equals(device)).ToList(), list.Removed).ToByteArray());
        Forget(tx, account, new HashSet<PeerId> { device.ToPeerId() });
    }

    /// <summary>Drops the sessions with, and the envelopes queued for, devices of <paramref name="account"/> that were removed.</summary>
    public static void Forget(IChatTransaction tx, PeerId account, IReadOnlySet<PeerId> removed)
    {
        if (removed.Count == 0)
        {
            return;
        }
        foreach (var session in tx.GetSessions(account).Where(s => s.Device is { } d && removed.Contains(d)))
        {
            tx.DeleteSession(account, session.SessionId);
        }
        foreach (var item in tx.GetOutboxFor(account).Where(i => i.Device is { } d && removed.Contains(d)))
        {
            tx.DeleteOutbox(item.EnvelopeId);
        }
    }

    /// <summary>
    /// The device an inbound envelope names, checked: certified by the sender's account and in its current list (ours
    /// for a sync copy; a contact's, looked up when the device is new to us). Null when it names none (a single-device
    /// sender, or one that wrote before linking).
    /// </summary>
    /// <exception cref="EnvelopeRefusedException">A bad certificate, a removed device, or a device the account does not list.</exception>
    public async Task<DeviceCertificate?> CheckSenderAsync(IdentityDhCertificate sender, Envelope envelope, CancellationToken cancellationToken)
    {
        var account = sender.Account.ToPeerId();
        if (envelope.SenderDevice.IsEmpty)
        {
            if (account == context.Account.Id)
            {
                throw new EnvelopeRefusedException("an envelope claiming to be from ourselves");
            }
            return null;
        }
        DeviceCertificate device;
        try
        {
            device = DeviceCertificate.Parse(envelope.SenderDevice.Span);
        }
        catch (Exception e) when (e is FormatException or InvalidSignatureException or System.Security.Cryptography.CryptographicException)
        {
            throw new EnvelopeRefusedException($"bad sender device certificate: {e.Message}");
        }
        if (!device.Account.Equals(sender.Account))
        {
            throw new EnvelopeRefusedException("the sender device is certified by another account");
        }
        if (account == context.Account.Id)
        {
            var own = await context.Store.ReadAsync(OwnOtherDevices, cancellationToken);
            return own.Any(t => t.Device == device.DeviceId)
                ? device
                : throw new EnvelopeRefusedException("an envelope from a device that is not another current device of this account");
        }
        var status = await StatusAsync(account, device, cancellationToken);
        if (status == DeviceStatus.Unknown && (!_lookedUpAt.TryGetValue(account, out var at) || context.Now - at >= UnknownDeviceRecheck))
        {
            await RefreshAsync(account, force: true, cancellationToken);
            status = await StatusAsync(account, device, cancellationToken);
        }
        return status switch
        {
            DeviceStatus.Listed => device,
            DeviceStatus.Removed => throw new EnvelopeRefusedException("the sender's device was removed from its account"),
            _ => throw new EnvelopeRefusedException("the sender's device is not in its account's device list"),
        };
    }

    /// <summary>The copy our other devices get of what we sent <paramref name="contact"/>; null for content they need not show.</summary>
    public static Content? SyncCopyOf(ContactRecord contact, Content content) =>
        content.BodyCase is Content.BodyOneofCase.Text or Content.BodyOneofCase.ContactRequest or Content.BodyOneofCase.ContactAccept
            or Content.BodyOneofCase.Edit or Content.BodyOneofCase.Deletion or Content.BodyOneofCase.Reaction
            ? new Content
            {
                SentCopy = new SentCopy
                {
                    PeerAccount = ByteString.CopyFrom(contact.AccountKey.ToProtobuf()),
                    PeerIdentityDhKey = ByteString.CopyFrom(contact.IdentityDhKey),
                    PeerName = contact.Name,
                    OurMailboxToken = contact.OurMailboxToken is null ? ByteString.Empty : ByteString.CopyFrom(contact.OurMailboxToken),
                    Content = content,
                },
            }
            : null;

    private async Task<DeviceStatus> StatusAsync(PeerId account, DeviceCertificate device, CancellationToken cancellationToken)
    {
        var bytes = await context.Store.ReadAsync(r => r.GetSetting(ContactListSetting(account)), cancellationToken);
        if (bytes is null)
        {
            return DeviceStatus.Unknown;
        }
        var list = AccountDevices.ParseList(bytes);
        return list.Removed.Contains(device.Device) ? DeviceStatus.Removed
            : list.Devices.Exists(d => d.Certificate.Device.Equals(device.Device)) ? DeviceStatus.Listed
            : DeviceStatus.Unknown;
    }

    /// <summary>The first device of a list holds the account's records (docs/devices.md): sessions stored before it had a
    /// list (device null) are its own.</summary>
    private static List<DeviceTarget> Targets(List<LinkedDevice> devices) =>
        devices.Select((d, i) => new DeviceTarget(d.DeviceId, d.Certificate.Device, IsFirst: i == 0)).ToList();

    private enum DeviceStatus
    {
        Unknown,
        Listed,
        Removed,
    }
}

/// <summary>One device of an account a 1:1 envelope is encrypted to; the first of its list also owns the sessions stored without a device.</summary>
internal sealed record DeviceTarget(PeerId Device, PublicKey Key, bool IsFirst)
{
    public bool Owns(SessionRecord session) => session.Device == Device || (IsFirst && session.Device is null);
}
