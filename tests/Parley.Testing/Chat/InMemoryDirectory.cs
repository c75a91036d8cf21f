using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Core.Identity;

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
    private ulong _sequence;

    public bool Reachable { get; set; } = true;

    /// <summary>How many presence records were published, offline ones included.</summary>
    public int PresencePublished { get; private set; }

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

    /// <summary>Every lookup here is answered from memory already.</summary>
    public void Remember(PeerId account, PublishedRecords records)
    {
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
