using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht.Records;
using static Parley.Chat.Tests.Directory.DirectoryTestSupport;

namespace Parley.Chat.Tests.Directory;

/// <summary>The device list and per-device records through 30 DHT nodes that validate them.</summary>
public sealed class DeviceRecordsOverDhtTests(ChatNetworkFixture fixture) : IClassFixture<ChatNetworkFixture>, IDisposable
{
    private readonly CancellationTokenSource _cts = new(TimeSpan.FromSeconds(60));

    private CancellationToken Token => _cts.Token;

    [Fact]
    public async Task Two_devices_publish_their_own_presence_without_overwriting_each_other()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var laptop = account.CertifyDevice(Laptop.PublicKey, DateTimeOffset.UtcNow);
        var phone = account.CertifyDevice(Phone.PublicKey, DateTimeOffset.UtcNow);
        var phoneAddress = Multiaddr.Parse("/ip4/192.0.2.11/tcp/4001");

        await fixture.Client(2).PublishDeviceListAsync(account, [new LinkedDevice(laptop, "laptop"), new LinkedDevice(phone, "phone")], [], Token);
        await fixture.Client(2).PublishDevicePresenceAsync(account, laptop, [LaptopAddress], Token);
        await fixture.Client(9).PublishDevicePresenceAsync(account, phone, [phoneAddress], Token);
        await fixture.Client(9).PublishDevicePrekeysAsync(account, phone.DeviceId, 3, Fill(0x33), Token);

        var reader = fixture.Client(27);
        var list = await reader.GetDeviceListAsync(account.Id, Token);
        Assert.NotNull(list);
        Assert.Equal(["laptop", "phone"], list.Devices.Select(d => d.Name));
        Assert.Equal([LaptopAddress], Assert.Single((await reader.GetDevicePresenceAsync(account.Id, laptop.DeviceId, Token))!.Addresses).Addresses);
        Assert.Equal([phoneAddress], Assert.Single((await reader.GetDevicePresenceAsync(account.Id, phone.DeviceId, Token))!.Addresses).Addresses);
        var prekeys = await reader.GetDevicePrekeysAsync(account.Id, phone.DeviceId, Token);
        Assert.Equal(3u, prekeys!.SignedPrekeyId);
        Assert.Null(await reader.GetDevicePrekeysAsync(account.Id, laptop.DeviceId, Token));
        Assert.Null(await reader.GetDeviceListAsync(Account.Create(DefaultCryptoProvider.Instance).Id, Token));
    }

    [Fact]
    public async Task A_list_breaking_the_rules_is_refused_before_it_leaves_the_node()
    {
        var account = Account.Create(DefaultCryptoProvider.Instance);
        var laptop = account.CertifyDevice(Laptop.PublicKey, DateTimeOffset.UtcNow);

        var error = await Assert.ThrowsAsync<RecordValidationException>(() =>
            fixture.Client(5).PublishDeviceListAsync(account, [new LinkedDevice(laptop, "laptop")], [Laptop.PublicKey], Token));

        Assert.Contains("both listed and removed", error.Reason, StringComparison.Ordinal);
        Assert.Null(await fixture.Client(6).GetDeviceListAsync(account.Id, Token));
    }

    public void Dispose() => _cts.Dispose();
}
