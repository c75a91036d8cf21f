using Google.Protobuf;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Records;
using Pow = Parley.Core.Crypto.ProofOfWork;

namespace Parley.Chat.Directory;

/// <summary>
/// The "parley" namespace: dispatches on the key's second segment and checks the payload as well as the envelope.
/// Presence and prekey records are <see cref="SignedRecord"/>s by the account named in the key (newest wins); name
/// claim sets are merged (docs/directory.md). Every rejection is a <see cref="RecordValidationException"/> saying why.
/// </summary>
public sealed class DirectoryRecordValidator : IMergingRecordValidator
{
    public const int MaxDevices = 8;
    public const int MaxAddressesPerDevice = 16;
    public const int PrekeyLength = 32;

    /// <summary>Removed device keys a device list keeps; past it the account must be replaced (docs/devices.md).</summary>
    public const int MaxRemovedDevices = 64;

    public const int MaxDeviceNameBytes = 64;

    /// <summary>Bound on one encoded claim: the largest real one (30-character name, maximal varints) is about 175 bytes.</summary>
    public const int MaxClaimBytes = 256;

    /// <summary>A claim's framing inside the set: field tag and a length of up to two varint bytes.</summary>
    private const int ClaimFraming = 3;

    private static readonly byte[] NameKindPrefix = System.Text.Encoding.ASCII.GetBytes(DirectoryKeys.NameKind + "/");

    private readonly TimeProvider _time;
    private readonly SignedRecordValidator _signed;

    public DirectoryRecordValidator(TimeProvider time, DirectoryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _signed = new SignedRecordValidator(time);
        Options = (options ?? new DirectoryOptions()).Validated();
    }

    public DirectoryOptions Options { get; }

    /// <summary>Largest name claim set accepted.</summary>
    public int MaxClaimSetBytes => Options.MaxClaimsPerName * (MaxClaimBytes + ClaimFraming);

    public void Validate(RecordKey key, ReadOnlySpan<byte> value)
    {
        var (kind, subject) = ParseKey(key);
        switch (kind)
        {
            case DirectoryKeys.PresenceKind:
                OpenPresence(key, subject, value);
                break;
            case DirectoryKeys.PrekeysKind:
                OpenPrekeys(key, subject, value);
                break;
            case DirectoryKeys.DevicesKind:
                OpenDeviceList(key, subject, value);
                break;
            default:
                ReadClaimSet(subject, value);
                break;
        }
    }

    /// <summary>Validates a presence record and returns its contents.</summary>
    /// <exception cref="RecordValidationException">The key or record is invalid.</exception>
    public Presence OpenPresence(RecordKey key, ReadOnlySpan<byte> value) => OpenPresence(key, SubjectOf(key, DirectoryKeys.PresenceKind), value);

    /// <summary>Validates a prekey record and returns its contents.</summary>
    /// <exception cref="RecordValidationException">The key or record is invalid.</exception>
    public PrekeyBundle OpenPrekeys(RecordKey key, ReadOnlySpan<byte> value) => OpenPrekeys(key, SubjectOf(key, DirectoryKeys.PrekeysKind), value);

    /// <summary>Validates a device list record and returns its contents.</summary>
    /// <exception cref="RecordValidationException">The key or record is invalid.</exception>
    public DeviceList OpenDeviceList(RecordKey key, ReadOnlySpan<byte> value) => OpenDeviceList(key, SubjectOf(key, DirectoryKeys.DevicesKind), value);

    /// <summary>Why <paramref name="name"/> cannot name a device, or null when it can.</summary>
    public static string? DeviceNameProblem(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var bytes = System.Text.Encoding.UTF8.GetByteCount(name);
        if (bytes is 0 || bytes > MaxDeviceNameBytes)
        {
            return $"a device name is 1 to {MaxDeviceNameBytes} bytes of UTF-8";
        }
        return name.Any(char.IsControl) ? "a device name has no control characters" : null;
    }

    /// <summary>Validates a name claim set and returns its unexpired claims in first-come order.</summary>
    /// <exception cref="RecordValidationException">The key or claim set is invalid.</exception>
    public IReadOnlyList<NameClaim> OpenNameClaims(RecordKey key, ReadOnlySpan<byte> value)
    {
        var now = _time.GetUtcNow();
        return ReadClaimSet(SubjectOf(key, DirectoryKeys.NameKind), value).Where(c => c.ExpiresAt > now).ToList();
    }

    /// <summary>
    /// Presence and prekeys: the newest (<see cref="SignedRecordValidator.Select"/>). Claim sets: the one whose order of
    /// claimants the other copies support most (<see cref="OrderSupport"/>), then the one with most unexpired claims, then
    /// the greatest bytes. A get folds the other copies into this one, so readers see the first-come order most storing
    /// nodes hold.
    /// </summary>
    public int Select(RecordKey key, IReadOnlyList<byte[]> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (!IsNameKey(key))
        {
            return _signed.Select(key, values);
        }
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var orders = values.Select(v => DecodeSet(v)?.Claims.Where(c => c.ExpiresUnixMs > now).Select(c => c.AccountKey).ToList()).ToList();
        var support = OrderSupport(orders);
        var best = 0;
        (long Support, int Live) bestScore = (long.MinValue, -1);
        for (var i = 0; i < values.Count; i++)
        {
            var order = orders[i];
            (long Support, int Live) score = order is null ? (long.MinValue, -1) : (support[i], order.Count);
            if (score.CompareTo(bestScore) > 0 || (score == bestScore && values[i].AsSpan().SequenceCompareTo(values[best]) > 0))
            {
                best = i;
                bestScore = score;
            }
        }
        return best;
    }

    /// <summary>
    /// Claim sets: the unexpired claims of <paramref name="existing"/> in their order, each replaced by the incoming claim
    /// of the same account when that one is newer, then the incoming claims of new accounts in their order while fewer
    /// than <see cref="DirectoryOptions.MaxClaimsPerName"/> are held; the rest are refused. Other records: the newer.
    /// </summary>
    public byte[] Merge(RecordKey key, byte[] existing, byte[] incoming)
    {
        ArgumentNullException.ThrowIfNull(existing);
        ArgumentNullException.ThrowIfNull(incoming);
        if (!IsNameKey(key))
        {
            return _signed.Select(key, [incoming, existing]) == 0 ? incoming : existing;
        }
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var merged = new List<NameClaimMessage>(Options.MaxClaimsPerName);
        foreach (var claim in LiveClaims(existing, now).Concat(LiveClaims(incoming, now)))
        {
            var held = merged.FindIndex(c => c.AccountKey.Equals(claim.AccountKey));
            if (held >= 0)
            {
                if (IsNewer(claim, merged[held]))
                {
                    merged[held] = claim;
                }
            }
            else if (merged.Count < Options.MaxClaimsPerName)
            {
                merged.Add(claim);
            }
        }
        var set = new NameClaimSetMessage();
        set.Claims.AddRange(merged);
        var bytes = set.ToByteArray();
        return bytes.AsSpan().SequenceEqual(existing) ? existing : bytes;
    }

    private static bool IsNameKey(RecordKey key) =>
        key.Namespace == ChatRecords.Namespace && key.Path.StartsWith(NameKindPrefix);

    /// <summary>"/parley/&lt;kind&gt;/&lt;subject&gt;" with a known kind.</summary>
    private static (string Kind, string Subject) ParseKey(RecordKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var path = key.Namespace == ChatRecords.Namespace && key.Text is not null ? key.PathText : "";
        var kindEnd = path.IndexOf('/', StringComparison.Ordinal);
        if (kindEnd <= 0 || kindEnd == path.Length - 1)
        {
            throw new RecordValidationException("key is not of the form /parley/<kind>/<subject>");
        }
        var kind = path[..kindEnd];
        if (kind is not (DirectoryKeys.PresenceKind or DirectoryKeys.PrekeysKind or DirectoryKeys.NameKind or DirectoryKeys.DevicesKind))
        {
            throw new RecordValidationException("key names no known kind of parley record (presence, prekeys, name, devices)");
        }
        return (kind, path[(kindEnd + 1)..]);
    }

    private static string SubjectOf(RecordKey key, string expectedKind)
    {
        var (kind, subject) = ParseKey(key);
        if (kind != expectedKind)
        {
            throw new RecordValidationException($"key is not a {expectedKind} key");
        }
        return subject;
    }

    /// <summary>
    /// "&lt;account&gt;" (the account's presence, as single-device accounts publish it) or "&lt;account&gt;/&lt;device&gt;"
    /// (one linked device's presence: it certifies and addresses that device only, so devices never overwrite each other).
    /// </summary>
    private Presence OpenPresence(RecordKey key, string subject, ReadOnlySpan<byte> value)
    {
        var (owner, onlyDevice) = OwnerOfDeviceSubject(subject);
        var record = _signed.Open(key, owner, value);
        var message = ParsePayload(PresenceMessage.Parser, record.Value, "Presence");
        if (onlyDevice is not null && (message.Devices.Count != 1 || message.Addresses.Count > 1))
        {
            throw new RecordValidationException("a device's presence certifies that one device and no other");
        }
        if (message.Devices.Count > MaxDevices)
        {
            throw new RecordValidationException($"presence lists {message.Devices.Count} devices; at most {MaxDevices}");
        }
        var devices = new List<DeviceCertificate>(message.Devices.Count);
        foreach (var certificate in message.Devices)
        {
            var device = Certificate(() => DeviceCertificate.FromMessage(certificate), "device certificate");
            if (!device.Account.Equals(record.OwnerKey))
            {
                throw new RecordValidationException("a device certificate is for another account than the record's");
            }
            if (devices.Any(d => d.Device.Equals(device.Device)))
            {
                throw new RecordValidationException("a device is listed twice");
            }
            if (onlyDevice is not null && device.DeviceId != onlyDevice)
            {
                throw new RecordValidationException("a device's presence certifies another device than the key's");
            }
            devices.Add(device);
        }
        if (message.Addresses.Count > devices.Count)
        {
            throw new RecordValidationException("presence lists addresses for more devices than it certifies");
        }
        var addresses = new List<DeviceAddresses>(message.Addresses.Count);
        foreach (var entry in message.Addresses)
        {
            PeerId device;
            try
            {
                device = PeerId.FromBytes(entry.Device.Span);
            }
            catch (FormatException e)
            {
                throw new RecordValidationException($"a device id is malformed: {e.Message}", e);
            }
            if (!devices.Any(d => d.DeviceId == device))
            {
                throw new RecordValidationException("presence lists addresses of a device it does not certify");
            }
            if (addresses.Any(a => a.Device == device))
            {
                throw new RecordValidationException("presence lists one device's addresses twice");
            }
            if (entry.Addresses.Count > MaxAddressesPerDevice)
            {
                throw new RecordValidationException($"a device has {entry.Addresses.Count} addresses; at most {MaxAddressesPerDevice}");
            }
            var parsed = new List<Multiaddr>(entry.Addresses.Count);
            foreach (var address in entry.Addresses)
            {
                try
                {
                    parsed.Add(Multiaddr.FromBytes(address.Span));
                }
                catch (FormatException e)
                {
                    throw new RecordValidationException($"an address is not a parseable multiaddr: {e.Message}", e);
                }
            }
            addresses.Add(new DeviceAddresses(device, parsed));
        }
        return new Presence(record.OwnerKey, devices, addresses, record.Sequence, record.ExpiresAt);
    }

    private static (PeerId Account, PeerId? Device) OwnerOfDeviceSubject(string subject)
    {
        var slash = subject.IndexOf('/', StringComparison.Ordinal);
        return slash < 0
            ? (SignedRecordValidator.ParseOwnerId(subject), null)
            : (SignedRecordValidator.ParseOwnerId(subject[..slash]), SignedRecordValidator.ParseOwnerId(subject[(slash + 1)..]));
    }

    private DeviceList OpenDeviceList(RecordKey key, string subject, ReadOnlySpan<byte> value)
    {
        var record = _signed.Open(key, SignedRecordValidator.ParseOwnerId(subject), value);
        var message = ParsePayload(DeviceListMessage.Parser, record.Value, "DeviceList");
        if (message.Devices.Count is 0 or > MaxDevices)
        {
            throw new RecordValidationException($"device list has {message.Devices.Count} devices; 1 to {MaxDevices}");
        }
        if (message.Removed.Count > MaxRemovedDevices)
        {
            throw new RecordValidationException($"device list names {message.Removed.Count} removed devices; at most {MaxRemovedDevices}");
        }
        var removed = new List<PublicKey>(message.Removed.Count);
        foreach (var bytes in message.Removed)
        {
            PublicKey removedKey;
            try
            {
                removedKey = PublicKey.FromProtobuf(bytes.Span);
            }
            catch (FormatException e)
            {
                throw new RecordValidationException($"a removed device key is malformed: {e.Message}", e);
            }
            if (removed.Contains(removedKey))
            {
                throw new RecordValidationException("a removed device is named twice");
            }
            removed.Add(removedKey);
        }
        var devices = new List<LinkedDevice>(message.Devices.Count);
        foreach (var entry in message.Devices)
        {
            if (entry.Certificate is null)
            {
                throw new RecordValidationException("a listed device has no certificate");
            }
            if (DeviceNameProblem(entry.Name) is { } problem)
            {
                throw new RecordValidationException(problem);
            }
            var device = Certificate(() => DeviceCertificate.FromMessage(entry.Certificate), "device certificate");
            if (!device.Account.Equals(record.OwnerKey))
            {
                throw new RecordValidationException("a device certificate is for another account than the record's");
            }
            if (devices.Any(d => d.Certificate.Device.Equals(device.Device)))
            {
                throw new RecordValidationException("a device is listed twice");
            }
            if (removed.Contains(device.Device))
            {
                throw new RecordValidationException("a device is both listed and removed");
            }
            devices.Add(new LinkedDevice(device, entry.Name));
        }
        return new DeviceList(record.OwnerKey, devices, removed, record.Sequence, record.ExpiresAt);
    }

    /// <summary>"&lt;account&gt;" or "&lt;account&gt;/&lt;device&gt;" (a linked device's own signed prekey; the identity DH key is the account's).</summary>
    private PrekeyBundle OpenPrekeys(RecordKey key, string subject, ReadOnlySpan<byte> value)
    {
        var record = _signed.Open(key, OwnerOfDeviceSubject(subject).Account, value);
        var message = ParsePayload(PrekeyBundleMessage.Parser, record.Value, "PrekeyBundle");
        if (message.Identity is null)
        {
            throw new RecordValidationException("prekey bundle has no identity DH certificate");
        }
        var identity = Certificate(() => IdentityDhCertificate.FromMessage(message.Identity), "identity DH certificate");
        if (!identity.Account.Equals(record.OwnerKey))
        {
            throw new RecordValidationException("the identity DH certificate is for another account than the record's");
        }
        if (message.SignedPrekey.Length != PrekeyLength)
        {
            throw new RecordValidationException($"signed prekey is {message.SignedPrekey.Length} bytes, not {PrekeyLength}");
        }
        return new PrekeyBundle(record.OwnerKey, identity, message.SignedPrekeyId, message.SignedPrekey.ToByteArray(), record.Sequence, record.ExpiresAt);
    }

    /// <summary>Every claim of a valid set, expired ones included: they are inert (readers skip them, merges drop them).</summary>
    private List<NameClaim> ReadClaimSet(string name, ReadOnlySpan<byte> value)
    {
        string normalized;
        try
        {
            normalized = Handle.NormalizeName(name);
        }
        catch (FormatException e)
        {
            throw new RecordValidationException($"the name in the key is invalid: {e.Message}", e);
        }
        if (!string.Equals(normalized, name, StringComparison.Ordinal))
        {
            throw new RecordValidationException("the name in the key is not normalized (lower case)");
        }
        if (value.Length > MaxClaimSetBytes)
        {
            throw new RecordValidationException($"name claim set of {value.Length} bytes exceeds the {MaxClaimSetBytes}-byte limit");
        }
        var set = DecodeSet(value) ?? throw new RecordValidationException("value is not a well-formed NameClaimSet protobuf");
        if (set.Claims.Count == 0)
        {
            throw new RecordValidationException("name claim set is empty");
        }
        if (set.Claims.Count > Options.MaxClaimsPerName)
        {
            throw new RecordValidationException($"name claim set has {set.Claims.Count} claims; at most {Options.MaxClaimsPerName}");
        }
        var now = _time.GetUtcNow();
        var claims = new List<NameClaim>(set.Claims.Count);
        foreach (var message in set.Claims)
        {
            var claim = OpenClaim(message, name, now);
            if (claims.Any(c => c.Account.Equals(claim.Account)))
            {
                throw new RecordValidationException("name claim set lists one account twice");
            }
            claims.Add(claim);
        }
        if (claims.TrueForAll(c => c.ExpiresAt <= now))
        {
            throw new RecordValidationException("every claim in the name claim set has expired");
        }
        return claims;
    }

    /// <summary>Cheap checks first; the signature last.</summary>
    private NameClaim OpenClaim(NameClaimMessage message, string name, DateTimeOffset now)
    {
        if (message.CalculateSize() > MaxClaimBytes)
        {
            throw new RecordValidationException($"a claim exceeds the {MaxClaimBytes}-byte limit");
        }
        if (!string.Equals(message.Name, name, StringComparison.Ordinal))
        {
            throw new RecordValidationException("a claim is for another name than the key's");
        }
        PublicKey account;
        try
        {
            account = PublicKey.FromProtobuf(message.AccountKey.Span);
        }
        catch (FormatException e)
        {
            throw new RecordValidationException($"a claim's account key is invalid: {e.Message}", e);
        }
        var maxExpiry = now + DirectoryOptions.MaxLifetime;
        if (message.ExpiresUnixMs > maxExpiry.ToUnixTimeMilliseconds())
        {
            throw new RecordValidationException($"a claim expires more than {DirectoryOptions.MaxLifetime.TotalDays:0.##} days ahead");
        }
        if (!Pow.Verify(NameClaim.Challenge(name, account), message.ProofOfWork, Options.NameClaimDifficulty))
        {
            throw new RecordValidationException($"a claim has no valid proof of work at difficulty {Options.NameClaimDifficulty}");
        }
        var payload = NameClaim.SigningPayload(name, account, message.Sequence, message.ExpiresUnixMs, message.ProofOfWork);
        if (!SignatureCheck.Verify(account, payload, message.Signature.Span))
        {
            throw new RecordValidationException("a claim's signature is invalid");
        }
        // A claim that expired before 1970 is as expired as one from 1970; clamping keeps the conversion in range.
        var expiresAt = DateTimeOffset.FromUnixTimeMilliseconds(Math.Max(message.ExpiresUnixMs, 0));
        return new NameClaim(name, account, message.Sequence, expiresAt, message.ProofOfWork, message.Signature.ToByteArray());
    }

    /// <summary>
    /// For each copy, the pairs of accounts it orders that the other copies order the same way, less those they order the
    /// other way. A copy lists an account before every account it does not list (a node that missed a claim would list it
    /// later), so a copy holding one claim (its publisher's own, kept by a node outside the closest) contradicts every copy
    /// that lists earlier claims first, rather than agreeing with all of them for want of a shared pair.
    /// </summary>
    private static long[] OrderSupport(List<List<ByteString>?> orders)
    {
        var accounts = new Dictionary<ByteString, int>();
        foreach (var account in orders.OfType<List<ByteString>>().SelectMany(order => order))
        {
            accounts.TryAdd(account, accounts.Count);
        }
        var count = accounts.Count;
        var positions = orders.Select(order =>
        {
            if (order is null)
            {
                return null;
            }
            var position = new int[count];
            Array.Fill(position, int.MaxValue);
            for (var i = 0; i < order.Count; i++)
            {
                var account = accounts[order[i]];
                position[account] = Math.Min(position[account], i);
            }
            return position;
        }).ToList();
        // copiesPlacing[a, b]: how many copies place account a before account b.
        var copiesPlacing = new int[count, count];
        foreach (var position in positions.OfType<int[]>())
        {
            ForEachOrderedPair(position, (a, b) => copiesPlacing[a, b]++);
        }
        return positions.Select(position =>
        {
            var support = 0L;
            if (position is not null)
            {
                // Less one for the pair's own vote: only the other copies count.
                ForEachOrderedPair(position, (a, b) => support += copiesPlacing[a, b] - 1 - copiesPlacing[b, a]);
            }
            return support;
        }).ToArray();
    }

    private static void ForEachOrderedPair(int[] position, Action<int, int> action)
    {
        for (var a = 0; a < position.Length; a++)
        {
            for (var b = 0; b < position.Length; b++)
            {
                if (position[a] < position[b])
                {
                    action(a, b);
                }
            }
        }
    }

    private static IEnumerable<NameClaimMessage> LiveClaims(byte[] value, long nowUnixMs) =>
        DecodeSet(value)?.Claims.Where(c => c.ExpiresUnixMs > nowUnixMs) ?? [];

    /// <summary>The same account's claims ordered by sequence, then expiry, then encoded bytes, so every node agrees.</summary>
    private static bool IsNewer(NameClaimMessage candidate, NameClaimMessage held)
    {
        if (candidate.Sequence != held.Sequence)
        {
            return candidate.Sequence > held.Sequence;
        }
        if (candidate.ExpiresUnixMs != held.ExpiresUnixMs)
        {
            return candidate.ExpiresUnixMs > held.ExpiresUnixMs;
        }
        return candidate.ToByteArray().AsSpan().SequenceCompareTo(held.ToByteArray()) > 0;
    }

    private static NameClaimSetMessage? DecodeSet(ReadOnlySpan<byte> value)
    {
        try
        {
            return NameClaimSetMessage.Parser.ParseFrom(value);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    private static T ParsePayload<T>(MessageParser<T> parser, ReadOnlyMemory<byte> payload, string what)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RecordValidationException($"payload is not a well-formed {what} protobuf", e);
        }
    }

    private static T Certificate<T>(Func<T> open, string what)
    {
        try
        {
            return open();
        }
        catch (FormatException e)
        {
            throw new RecordValidationException($"{what} is malformed: {e.Message}", e);
        }
        catch (InvalidSignatureException)
        {
            throw new RecordValidationException($"{what} signature is invalid");
        }
    }
}
