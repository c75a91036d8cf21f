using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Protos;
using static Parley.Chat.Tests.Directory.DirectoryTestSupport;

namespace Parley.Chat.Tests.Directory;

public class PresenceAndPrekeyValidationTests
{
    private readonly DirectoryTestSupport _support = new();

    [Fact]
    public void A_presence_record_opens_to_its_verified_contents()
    {
        var laptop = _support.Certify(Alice, Laptop);
        var phone = _support.Certify(Alice, Phone);
        var value = _support.Signed(Alice, PresenceKey(Alice), PresencePayload([laptop, phone], (Laptop.PeerId, [LaptopAddress]), (Phone.PeerId, [])), sequence: 42);

        var presence = _support.Validator.OpenPresence(PresenceKey(Alice), value);

        Assert.Equal(Alice.PublicKey, presence.Account);
        Assert.Equal([Laptop.PeerId, Phone.PeerId], presence.Devices.Select(d => d.DeviceId));
        Assert.Equal(Laptop.PeerId, presence.Addresses[0].Device);
        Assert.Equal([LaptopAddress], presence.Addresses[0].Addresses);
        Assert.Empty(presence.Addresses[1].Addresses);
        Assert.True(presence.IsOnline);
        Assert.Equal(42UL, presence.Sequence);
        Assert.Equal(_support.Clock.GetUtcNow().AddHours(1), presence.ExpiresAt);
    }

    [Fact]
    public void A_presence_without_addresses_is_offline()
    {
        var value = _support.Signed(Alice, PresenceKey(Alice), PresencePayload([_support.Certify(Alice, Laptop)], (Laptop.PeerId, [])));

        Assert.False(_support.Validator.OpenPresence(PresenceKey(Alice), value).IsOnline);
    }

    [Fact]
    public void A_forged_presence_record_is_rejected()
    {
        // Mallory signs a record about Alice, listing her own device.
        var forged = _support.Signed(Alice, PresenceKey(Alice), PresencePayload([_support.Certify(Mallory, Laptop)]), signer: Mallory.SigningKey);

        _support.AssertRejected(PresenceKey(Alice), forged, "owner");
    }

    [Fact]
    public void A_record_under_another_accounts_key_is_rejected()
    {
        var alices = _support.Presence(Alice);

        _support.AssertRejected(PresenceKey(Bob), alices, "owner");
    }

    [Fact]
    public void A_tampered_presence_record_is_rejected()
    {
        var envelope = SignedRecordEnvelope.Parser.ParseFrom(_support.Presence(Alice));
        envelope.Sequence++;

        _support.AssertRejected(PresenceKey(Alice), envelope.ToByteArray(), "signature");
    }

    [Fact]
    public void An_expired_presence_record_is_rejected()
    {
        var value = _support.Presence(Alice, expiresIn: TimeSpan.FromHours(2));
        _support.Validator.Validate(PresenceKey(Alice), value);

        _support.Clock.Advance(TimeSpan.FromHours(2));

        _support.AssertRejected(PresenceKey(Alice), value, "expired");
    }

    [Fact]
    public void A_record_expiring_more_than_7_days_ahead_is_rejected()
    {
        _support.AssertRejected(PresenceKey(Alice), _support.Presence(Alice, expiresIn: TimeSpan.FromDays(8)), "days ahead");
    }

    [Fact]
    public void A_device_certificate_of_another_account_is_rejected()
    {
        var value = _support.Signed(Alice, PresenceKey(Alice), PresencePayload([_support.Certify(Bob, Laptop)]));

        _support.AssertRejected(PresenceKey(Alice), value, "another account");
    }

    [Fact]
    public void A_device_certificate_with_a_bad_signature_is_rejected()
    {
        var payload = PresencePayload([_support.Certify(Alice, Laptop)]);
        payload.Devices[0].IssuedAtUnixMs++;

        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), payload), "device certificate signature is invalid");
    }

    [Fact]
    public void A_malformed_device_certificate_is_rejected()
    {
        var payload = PresencePayload([_support.Certify(Alice, Laptop)]);
        payload.Devices[0].DeviceKey = ByteString.CopyFrom([1, 2, 3]);

        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), payload), "device certificate is malformed");
    }

    [Fact]
    public void At_most_8_devices()
    {
        var devices = Enumerable.Range(0, 9).Select(i => _support.Certify(Alice, IdentityKey.FromSeed(Fill((byte)(40 + i))))).ToList();

        _support.Validator.Validate(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), PresencePayload(devices.Take(8))));
        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), PresencePayload(devices)), "9 devices; at most 8");
    }

    [Fact]
    public void At_most_16_addresses_per_device()
    {
        var addresses = Enumerable.Range(0, 17).Select(i => Multiaddr.Parse($"/ip4/192.0.2.{i}/tcp/4001")).ToArray();
        var laptop = _support.Certify(Alice, Laptop);

        _support.Validator.Validate(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), PresencePayload([laptop], (Laptop.PeerId, addresses[..16]))));
        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), PresencePayload([laptop], (Laptop.PeerId, addresses))), "17 addresses; at most 16");
    }

    [Fact]
    public void Unparseable_multiaddrs_are_rejected()
    {
        var payload = PresencePayload([_support.Certify(Alice, Laptop)], (Laptop.PeerId, [LaptopAddress]));
        payload.Addresses[0].Addresses.Add(ByteString.CopyFrom([0x04, 1, 2])); // /ip4 with 2 of its 4 bytes

        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), payload), "multiaddr");
    }

    [Fact]
    public void Addresses_of_an_uncertified_device_are_rejected()
    {
        var payload = PresencePayload([_support.Certify(Alice, Laptop)], (Phone.PeerId, [LaptopAddress]));

        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), payload), "does not certify");
    }

    [Fact]
    public void A_device_listed_twice_is_rejected()
    {
        var laptop = _support.Certify(Alice, Laptop);

        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), PresencePayload([laptop, laptop])), "twice");
        var twice = PresencePayload([laptop, _support.Certify(Alice, Phone)], (Laptop.PeerId, []), (Laptop.PeerId, []));
        _support.AssertRejected(PresenceKey(Alice), _support.Signed(Alice, PresenceKey(Alice), twice), "twice");
    }

    [Fact]
    public void A_payload_that_is_not_a_presence_protobuf_is_rejected()
    {
        var value = SignedRecordOf(Alice, PresenceKey(Alice), [0xff, 0xff]);

        _support.AssertRejected(PresenceKey(Alice), value, "well-formed Presence");
    }

    [Theory]
    [InlineData("/parley/presence/", "form")]
    [InlineData("/parley/presence", "form")]
    [InlineData("/parley/presence/not-a-peer-id", "base58")]
    [InlineData("/parley/mailbox/x", "no known kind")]
    [InlineData("/parley//x", "form")]
    [InlineData("/other/presence/x", "form")]
    public void Malformed_keys_are_rejected(string key, string reason)
    {
        _support.AssertRejected(key, _support.Presence(Alice), reason);
    }

    [Fact]
    public void Keys_with_more_after_the_account_or_a_non_canonical_id_are_rejected()
    {
        var extra = Dht.Records.RecordKey.Parse(PresenceKey(Alice).Text + "/extra");
        _support.AssertRejected(extra, _support.Signed(Alice, extra, PresencePayload([])), "base58");
        var cid = Dht.Records.RecordKey.Parse($"/parley/presence/{Alice.Id.ToCidString()}");
        _support.AssertRejected(cid, _support.Signed(Alice, cid, PresencePayload([])), "base58");
    }

    [Fact]
    public void A_prekey_bundle_opens_to_its_verified_contents()
    {
        var value = _support.Signed(Alice, PrekeysKey(Alice), PrekeyPayload(Alice), sequence: 3);

        var bundle = _support.Validator.OpenPrekeys(PrekeysKey(Alice), value);

        Assert.Equal(Alice.PublicKey, bundle.Account);
        Assert.Equal(Alice.IdentityDhPublicKey, bundle.Identity.DhKey);
        Assert.Equal(7U, bundle.SignedPrekeyId);
        Assert.Equal(Fill(0x55), bundle.SignedPrekey);
        Assert.Equal(3UL, bundle.Sequence);
    }

    [Fact]
    public void A_prekey_bundle_with_another_accounts_identity_is_rejected()
    {
        var payload = PrekeyPayload(Alice);
        payload.Identity = IdentityDhCertificateMessage.Parser.ParseFrom(Bob.IdentityDhCertificate.ToBytes());

        _support.AssertRejected(PrekeysKey(Alice), _support.Signed(Alice, PrekeysKey(Alice), payload), "another account");
    }

    [Fact]
    public void A_prekey_bundle_with_a_bad_identity_certificate_or_prekey_is_rejected()
    {
        var tampered = PrekeyPayload(Alice);
        tampered.Identity.DhKey = ByteString.CopyFrom(Bob.IdentityDhPublicKey);
        var missing = PrekeyPayload(Alice);
        missing.Identity = null;

        _support.AssertRejected(PrekeysKey(Alice), _support.Signed(Alice, PrekeysKey(Alice), tampered), "identity DH certificate signature is invalid");
        _support.AssertRejected(PrekeysKey(Alice), _support.Signed(Alice, PrekeysKey(Alice), missing), "no identity DH certificate");
        _support.AssertRejected(PrekeysKey(Alice), _support.Signed(Alice, PrekeysKey(Alice), PrekeyPayload(Alice, new byte[31])), "31 bytes");
        _support.AssertRejected(PrekeysKey(Alice), _support.Signed(Bob, PrekeysKey(Alice), PrekeyPayload(Bob)), "owner");
    }

    [Fact]
    public void Presence_and_prekeys_select_and_merge_to_the_newest()
    {
        var older = _support.Presence(Alice, sequence: 1);
        var newer = _support.Presence(Alice, sequence: 2);

        Assert.Equal(1, _support.Validator.Select(PresenceKey(Alice), [older, newer]));
        Assert.Same(newer, _support.Validator.Merge(PresenceKey(Alice), older, newer));
        Assert.Same(newer, _support.Validator.Merge(PresenceKey(Alice), newer, older));
    }

    [Fact]
    public void Opening_a_record_as_another_kind_is_refused()
    {
        var error = Assert.Throws<Dht.Records.RecordValidationException>(() => _support.Validator.OpenPrekeys(PresenceKey(Alice), _support.Presence(Alice)));

        Assert.Contains("not a prekeys key", error.Reason, StringComparison.Ordinal);
    }

    private byte[] SignedRecordOf(Account account, Dht.Records.RecordKey key, byte[] payload) =>
        Dht.Records.SignedRecord.Create(account.SigningKey, key, payload, 1, _support.Clock.GetUtcNow().AddHours(1));
}
