using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Testing.Chat;

/// <summary>
/// A user directory in memory, shared by every user of a test (it plays the DHT): name claims first come first,
/// the latest presence and prekey bundle of each account. <see cref="Reachable"/> off makes every call fail as an
/// unreachable network does.
/// </summary>
public sealed class InMemoryDirectory(TimeProvider time) : IUserDirectory
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<HandleMatch>> _names = [];
    private readonly Dictionary<PeerId, Presence> _presence = [];
    private readonly Dictionary<PeerId, PrekeyBundle> _prekeys = [];
    private readonly Dictionary<(PeerId, PeerId), Presence> _devicePresence = [];
    private readonly Dictionary<(PeerId, PeerId), PrekeyBundle> _devicePrekeys = [];
    private readonly Dictionary<PeerId, DeviceList> _deviceLists = [];
    private readonly List<(PeerId Account, PublishedRecords Records)> _rememberedRecords = [];
    private ulong _sequence;

    public bool Reachable { get; set; } = true;

    /// <summary>How many presence records were published, offline ones included.</summary>
    public int PresencePublished { get; private set; }

    /// <summary>How many times an account's device list was looked up.</summary>
    public int DeviceListLookups { get; private set; }

    public Task<IReadOnlyList<HandleMatch>> FindAsync(string nameOrHandle, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            if (nameOrHandle.Contains('#', StringComparison.Ordinal))
            {
                var handle = Handle.Parse(nameOrHandle);
                var match = _names.GetValueOrDefault(handle.Name)?.FirstOrDefault(m => handle.Matches(m.Account));
                return Task.FromResult<IReadOnlyList<HandleMatch>>(match is null ? [] : [match]);
            }
            return Task.FromResult<IReadOnlyList<HandleMatch>>(_names.GetValueOrDefault(Handle.NormalizeName(nameOrHandle))?.ToList() ?? []);
        }
    }

    public Task<Presence?> GetPresenceAsync(PeerId account, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            return Task.FromResult(_presence.GetValueOrDefault(account));
        }
    }

    public Task<PrekeyBundle?> GetPrekeysAsync(PeerId account, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            return Task.FromResult(_prekeys.GetValueOrDefault(account));
        }
    }

    /// <summary>
    /// This directory holds contents, not signed records: with 0 (the default) there is nothing to pass on; else
    /// stand-ins of this many bytes for each record an account published, so that rooms carry what real records weigh.
    /// </summary>
    public int PublishedRecordBytes { get; set; }

    public PublishedRecords PublishedRecords(PeerId account)
    {
        lock (_gate)
        {
            return new(
                PublishedRecordBytes > 0 && _presence.ContainsKey(account) ? new byte[PublishedRecordBytes] : null,
                PublishedRecordBytes > 0 && _prekeys.ContainsKey(account) ? new byte[PublishedRecordBytes] : null);
        }
    }

    /// <summary>Every lookup here is answered from memory already; what clients were told is kept for tests to see.</summary>
    public void Remember(PeerId account, PublishedRecords records)
    {
        lock (_gate)
        {
            _rememberedRecords.Add((account, records));
        }
    }

    /// <summary>The records clients were told of (<see cref="Remember"/>), in order, for every client on this directory.</summary>
    public IReadOnlyList<(PeerId Account, PublishedRecords Records)> RememberedRecords
    {
        get
        {
            lock (_gate)
            {
                return _rememberedRecords.ToList();
            }
        }
    }

    public Task<int> PublishPresenceAsync(Account account, IReadOnlyList<DeviceCertificate> devices, IReadOnlyList<DeviceAddresses> addresses, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            _presence[account.Id] = new Presence(account.PublicKey, devices, addresses, ++_sequence, time.GetUtcNow().AddHours(1));
            PresencePublished++;
            return Task.FromResult(1);
        }
    }

    public Task<int> PublishPrekeysAsync(Account account, uint signedPrekeyId, byte[] signedPrekeyPublic, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            _prekeys[account.Id] = new PrekeyBundle(account.PublicKey, account.IdentityDhCertificate, signedPrekeyId, signedPrekeyPublic, ++_sequence, time.GetUtcNow().AddDays(7));
            return Task.FromResult(1);
        }
    }

    public Task<int> PublishDevicePresenceAsync(Account account, DeviceCertificate device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            _devicePresence[(account.Id, device.DeviceId)] = new Presence(account.PublicKey, [device], [new DeviceAddresses(device.DeviceId, addresses)], ++_sequence, time.GetUtcNow().AddHours(1));
            PresencePublished++;
            return Task.FromResult(1);
        }
    }

    public Task<Presence?> GetDevicePresenceAsync(PeerId account, PeerId device, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            return Task.FromResult(_devicePresence.GetValueOrDefault((account, device)));
        }
    }

    public Task<int> PublishDevicePrekeysAsync(Account account, PeerId device, uint signedPrekeyId, byte[] signedPrekeyPublic, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            _devicePrekeys[(account.Id, device)] = new PrekeyBundle(account.PublicKey, account.IdentityDhCertificate, signedPrekeyId, signedPrekeyPublic, ++_sequence, time.GetUtcNow().AddDays(7));
            return Task.FromResult(1);
        }
    }

    public Task<PrekeyBundle?> GetDevicePrekeysAsync(PeerId account, PeerId device, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            return Task.FromResult(_devicePrekeys.GetValueOrDefault((account, device)));
        }
    }

    /// <summary>Checked as a storing node checks it: the same limits and rules as <see cref="DirectoryRecordValidator"/>.</summary>
    public Task<int> PublishDeviceListAsync(Account account, IReadOnlyList<LinkedDevice> devices, IReadOnlyList<PublicKey> removed, CancellationToken cancellationToken)
    {
        CheckReachable();
        var key = DirectoryKeys.Devices(account.Id);
        var sequence = Interlocked.Increment(ref _sequence);
        var record = Parley.Dht.Records.SignedRecord.Create(account.SigningKey, key, DirectoryClient.DeviceListPayload(devices, removed).ToByteArray(), sequence, time.GetUtcNow().AddDays(7));
        var list = new DirectoryRecordValidator(time).OpenDeviceList(key, record);
        lock (_gate)
        {
            _deviceLists[account.Id] = list;
            return Task.FromResult(1);
        }
    }

    public Task<DeviceList?> GetDeviceListAsync(PeerId account, CancellationToken cancellationToken)
    {
        CheckReachable();
        lock (_gate)
        {
            DeviceListLookups++;
            return Task.FromResult(_deviceLists.GetValueOrDefault(account));
        }
    }

    public Task<NameClaimResult> ClaimNameAsync(Account account, string name, CancellationToken cancellationToken) => RenewNameAsync(account, name, 0, cancellationToken);

    public Task<NameClaimResult> RenewNameAsync(Account account, string name, ulong proofOfWork, CancellationToken cancellationToken)
    {
        CheckReachable();
        var handle = account.HandleFor(name);
        lock (_gate)
        {
            if (!_names.TryGetValue(handle.Name, out var claims))
            {
                _names[handle.Name] = claims = [];
            }
            if (!claims.Any(c => c.Account.Equals(account.PublicKey)))
            {
                claims.Add(new HandleMatch(handle, account.PublicKey));
            }
        }
        return Task.FromResult(new NameClaimResult(handle, proofOfWork, 1, 1));
    }

    private void CheckReachable()
    {
        if (!Reachable)
        {
            throw new IOException("the directory cannot be reached");
        }
    }
}
