using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Dht.Records;
using Pow = Parley.Core.Crypto.ProofOfWork;

namespace Parley.Chat.Directory;

/// <summary>
/// Publishes and looks up presence, prekey bundles and name claims in the DHT. Like <see cref="KademliaNode"/> it never
/// uses ConfigureAwait(false), so it runs under the simulator's single-threaded context too. Publishing on a schedule
/// (<see cref="DirectoryOptions.PresenceRepublish"/> and the like) is the caller's job.
/// </summary>
public sealed class DirectoryClient : IUserDirectory
{
    private readonly KademliaNode _dht;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DirectoryRecordValidator _validator;

    /// <summary>Stamps solved or seen, per account and name, so renewals cost no work.</summary>
    private readonly ConcurrentDictionary<string, ulong> _stamps = new(StringComparer.Ordinal);

    /// <summary>Records passed on by room members are kept for this many accounts at most (beyond, lookups ask the network).</summary>
    private const int MaxRemembered = 10_000;

    private readonly ConcurrentDictionary<RecordKey, byte[]> _published = new();
    private readonly ConcurrentDictionary<RecordKey, byte[]> _remembered = new();

    private long _lastSequence;

    public DirectoryClient(KademliaNode dht, TimeProvider time, DirectoryOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(dht);
        ArgumentNullException.ThrowIfNull(time);
        _dht = dht;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _validator = new DirectoryRecordValidator(time, options);
    }

    public DirectoryOptions Options => _validator.Options;

    /// <summary>
    /// Claims <paramref name="name"/> for <paramref name="account"/>. The stamp is solved once (about a second of one core
    /// at the default difficulty, on the thread pool) and remembered for renewals; a stamp of this account's earlier
    /// claim found in the DHT is reused instead.
    /// </summary>
    /// <exception cref="FormatException">Not a valid name.</exception>
    /// <exception cref="NameUnavailableException">The name already has the most claimants a name may have.</exception>
    public async Task<NameClaimResult> ClaimNameAsync(Account account, string name, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        var normalized = Handle.NormalizeName(name);
        var claims = await ReadClaimsAsync(normalized, cancellationToken);
        EnsureRoom(account, normalized, claims);
        var challenge = NameClaim.Challenge(normalized, account.PublicKey);
        if (!_stamps.TryGetValue(StampKey(account, normalized), out var stamp))
        {
            var earlier = claims.FirstOrDefault(c => c.Account.Equals(account.PublicKey));
            stamp = earlier is not null && Pow.Verify(challenge, earlier.ProofOfWork, Options.NameClaimDifficulty)
                ? earlier.ProofOfWork
                : await SolveAsync(challenge, cancellationToken);
            _stamps[StampKey(account, normalized)] = stamp;
        }
        return await PublishClaimAsync(account, normalized, stamp, cancellationToken);
    }

    /// <summary>Renews <paramref name="account"/>'s claim of <paramref name="name"/> with a stamp the caller kept from <see cref="ClaimNameAsync"/>.</summary>
    /// <exception cref="FormatException">Not a valid name.</exception>
    /// <exception cref="ArgumentException">The stamp does not solve this name's challenge for this account.</exception>
    /// <exception cref="NameUnavailableException">The claim has lapsed and the name now has the most claimants a name may have.</exception>
    public async Task<NameClaimResult> RenewNameAsync(Account account, string name, ulong proofOfWork, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        var normalized = Handle.NormalizeName(name);
        if (!Pow.Verify(NameClaim.Challenge(normalized, account.PublicKey), proofOfWork, Options.NameClaimDifficulty))
        {
            throw new ArgumentException($"the stamp does not solve the challenge of this account's claim of '{normalized}' at difficulty {Options.NameClaimDifficulty}", nameof(proofOfWork));
        }
        var claims = await ReadClaimsAsync(normalized, cancellationToken);
        EnsureRoom(account, normalized, claims);
        _stamps[StampKey(account, normalized)] = proofOfWork;
        return await PublishClaimAsync(account, normalized, proofOfWork, cancellationToken);
    }

    /// <summary>
    /// "name#tag": the account of that handle, or nothing. "name": every current claimant, first come first. When two
    /// claimants share a tag (a ground key), the first come is the one returned.
    /// </summary>
    /// <exception cref="FormatException">Neither a valid name nor a valid handle.</exception>
    public async Task<IReadOnlyList<HandleMatch>> FindAsync(string nameOrHandle, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(nameOrHandle);
        if (nameOrHandle.Contains('#', StringComparison.Ordinal))
        {
            var handle = Handle.Parse(nameOrHandle);
            var match = (await ReadClaimsAsync(handle.Name, cancellationToken)).FirstOrDefault(c => handle.Matches(c.Account));
            return match is null ? [] : [new HandleMatch(handle, match.Account)];
        }
        var claims = await ReadClaimsAsync(Handle.NormalizeName(nameOrHandle), cancellationToken);
        return claims.Select(c => new HandleMatch(c.Handle, c.Account)).ToList();
    }

    /// <summary>
    /// Publishes where <paramref name="account"/>'s devices are (no addresses: offline), replacing any earlier presence;
    /// returns how many peers stored it.
    /// </summary>
    /// <exception cref="RecordValidationException">Over a limit (devices, addresses) or a certificate of another account.</exception>
    public async Task<int> PublishPresenceAsync(Account account, IReadOnlyList<DeviceCertificate> devices, IReadOnlyList<DeviceAddresses> addresses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(addresses);
        var payload = new PresenceMessage();
        payload.Devices.AddRange(devices.Select(d => d.ToMessage()));
        foreach (var entry in addresses)
        {
            var message = new DeviceAddressesMessage { Device = ByteString.CopyFrom(entry.Device.Bytes) };
            message.Addresses.AddRange(entry.Addresses.Select(a => ByteString.CopyFrom(a.ToBytes())));
            payload.Addresses.Add(message);
        }
        return await PublishSignedAsync(account, DirectoryKeys.Presence(account.Id), payload, Options.PresenceLifetime, cancellationToken);
    }

    /// <summary>The current presence of <paramref name="account"/>, or null when none is found.</summary>
    public async Task<Presence?> GetPresenceAsync(PeerId account, CancellationToken cancellationToken)
    {
        var key = DirectoryKeys.Presence(account);
        if (_remembered.TryRemove(key, out var remembered) && Open(key, remembered, _validator.OpenPresence) is { } known)
        {
            return known;
        }
        var value = await GetAsync(key, cancellationToken);
        return value is null ? null : Open(key, value, _validator.OpenPresence);
    }

    /// <summary>Publishes <paramref name="account"/>'s prekey bundle (identity DH certificate and signed prekey); returns how many peers stored it.</summary>
    public async Task<int> PublishPrekeysAsync(Account account, uint signedPrekeyId, byte[] signedPrekeyPublic, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        return await PublishSignedAsync(account, DirectoryKeys.Prekeys(account.Id), PrekeyPayload(account, signedPrekeyId, signedPrekeyPublic), Options.PrekeyLifetime, cancellationToken);
    }

    private static PrekeyBundleMessage PrekeyPayload(Account account, uint signedPrekeyId, byte[] signedPrekeyPublic)
    {
        ArgumentNullException.ThrowIfNull(signedPrekeyPublic);
        if (signedPrekeyPublic.Length != DirectoryRecordValidator.PrekeyLength)
        {
            throw new ArgumentException($"a signed prekey is a {DirectoryRecordValidator.PrekeyLength}-byte X25519 public key", nameof(signedPrekeyPublic));
        }
        return new PrekeyBundleMessage
        {
            Identity = account.IdentityDhCertificate.ToMessage(),
            SignedPrekeyId = signedPrekeyId,
            SignedPrekey = ByteString.CopyFrom(signedPrekeyPublic),
        };
    }

    /// <summary>The current prekey bundle of <paramref name="account"/>, or null when none is found.</summary>
    public async Task<PrekeyBundle?> GetPrekeysAsync(PeerId account, CancellationToken cancellationToken)
    {
        var key = DirectoryKeys.Prekeys(account);
        if (_remembered.TryRemove(key, out var remembered) && Open(key, remembered, _validator.OpenPrekeys) is { } known)
        {
            return known;
        }
        var value = await GetAsync(key, cancellationToken);
        return value is null ? null : Open(key, value, _validator.OpenPrekeys);
    }

    /// <summary>Publishes one linked device's presence (<see cref="DirectoryKeys.DevicePresence"/>), apart from the other devices'.</summary>
    public async Task<int> PublishDevicePresenceAsync(Account account, DeviceCertificate device, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(addresses);
        var payload = new PresenceMessage();
        payload.Devices.Add(device.ToMessage());
        var entry = new DeviceAddressesMessage { Device = ByteString.CopyFrom(device.DeviceId.Bytes) };
        entry.Addresses.AddRange(addresses.Select(a => ByteString.CopyFrom(a.ToBytes())));
        payload.Addresses.Add(entry);
        return await PublishSignedAsync(account, DirectoryKeys.DevicePresence(account.Id, device.DeviceId), payload, Options.PresenceLifetime, cancellationToken);
    }

    /// <summary>One linked device's presence, or null when none is found.</summary>
    public async Task<Presence?> GetDevicePresenceAsync(PeerId account, PeerId device, CancellationToken cancellationToken)
    {
        var key = DirectoryKeys.DevicePresence(account, device);
        var value = await GetAsync(key, cancellationToken);
        return value is null ? null : Open(key, value, _validator.OpenPresence);
    }

    /// <summary>Publishes one linked device's signed prekey (<see cref="DirectoryKeys.DevicePrekeys"/>).</summary>
    public async Task<int> PublishDevicePrekeysAsync(Account account, PeerId device, uint signedPrekeyId, byte[] signedPrekeyPublic, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(device);
        return await PublishSignedAsync(account, DirectoryKeys.DevicePrekeys(account.Id, device), PrekeyPayload(account, signedPrekeyId, signedPrekeyPublic), Options.PrekeyLifetime, cancellationToken);
    }

    /// <summary>One linked device's prekey bundle, or null when none is found.</summary>
    public async Task<PrekeyBundle?> GetDevicePrekeysAsync(PeerId account, PeerId device, CancellationToken cancellationToken)
    {
        var key = DirectoryKeys.DevicePrekeys(account, device);
        var value = await GetAsync(key, cancellationToken);
        return value is null ? null : Open(key, value, _validator.OpenPrekeys);
    }

    /// <summary>Publishes the account's device list (docs/devices.md); returns how many peers stored it.</summary>
    /// <exception cref="RecordValidationException">Over a limit, a certificate of another account, or a device both listed and removed.</exception>
    public async Task<int> PublishDeviceListAsync(Account account, IReadOnlyList<LinkedDevice> devices, IReadOnlyList<PublicKey> removed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        return await PublishSignedAsync(account, DirectoryKeys.Devices(account.Id), DeviceListPayload(devices, removed), Options.DeviceListLifetime, cancellationToken);
    }

    /// <summary>The account's device list, or null when it has none (a single-device account).</summary>
    public async Task<DeviceList?> GetDeviceListAsync(PeerId account, CancellationToken cancellationToken)
    {
        var key = DirectoryKeys.Devices(account);
        var value = await GetAsync(key, cancellationToken);
        return value is null ? null : Open(key, value, _validator.OpenDeviceList);
    }

    /// <summary>The payload of a device list record.</summary>
    public static DeviceListMessage DeviceListPayload(IReadOnlyList<LinkedDevice> devices, IReadOnlyList<PublicKey> removed)
    {
        ArgumentNullException.ThrowIfNull(devices);
        ArgumentNullException.ThrowIfNull(removed);
        var payload = new DeviceListMessage();
        payload.Devices.AddRange(devices.Select(d => new LinkedDeviceMessage { Certificate = d.Certificate.ToMessage(), Name = d.Name }));
        payload.Removed.AddRange(removed.Select(k => ByteString.CopyFrom(k.ToProtobuf())));
        return payload;
    }

    public PublishedRecords PublishedRecords(PeerId account) =>
        new(_published.GetValueOrDefault(DirectoryKeys.Presence(account)), _published.GetValueOrDefault(DirectoryKeys.Prekeys(account)));

    public void Remember(PeerId account, PublishedRecords records)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(records);
        foreach (var (key, value) in new[] { (DirectoryKeys.Presence(account), records.Presence), (DirectoryKeys.Prekeys(account), records.Prekeys) })
        {
            if (value is not null && (_remembered.Count < MaxRemembered || _remembered.ContainsKey(key)))
            {
                _remembered[key] = value;
            }
        }
    }

    private async Task<int> PublishSignedAsync(Account account, RecordKey key, IMessage payload, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var value = SignedRecord.Create(account.SigningKey, key, payload.ToByteArray(), NextSequence(), _time.GetUtcNow() + lifetime);
        var put = await _dht.PutValueAsync(key, value, cancellationToken);
        _published[key] = value;
        return put.Stored;
    }

    private async Task<byte[]?> GetAsync(RecordKey key, CancellationToken cancellationToken) =>
        (await _dht.GetValueAsync(key, cancellationToken)).Value;

    /// <summary>The unexpired claims of <paramref name="name"/>, first come first.</summary>
    private async Task<IReadOnlyList<NameClaim>> ReadClaimsAsync(string name, CancellationToken cancellationToken)
    {
        var key = DirectoryKeys.Name(name);
        var result = await _dht.GetValueAsync(key, Options.NameLookupQuorum, cancellationToken);
        return result.Value is null ? [] : Open(key, result.Value, _validator.OpenNameClaims) ?? [];
    }

    private async Task<NameClaimResult> PublishClaimAsync(Account account, string name, ulong stamp, CancellationToken cancellationToken)
    {
        var claim = NameClaim.Create(account.SigningKey, name, NextSequence(), _time.GetUtcNow() + Options.NameClaimLifetime, stamp);
        var put = await _dht.PutValueAsync(DirectoryKeys.Name(name), NameClaim.EncodeSet([claim]), cancellationToken);
        return new NameClaimResult(claim.Handle, stamp, put.Stored, put.Attempted);
    }

    private void EnsureRoom(Account account, string name, IReadOnlyList<NameClaim> claims)
    {
        if (claims.Count >= Options.MaxClaimsPerName && !claims.Any(c => c.Account.Equals(account.PublicKey)))
        {
            throw new NameUnavailableException(name, claims.Count);
        }
    }

    private async Task<ulong> SolveAsync(byte[] challenge, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        // CPU-bound for about a second at the default difficulty: off the caller's thread.
        var stamp = await Task.Run(() => Pow.Solve(challenge, Options.NameClaimDifficulty, cancellationToken), cancellationToken);
        _logger.LogDebug("solved a name stamp at difficulty {Difficulty} in {Elapsed} ms", Options.NameClaimDifficulty, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return stamp;
    }

    /// <summary>Publish time in ms, strictly increasing even for two publishes within one millisecond.</summary>
    private ulong NextSequence()
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        while (true)
        {
            var last = Interlocked.Read(ref _lastSequence);
            var next = Math.Max(now, last + 1);
            if (Interlocked.CompareExchange(ref _lastSequence, next, last) == last)
            {
                return (ulong)next;
            }
        }
    }

    /// <summary>A record the DHT found valid may expire before it is opened here; that reads as not found.</summary>
    private T? Open<T>(RecordKey key, byte[] value, Func<RecordKey, ReadOnlySpan<byte>, T> open)
        where T : class
    {
        try
        {
            return open(key, value);
        }
        catch (RecordValidationException e)
        {
            _logger.LogDebug("record {Key} became invalid: {Reason}", key, e.Reason);
            return null;
        }
    }

    private static string StampKey(Account account, string name) => $"{account.Id}/{name}";
}
