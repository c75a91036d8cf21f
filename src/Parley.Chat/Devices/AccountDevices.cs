using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Core.Identity;

namespace Parley.Chat.Devices;

/// <summary>
/// The account's linked devices (docs/devices.md): certifies a new device with the account key, removes one, and keeps
/// the account's device list in the directory. Every device holds the account key, so any of them can do all three and
/// republish the list. Lists from several devices merge without conflict: the devices of both, less every key either
/// removed (a removed key never comes back). An account without a list is a single-device account, as before linking.
/// </summary>
public sealed class AccountDevices : IDisposable
{
    /// <summary>The name this device takes in the list the first time another device is added.</summary>
    public const string FirstDeviceName = "first device";

    /// <summary>Where this device keeps the account's device list (a linked device gets it in the link's snapshot).</summary>
    internal const string ListSetting = "device-list";

    private readonly ChatContext _context;
    private readonly IUserDirectory _directory;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private readonly IdentityKey? _deviceKey;

    internal AccountDevices(ChatContext context, IUserDirectory directory, DeviceCertificate thisDevice, IdentityKey? deviceKey)
    {
        _context = context;
        _directory = directory;
        ThisDevice = thisDevice;
        _deviceKey = deviceKey;
    }

    /// <summary>Called after this device's list changed by <see cref="AddAsync"/> or <see cref="JoinAsync"/>: the
    /// composition publishes this device's own records then, not at the next republish.</summary>
    internal Func<CancellationToken, Task>? Linked { get; set; }

    /// <summary>Called after <see cref="RemoveAsync"/> published the list without the device (its key given): the
    /// composition rotates the rooms' keys then.</summary>
    internal Func<PublicKey, CancellationToken, Task>? Removed { get; set; }

    /// <summary>This device's certificate.</summary>
    public DeviceCertificate ThisDevice { get; }

    /// <summary>
    /// Certifies <paramref name="deviceKey"/> with the account key, adds it to the device list and publishes the list.
    /// Adding a device already listed returns its certificate again (a retried link).
    /// </summary>
    /// <exception cref="ChatException">A bad name, a removed key (it can never return: the device needs a new key), or the list is full.</exception>
    public async Task<DeviceCertificate> AddAsync(PublicKey deviceKey, string deviceName, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(deviceKey);
        ArgumentNullException.ThrowIfNull(deviceName);
        if (DirectoryRecordValidator.DeviceNameProblem(deviceName) is { } problem)
        {
            throw new ChatException(problem);
        }
        var certificate = await ChangeAsync(state =>
        {
            if (state.Removed.Contains(deviceKey))
            {
                throw new ChatException("that device was removed from this account and cannot be linked again; link it with a new device key");
            }
            if (state.Devices.Find(d => d.Certificate.Device.Equals(deviceKey)) is { } listed)
            {
                return listed.Certificate;
            }
            if (state.Devices.Count >= DirectoryRecordValidator.MaxDevices)
            {
                throw new ChatException($"an account has at most {DirectoryRecordValidator.MaxDevices} devices; remove one first");
            }
            var added = _context.Account.CertifyDevice(deviceKey, _context.Now);
            state.Devices.Add(new LinkedDevice(added, deviceName));
            return added;
        }, cancellationToken);
        await OnLinkedAsync(cancellationToken);
        return certificate;
    }

    /// <summary>
    /// Removes <paramref name="device"/> from the device list and publishes the list: contacts stop encrypting to it and
    /// never accept its key again, and every room we are in rotates its keys (<see cref="Removed"/>).
    /// </summary>
    /// <exception cref="ChatException">It is this device, or not a device of the account.</exception>
    public async Task RemoveAsync(PeerId device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (device == ThisDevice.DeviceId)
        {
            throw new ChatException("a device cannot remove itself; remove it from another device of the account");
        }
        var key = await ChangeAsync(state =>
        {
            var listed = state.Devices.Find(d => d.DeviceId == device) ?? throw new ChatException($"{device} is not a device of this account");
            if (state.Removed.Count >= DirectoryRecordValidator.MaxRemovedDevices)
            {
                throw new ChatException($"this account has removed {DirectoryRecordValidator.MaxRemovedDevices} devices, the most a list remembers; move to a new account");
            }
            state.Devices.Remove(listed);
            state.Removed.Add(listed.Certificate.Device);
            return listed.Certificate.Device;
        }, cancellationToken);
        if (Removed is { } removed)
        {
            await removed(key, cancellationToken);
        }
    }

    /// <summary>The account's devices as this device knows them; only this device while the account has no list.</summary>
    public async Task<IReadOnlyList<LinkedDevice>> ListAsync(CancellationToken cancellationToken)
    {
        var state = await ReadAsync(cancellationToken);
        return state?.Devices ?? [new LinkedDevice(ThisDevice, FirstDeviceName)];
    }

    /// <summary>Keys of the devices this account removed: never accepted again.</summary>
    public async Task<IReadOnlyList<PublicKey>> RemovedAsync(CancellationToken cancellationToken) =>
        (await ReadAsync(cancellationToken))?.Removed ?? [];

    /// <summary>True once the account has more than this device (or had: a list, once made, stays).</summary>
    public async Task<bool> IsLinkedAsync(CancellationToken cancellationToken) => await ReadAsync(cancellationToken) is not null;

    /// <summary>
    /// True when this device keeps the account-wide records (presence, prekeys, one-time prekeys, name claim, mailbox
    /// policy) and reads the account mailbox: a single-device account's device, or the first device of the list. Until
    /// senders encrypt to every device (docs/devices.md), the account's sessions live there, so another device must
    /// neither publish over those records nor fetch, and delete, envelopes it cannot decrypt.
    /// </summary>
    public async Task<bool> HoldsAccountRecordsAsync(CancellationToken cancellationToken) =>
        await ReadAsync(cancellationToken) is not { } state || (state.Devices.Count > 0 && state.Devices[0].DeviceId == ThisDevice.DeviceId);

    /// <summary>
    /// The mailbox this device gives out, uploads its one-time prekeys and sends its policy to: the account mailbox on
    /// the device that holds the account records, else the mailbox owned by this device's key (so that one device's
    /// delete never removes another's copy); null when this device has neither.
    /// </summary>
    internal async Task<IdentityKey?> OwnMailboxAsync(CancellationToken cancellationToken) =>
        await HoldsAccountRecordsAsync(cancellationToken) ? _context.Account.SigningKey : _deviceKey;

    /// <summary>The mailboxes this device empties: its own, and on a linked device its device-key mailbox too (a device
    /// that became the first one still gets what was sent to it before).</summary>
    internal async Task<IReadOnlyList<IdentityKey>> MailboxesToReadAsync(CancellationToken cancellationToken)
    {
        var owners = new List<IdentityKey>(2);
        var own = await OwnMailboxAsync(cancellationToken);
        if (own is not null)
        {
            owners.Add(own);
        }
        if (_deviceKey is not null && !ReferenceEquals(own, _deviceKey) && await IsLinkedAsync(cancellationToken))
        {
            owners.Add(_deviceKey);
        }
        return owners;
    }

    /// <summary>
    /// On a newly linked device: takes the account's device list from the directory, which must list this device (the
    /// device that linked it published it with <see cref="AddAsync"/>). From then on this device keeps the list too.
    /// </summary>
    /// <exception cref="ChatException">The account has no list, or its list does not certify this device.</exception>
    public async Task<IReadOnlyList<LinkedDevice>> JoinAsync(CancellationToken cancellationToken)
    {
        ListState state;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var published = await _directory.GetDeviceListAsync(_context.Account.Id, cancellationToken)
                ?? throw new ChatException("the account has no device list yet; add this device from a device of the account first");
            if (!published.Contains(ThisDevice.DeviceId))
            {
                throw new ChatException(published.WasRemoved(ThisDevice.Device)
                    ? "this device was removed from the account"
                    : "the account's device list does not list this device; add it from a device of the account first");
            }
            state = Merge(await ReadAsync(cancellationToken) ?? new ListState([], []), published);
            await SaveAsync(state, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
        await OnLinkedAsync(cancellationToken);
        return state.Devices;
    }

    private async Task OnLinkedAsync(CancellationToken cancellationToken)
    {
        if (Linked is { } linked)
        {
            await linked(cancellationToken);
        }
    }

    /// <summary>
    /// Merges the list found in the directory into ours (another device may have added or removed one) and publishes the
    /// result when ours knew something the directory's did not. Nothing to do (no lookup) for a single-device account:
    /// a device learns it is linked when it links another or is linked (then it holds a list).
    /// </summary>
    public async Task<int> RefreshAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var local = await ReadAsync(cancellationToken);
            if (local is null)
            {
                return 0;
            }
            var published = await _directory.GetDeviceListAsync(_context.Account.Id, cancellationToken);
            var merged = Merge(local, published);
            await SaveAsync(merged, cancellationToken);
            return published is not null && SameAs(merged, published) ? 0 : await PublishAsync(merged, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<T> ChangeAsync<T>(Func<ListState, T> change, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var published = await _directory.GetDeviceListAsync(_context.Account.Id, cancellationToken);
            var state = Merge(await ReadAsync(cancellationToken), published);
            var result = change(state);
            await SaveAsync(state, cancellationToken);
            await PublishAsync(state, cancellationToken);
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    private Task<int> PublishAsync(ListState state, CancellationToken cancellationToken) =>
        _directory.PublishDeviceListAsync(_context.Account, state.Devices, state.Removed, cancellationToken);

    /// <summary>Ours, then the published list's devices we lack, less every removed key (this device's too, once another device removed it).</summary>
    private ListState Merge(ListState? local, DeviceList? published)
    {
        var state = local ?? new ListState([new LinkedDevice(ThisDevice, FirstDeviceName)], []);
        if (published is not null)
        {
            state.Removed.AddRange(published.Removed.Where(k => !state.Removed.Contains(k)));
            state.Devices.AddRange(published.Devices.Where(d => !state.Devices.Exists(known => known.Certificate.Device.Equals(d.Certificate.Device))));
        }
        state.Devices.RemoveAll(d => state.Removed.Contains(d.Certificate.Device));
        return state;
    }

    private static bool SameAs(ListState state, DeviceList published) =>
        state.Devices.Count == published.Devices.Count && state.Removed.Count == published.Removed.Count
        && state.Devices.TrueForAll(d => published.Contains(d.DeviceId)) && state.Removed.TrueForAll(published.WasRemoved);

    private async Task<ListState?> ReadAsync(CancellationToken cancellationToken)
    {
        var bytes = await _context.Store.ReadAsync(r => r.GetSetting(ListSetting), cancellationToken);
        return bytes is null ? null : ParseList(bytes);
    }

    /// <summary>A device list as this device stores it (its own account's, or a contact's: <see cref="DeviceFanout"/>).</summary>
    internal static ListState ParseList(byte[] bytes)
    {
        // Written by this device only; the certificates were verified on the way in.
        var message = DeviceListMessage.Parser.ParseFrom(bytes);
        return new ListState(
            message.Devices.Select(d => new LinkedDevice(DeviceCertificate.FromMessage(d.Certificate), d.Name)).ToList(),
            message.Removed.Select(k => PublicKey.FromProtobuf(k.Span)).ToList());
    }

    private Task<bool> SaveAsync(ListState state, CancellationToken cancellationToken)
    {
        var bytes = DirectoryClient.DeviceListPayload(state.Devices, state.Removed).ToByteArray();
        return _context.Store.TransactAsync(tx =>
        {
            tx.PutSetting(ListSetting, bytes);
            return true;
        }, cancellationToken);
    }

    public void Dispose() => _gate.Dispose();

    internal sealed record ListState(List<LinkedDevice> Devices, List<PublicKey> Removed);
}
