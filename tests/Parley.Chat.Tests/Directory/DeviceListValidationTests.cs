using Google.Protobuf;
using Parley.Chat.Directory;
using Parley.Chat.Directory.Protos;
using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Dht.Records;
using static Parley.Chat.Tests.Directory.DirectoryTestSupport;

namespace Parley.Chat.Tests.Directory;

public class DeviceListValidationTests
{
    private readonly DirectoryTestSupport _support = new();

    private static RecordKey ListKey(Account account) => DirectoryKeys.Devices(account.Id);

    private LinkedDevice Linked(Account account, IdentityKey device, string name) => new(_support.Certify(account, device), name);

    private byte[] List(Account account, IEnumerable<LinkedDevice> devices, IEnumerable<PublicKey>? removed = null, IdentityKey? signer = null) =>
        _support.Signed(account, ListKey(account), DirectoryClient.DeviceListPayload(devices.ToList(), (removed ?? []).ToList()), sequence: 5, signer: signer);

    [Fact]
    public void A_device_list_opens_to_its_devices_names_and_removed_keys()
    {
        var retired = IdentityKey.FromSeed(Fill(23));
        var value = List(Alice, [Linked(Alice, Laptop, "laptop"), Linked(Alice, Phone, "phone ✓")], [retired.PublicKey]);

        var list = _support.Validator.OpenDeviceList(ListKey(Alice), value);

        Assert.Equal([Laptop.PeerId, Phone.PeerId], list.Devices.Select(d => d.DeviceId));
        Assert.Equal(["laptop", "phone ✓"], list.Devices.Select(d => d.Name));
        Assert.True(list.WasRemoved(retired.PublicKey));
        Assert.True(list.Contains(Phone.PeerId));
        Assert.Equal(5UL, list.Sequence);
    }

    [Fact]
    public void A_device_list_signed_by_another_account_is_rejected() =>
        _support.AssertRejected(ListKey(Alice), List(Alice, [Linked(Alice, Laptop, "laptop")], signer: Mallory.SigningKey), "owner");

    [Fact]
    public void A_device_certified_by_another_account_is_rejected() =>
        _support.AssertRejected(ListKey(Alice), List(Alice, [Linked(Alice, Laptop, "laptop"), Linked(Mallory, Phone, "phone")]), "another account");

    [Fact]
    public void A_device_listed_twice_is_rejected() =>
        _support.AssertRejected(ListKey(Alice), List(Alice, [Linked(Alice, Laptop, "a"), Linked(Alice, Laptop, "b")]), "twice");

    [Fact]
    public void A_device_both_listed_and_removed_is_rejected() =>
        _support.AssertRejected(ListKey(Alice), List(Alice, [Linked(Alice, Laptop, "laptop")], [Laptop.PublicKey]), "both listed and removed");

    [Fact]
    public void A_removed_key_named_twice_is_rejected() =>
        _support.AssertRejected(ListKey(Alice), List(Alice, [Linked(Alice, Laptop, "laptop")], [Phone.PublicKey, Phone.PublicKey]), "twice");

    [Theory]
    [InlineData("")]
    [InlineData("line\nbreak")]
    [InlineData("a-name-of-sixty-five-bytes-is-one-byte-over-the-limit-xxxxxxxxxxx")]
    public void A_bad_device_name_is_rejected(string name) =>
        _support.AssertRejected(ListKey(Alice), List(Alice, [Linked(Alice, Laptop, name)]), "device name");

    [Fact]
    public void Empty_and_over_long_lists_are_rejected()
    {
        _support.AssertRejected(ListKey(Alice), List(Alice, []), "devices");
        var nine = Enumerable.Range(0, 9).Select(i => Linked(Alice, IdentityKey.FromSeed(Fill((byte)(40 + i))), $"d{i}"));
        _support.AssertRejected(ListKey(Alice), List(Alice, nine), "devices");
        var removed = Enumerable.Range(0, DirectoryRecordValidator.MaxRemovedDevices + 1).Select(i => IdentityKey.FromSeed(Fill((byte)(60 + i))).PublicKey);
        _support.AssertRejected(ListKey(Alice), List(Alice, [Linked(Alice, Laptop, "laptop")], removed), "removed devices");
    }

    [Fact]
    public void Malformed_payloads_and_keys_are_refused_with_a_reason()
    {
        var garbage = new DeviceListMessage();
        garbage.Devices.Add(new LinkedDeviceMessage { Name = "no certificate" });
        _support.AssertRejected(ListKey(Alice), _support.Signed(Alice, ListKey(Alice), garbage), "no certificate");
        var badKey = DirectoryClient.DeviceListPayload([Linked(Alice, Laptop, "laptop")], []);
        badKey.Removed.Add(ByteString.CopyFrom([1, 2, 3]));
        _support.AssertRejected(ListKey(Alice), _support.Signed(Alice, ListKey(Alice), badKey), "malformed");
        var notProtobuf = SignedRecord.Create(Alice.SigningKey, ListKey(Alice), [0xff, 0xff, 0xff], 1, _support.Clock.GetUtcNow().AddHours(1));
        _support.AssertRejected(ListKey(Alice), notProtobuf, "well-formed");
        _support.AssertRejected($"/parley/devices/{Alice.Id}/{Laptop.PeerId}", List(Alice, [Linked(Alice, Laptop, "laptop")]), "owner");
    }

    [Fact]
    public void Random_bytes_never_escape_as_anything_but_a_validation_error()
    {
        var random = new Random(15);
        var valid = DirectoryClient.DeviceListPayload([Linked(Alice, Laptop, "laptop"), Linked(Alice, Phone, "phone")], [IdentityKey.FromSeed(Fill(23)).PublicKey]).ToByteArray();
        for (var i = 0; i < 2000; i++)
        {
            var payload = (byte[])valid.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--)
            {
                payload[random.Next(payload.Length)] = (byte)random.Next(256);
            }
            var value = SignedRecord.Create(Alice.SigningKey, ListKey(Alice), payload[..random.Next(payload.Length + 1)], 1, _support.Clock.GetUtcNow().AddHours(1));
            try
            {
                _support.Validator.Validate(ListKey(Alice), value);
            }
            catch (RecordValidationException)
            {
            }
        }
    }

    [Fact]
    public void A_device_presence_certifies_and_addresses_only_its_own_device()
    {
        var key = DirectoryKeys.DevicePresence(Alice.Id, Phone.PeerId);
        var phone = _support.Certify(Alice, Phone);
        var own = _support.Signed(Alice, key, PresencePayload([phone], (Phone.PeerId, [LaptopAddress])));

        var presence = _support.Validator.OpenPresence(key, own);

        Assert.Equal([Phone.PeerId], presence.Devices.Select(d => d.DeviceId));
        Assert.True(presence.IsOnline);
        _support.AssertRejected(key, _support.Signed(Alice, key, PresencePayload([_support.Certify(Alice, Laptop)], (Laptop.PeerId, [LaptopAddress]))), "another device");
        _support.AssertRejected(key, _support.Signed(Alice, key, PresencePayload([phone, _support.Certify(Alice, Laptop)])), "that one device");
        _support.AssertRejected(key, _support.Signed(Alice, key, PresencePayload([phone]), signer: Mallory.SigningKey), "owner");
        _support.AssertRejected($"/parley/presence/{Alice.Id}/not-a-peer-id", own, "peer id");
    }

    [Fact]
    public void A_device_prekey_bundle_is_the_accounts_identity_under_the_devices_key()
    {
        var key = DirectoryKeys.DevicePrekeys(Alice.Id, Phone.PeerId);

        var bundle = _support.Validator.OpenPrekeys(key, _support.Signed(Alice, key, PrekeyPayload(Alice)));

        Assert.Equal(Alice.PublicKey, bundle.Account);
        _support.AssertRejected(key, _support.Signed(Alice, key, PrekeyPayload(Bob)), "another account");
    }

    [Fact]
    public void A_key_with_nothing_after_the_device_is_refused() =>
        _support.AssertRejected($"/parley/presence/{Alice.Id}/", _support.Presence(Alice), "peer id");
}
