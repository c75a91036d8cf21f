using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Linking;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Testing;
using Parley.Testing.Chat;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>Linking a new device to alice's account over the in-memory network: the ceremony, the snapshot, the refusals.</summary>
public sealed class LinkingTests : AliceAndBobTest
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private InMemoryHost _existing = null!;
    private DeviceLinker _linker = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _existing = World.Network.CreateHost();
        _linker = new DeviceLinker(_existing, Alice.Store, Alice.Chat.Account, new StoredDeviceEnrollment(Alice.Store, Alice.Chat.Devices),
            World.Time, DefaultCryptoProvider.Instance, new LinkOptions(), NullLogger.Instance);
    }

    [Fact]
    public async Task A_confirmed_link_makes_the_new_device_the_same_account_with_its_contacts_rooms_and_history()
    {
        await MakeContactsAsync();
        await Bob.Chat.SendAsync("alice", "hi alice", CancellationToken.None);
        await World.SettleAsync();
        var room = await Alice.Core.Rooms.CreateAsync("book club", historyEnabled: true, CancellationToken.None);
        await Alice.Core.Rooms.InviteAsync(room.IdText, Bob.HandleText, CancellationToken.None);
        await World.SettleAsync();
        await Bob.Core.Rooms.JoinAsync(room.IdText, CancellationToken.None);
        await World.SettleAsync();
        await Bob.Core.Rooms.SendAsync(room.IdText, "first chapter?", CancellationToken.None);
        await World.SettleAsync();

        var device = IdentityKey.Generate();
        var (result, shown) = await LinkAsync(_linker.CreateOffer(_existing.ListenAddresses), device, new InMemoryChatStore(), accept: true);

        Assert.Equal(Alice.Chat.Account.Id, result.Account);
        Assert.Equal(_linker.Current!.VerificationCode, shown);
        // The existing device counts it linked once the new device's answer arrives, just after the new device returns.
        await WaitForAsync(() => _linker.Current.State == LinkOfferState.Linked ? "linked" : null);
        Assert.Equal("laptop", _linker.Current.DeviceName);
        Assert.Contains(await Alice.Store.ReadAsync(r => r.GetDeviceCertificates(), CancellationToken.None),
            c => Parley.Chat.Identity.DeviceCertificate.Parse(c).DeviceId == device.PeerId);

        // The chat opened on what was imported (under a key of its own: the in-memory network still holds the linking host's).
        await using var linked = new FakeChatUser(World, _linkedStore!, IdentityKey.Generate(), FakeChatWorld.Options, null);
        await linked.ComeOnlineAsync();
        Assert.Equal(Alice.HandleText, linked.HandleText);
        var contact = Assert.Single(await linked.Chat.GetContactsAsync(CancellationToken.None));
        Assert.Equal(Bob.Chat.Account.Id, contact.Account);
        Assert.Equal(ContactState.Accepted, contact.State);
        Assert.Equal(
            (await Alice.HistoryWithAsync(Bob)).Select(m => (m.Text, m.Direction, m.Lamport)),
            (await linked.HistoryWithAsync(Bob)).Select(m => (m.Text, m.Direction, m.Lamport)));
        var linkedRoom = await linked.Chat.GetGroupAsync("book club", CancellationToken.None);
        Assert.Equal(GroupStatus.Member, linkedRoom.Status);
        Assert.Equal(2, linkedRoom.Members.Count);
        Assert.Contains((await linked.Chat.GetGroupHistoryAsync("book club", 100, CancellationToken.None)).Messages, m => m.Text == "first chapter?");
    }

    [Fact]
    public async Task A_wrong_code_is_refused_and_the_offer_stays_open_for_the_right_one()
    {
        var offer = _linker.CreateOffer(_existing.ListenAddresses);
        var forged = new LinkCode(new byte[LinkCode.SecretLength], offer.Code.ExpiresAt, offer.Code.Device, offer.Code.Addresses);

        var error = await Assert.ThrowsAsync<LinkException>(() => LinkAsync(forged, IdentityKey.Generate(), new InMemoryChatStore(), accept: true));

        Assert.Contains("wrong link code", error.Message, StringComparison.Ordinal);
        Assert.Equal(LinkOfferState.Waiting, offer.State);
        await LinkAsync(offer, IdentityKey.Generate(), new InMemoryChatStore(), accept: true);
    }

    [Fact]
    public async Task Too_many_wrong_codes_withdraw_the_offer()
    {
        var offer = _linker.CreateOffer(_existing.ListenAddresses);
        var forged = new LinkCode(new byte[LinkCode.SecretLength], offer.Code.ExpiresAt, offer.Code.Device, offer.Code.Addresses);
        for (var i = 0; i < new LinkOptions().MaxWrongAttempts; i++)
        {
            await Assert.ThrowsAsync<LinkException>(() => LinkAsync(forged, IdentityKey.Generate(), new InMemoryChatStore(), accept: true));
        }

        Assert.Equal(LinkOfferState.Failed, offer.State);
        var error = await Assert.ThrowsAsync<LinkException>(() => LinkAsync(offer, IdentityKey.Generate(), new InMemoryChatStore(), accept: true));
        Assert.Contains("already used", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expired_code_is_refused_by_both_devices()
    {
        var offer = _linker.CreateOffer(_existing.ListenAddresses);
        var then = new ManualTimeProvider(World.Time.GetUtcNow());
        World.Time.Advance(TimeSpan.FromMinutes(11));

        var byNew = await Assert.ThrowsAsync<LinkException>(() => LinkClient.LinkAsync(World.Network.CreateHost(), new InMemoryChatStore(), offer.Code, "laptop", null, _ => { }, World.Time, DefaultCryptoProvider.Instance, new LinkOptions(), CancellationToken.None));
        var byExisting = await Assert.ThrowsAsync<LinkException>(() => LinkClient.LinkAsync(World.Network.CreateHost(), new InMemoryChatStore(), offer.Code, "laptop", null, _ => { }, then, DefaultCryptoProvider.Instance, new LinkOptions(), CancellationToken.None));

        Assert.Contains("expired", byNew.Message, StringComparison.Ordinal);
        Assert.Contains("the existing device refused: this link code expired", byExisting.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_used_code_is_refused_and_a_declined_link_leaves_nothing_on_either_device()
    {
        var offer = _linker.CreateOffer(_existing.ListenAddresses);
        var store = new InMemoryChatStore();
        var device = IdentityKey.Generate();
        var declined = await Assert.ThrowsAsync<LinkException>(() => LinkAsync(offer, device, store, accept: false));
        Assert.Contains("declined", declined.Message, StringComparison.Ordinal);
        Assert.Null(await store.ReadAsync(r => r.GetAccount(), CancellationToken.None));
        Assert.Single(await Alice.Store.ReadAsync(r => r.GetDeviceCertificates(), CancellationToken.None));

        var reused = await Assert.ThrowsAsync<LinkException>(() => LinkAsync(offer, IdentityKey.Generate(), new InMemoryChatStore(), accept: true));
        Assert.Contains("already used", reused.Message, StringComparison.Ordinal);

        await LinkAsync(_linker.CreateOffer(_existing.ListenAddresses), device, store, accept: true);
        Assert.Equal(Alice.Chat.Account.Id, (await store.ReadAsync(r => r.GetAccount(), CancellationToken.None)) is { } a ? Parley.Chat.Identity.Account.FromSecrets(a.AccountSeed, a.IdentityDhPrivateKey).Id : null);
    }

    [Fact]
    public async Task A_folder_with_an_account_cannot_be_linked_and_the_offer_stays_open()
    {
        var offer = _linker.CreateOffer(_existing.ListenAddresses);

        var error = await Assert.ThrowsAsync<LinkException>(() => LinkAsync(offer, IdentityKey.Generate(), Bob.Store, accept: true));

        Assert.Contains("already has an account", error.Message, StringComparison.Ordinal);
        Assert.Equal(LinkOfferState.Waiting, offer.State);
    }

    [Fact]
    public async Task The_verification_codes_differ_for_another_device_or_secret()
    {
        var (existing, joining, other) = (IdentityKey.Generate().PeerId, IdentityKey.Generate().PeerId, IdentityKey.Generate().PeerId);
        var secret = new byte[LinkCode.SecretLength];
        var crypto = DefaultCryptoProvider.Instance;
        var code = LinkProtocol.VerificationCode(crypto, secret, existing, joining);
        Assert.Matches("^[0-9]{3} [0-9]{3}$", code);
        Assert.Equal(code, LinkProtocol.VerificationCode(crypto, secret, existing, joining));
        Assert.NotEqual(code, LinkProtocol.VerificationCode(crypto, secret, existing, other));
        Assert.NotEqual(code, LinkProtocol.VerificationCode(crypto, [1, .. secret[1..]], existing, joining));
    }

    private readonly Dictionary<PeerId, InMemoryHost> _hosts = [];

    private InMemoryChatStore? _linkedStore;

    private Task<(LinkResult Result, string Shown)> LinkAsync(LinkOffer offer, IdentityKey device, InMemoryChatStore store, bool accept) =>
        LinkAsync(offer.Code, device, store, accept);

    /// <summary>Runs the new device's side, and answers on the existing device once it asks.</summary>
    private async Task<(LinkResult Result, string Shown)> LinkAsync(LinkCode code, IdentityKey device, InMemoryChatStore store, bool accept)
    {
        string? shown = null;
        if (!_hosts.TryGetValue(device.PeerId, out var host))
        {
            _hosts[device.PeerId] = host = World.Network.CreateHost(device);
        }
        var linking = LinkClient.LinkAsync(host, store, code, "laptop", null, c => shown = c, World.Time, DefaultCryptoProvider.Instance, new LinkOptions(), CancellationToken.None);
        using var patience = new CancellationTokenSource(Patience);
        while (!linking.IsCompleted && _linker.Current is not { State: LinkOfferState.Confirming })
        {
            await Task.WhenAny(linking, Task.Delay(10, patience.Token));
        }
        if (!linking.IsCompleted)
        {
            Assert.Equal(_linker.Current!.VerificationCode, await WaitForAsync(() => shown));
            _linker.Current.Decide(accept);
        }
        var result = await linking.WaitAsync(Patience);
        _linkedStore = store;
        return (result, shown!);
    }

    private static async Task<string> WaitForAsync(Func<string?> value)
    {
        using var patience = new CancellationTokenSource(Patience);
        while (value() is null)
        {
            await Task.Delay(10, patience.Token);
        }
        return value()!;
    }
}
