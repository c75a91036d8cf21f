using System.Collections.Concurrent;
using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Records;
using Parley.Testing;

namespace Parley.Chat.Tests.Directory;

/// <summary>Fixed accounts and devices, and directory records built on a manual clock at a low stamp difficulty.</summary>
internal sealed class DirectoryTestSupport
{
    public const int Difficulty = 8;

    public static readonly Account Alice = AccountOf(1);
    public static readonly Account Bob = AccountOf(2);
    public static readonly Account Mallory = AccountOf(3);
    public static readonly IdentityKey Laptop = IdentityKey.FromSeed(Fill(21));
    public static readonly IdentityKey Phone = IdentityKey.FromSeed(Fill(22));
    public static readonly Multiaddr LaptopAddress = Multiaddr.Parse("/ip4/192.0.2.10/tcp/4001");

    private static readonly ConcurrentDictionary<string, ulong> Stamps = new();

    public DirectoryTestSupport(DirectoryOptions? options = null)
    {
        Options = options ?? new DirectoryOptions { NameClaimDifficulty = Difficulty };
        Validator = new DirectoryRecordValidator(Clock, Options);
    }

    public ManualTimeProvider Clock { get; } = new();

    public DirectoryOptions Options { get; }

    public DirectoryRecordValidator Validator { get; }

    public static Account AccountOf(int seed) => Account.FromSecrets(Fill((byte)seed), Fill((byte)(seed + 100)));

    public static byte[] Fill(byte value) => Enumerable.Repeat(value, 32).ToArray();

    public static RecordKey PresenceKey(Account account) => DirectoryKeys.Presence(account.Id);

    public static RecordKey PrekeysKey(Account account) => DirectoryKeys.Prekeys(account.Id);

    public static RecordKey NameKey(string name) => RecordKey.Parse($"/parley/name/{name}");

    public DeviceCertificate Certify(Account account, IdentityKey device) => account.CertifyDevice(device.PublicKey, Clock.GetUtcNow());

    public static PresenceMessage PresencePayload(IEnumerable<DeviceCertificate> devices, params (PeerId Device, Multiaddr[] Addresses)[] addresses)
    {
        var payload = new PresenceMessage();
        payload.Devices.AddRange(devices.Select(d => DeviceCertificateMessage.Parser.ParseFrom(d.ToBytes())));
        foreach (var (device, list) in addresses)
        {
            var entry = new DeviceAddressesMessage { Device = ByteString.CopyFrom(device.Bytes) };
            entry.Addresses.AddRange(list.Select(a => ByteString.CopyFrom(a.ToBytes())));
            payload.Addresses.Add(entry);
        }
        return payload;
    }

    /// <summary>A signed record of <paramref name="payload"/> under <paramref name="key"/>, by <paramref name="signer"/> (default: the account), expiring in an hour.</summary>
    public byte[] Signed(Account account, RecordKey key, IMessage payload, ulong sequence = 1, TimeSpan? expiresIn = null, IdentityKey? signer = null) =>
        SignedRecord.Create(signer ?? account.SigningKey, key, payload.ToByteArray(), sequence, Clock.GetUtcNow() + (expiresIn ?? TimeSpan.FromHours(1)));

    public byte[] Presence(Account account, ulong sequence = 1, TimeSpan? expiresIn = null) =>
        Signed(account, PresenceKey(account), PresencePayload([Certify(account, Laptop)], (Laptop.PeerId, [LaptopAddress])), sequence, expiresIn);

    public static PrekeyBundleMessage PrekeyPayload(Account account, byte[]? prekey = null) => new()
    {
        Identity = IdentityDhCertificateMessage.Parser.ParseFrom(account.IdentityDhCertificate.ToBytes()),
        SignedPrekeyId = 7,
        SignedPrekey = ByteString.CopyFrom(prekey ?? Fill(0x55)),
    };

    /// <summary>The stamp of <paramref name="account"/>'s claim of <paramref name="name"/> at <see cref="Difficulty"/>.</summary>
    public static ulong Stamp(Account account, string name) =>
        Stamps.GetOrAdd($"{account.Id}/{name}", _ => ProofOfWork.Solve(NameClaim.Challenge(name, account.PublicKey), Difficulty, CancellationToken.None));

    /// <summary>
    /// A stamp that solves <paramref name="solver"/>'s challenge for <paramref name="name"/> and not the one of
    /// <paramref name="claimant"/> for <paramref name="claimedName"/> (at this low difficulty one stamp in 256 solves both).
    /// </summary>
    public static ulong StampOnlyFor(Account solver, string name, Account claimant, string claimedName)
    {
        var other = NameClaim.Challenge(claimedName, claimant.PublicKey);
        while (true)
        {
            var stamp = ProofOfWork.Solve(NameClaim.Challenge(name, solver.PublicKey), Difficulty, CancellationToken.None);
            if (!ProofOfWork.Verify(other, stamp, Difficulty))
            {
                return stamp;
            }
        }
    }

    /// <summary>A nonce that does not solve the challenge at <see cref="Difficulty"/>.</summary>
    public static ulong BadStamp(Account account, string name)
    {
        var challenge = NameClaim.Challenge(name, account.PublicKey);
        var nonce = 0UL;
        while (ProofOfWork.Verify(challenge, nonce, Difficulty))
        {
            nonce++;
        }
        return nonce;
    }

    public NameClaim Claim(Account account, string name, ulong sequence = 1, TimeSpan? expiresIn = null, ulong? stamp = null) =>
        NameClaim.Create(account.SigningKey, name, sequence, Clock.GetUtcNow() + (expiresIn ?? TimeSpan.FromDays(7)), stamp ?? Stamp(account, name));

    public static byte[] Set(params NameClaim[] claims) => NameClaim.EncodeSet(claims);

    /// <summary>The accounts of a claim set, in order.</summary>
    public IReadOnlyList<PeerId> Claimants(string name, byte[] set) =>
        Validator.OpenNameClaims(NameKey(name), set).Select(c => c.Account.ToPeerId()).ToList();

    /// <summary>A key in text form is parsed as a node would parse it off the wire: a malformed one is refused there.</summary>
    public void AssertRejected(string key, byte[] value, string reasonFragment)
    {
        var error = Assert.Throws<RecordValidationException>(() => Validator.Validate(RecordKey.Parse(key), value));
        Assert.Contains(reasonFragment, error.Reason, StringComparison.Ordinal);
    }

    public void AssertRejected(RecordKey key, byte[] value, string reasonFragment)
    {
        var error = Assert.Throws<RecordValidationException>(() => Validator.Validate(key, value));
        Assert.Contains(reasonFragment, error.Reason, StringComparison.Ordinal);
    }
}
