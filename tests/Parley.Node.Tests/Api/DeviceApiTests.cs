using System.Net;
using System.Net.Http.Json;
using Parley.Chat.Linking;
using Parley.Core.Identity;
using Parley.Node.Api;
using Parley.Testing;

namespace Parley.Node.Tests.Api;

/// <summary>/api/devices: the link code and its QR code, the confirmation, the first-run link of a node without an account.</summary>
[Collection("api")]
public sealed class DeviceApiTests(ApiNetwork network)
{
    [Fact]
    public async Task A_node_without_an_account_links_through_the_api_after_both_sides_show_the_same_code()
    {
        await using var mallory = await ApiUser.StartAsync(await network.Network.StartUserAsync("mallory"));
        await using var tablet = await ApiUser.StartAsync(await network.Network.StartNodeAsync("tablet"));

        var offer = await mallory.PostAsync<LinkOfferDto>("/api/devices/link");
        Assert.Equal("waiting", offer.State);
        Assert.Equal(offer.Code, QrCodes.DecodeRows(offer.Qr!)!.ToLowerInvariant());
        Assert.True(offer.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(9));
        Assert.Contains("not a link code", await tablet.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/devices/add", JsonContent.Create(new AddDeviceRequest("parley-link:zz"))), StringComparison.Ordinal);
        Assert.Contains("already has an account", await mallory.RefusedAsync(HttpStatusCode.Conflict, HttpMethod.Post, "/api/devices/add", JsonContent.Create(new AddDeviceRequest(offer.Code))), StringComparison.Ordinal);
        Assert.Contains("no device is waiting", await mallory.RefusedAsync(HttpStatusCode.Conflict, HttpMethod.Post, "/api/devices/link/confirm", JsonContent.Create(new ConfirmLinkRequest(true))), StringComparison.Ordinal);

        var join = await tablet.PostAsync<DeviceJoinDto>("/api/devices/add", new AddDeviceRequest(offer.Code, "tablet"));
        join = await PollAsync(() => tablet.GetAsync<DeviceJoinDto>("/api/devices/add"), j => j.State != "connecting");
        offer = await PollAsync(() => mallory.GetAsync<LinkOfferDto>("/api/devices/link"), o => o.State != "waiting");
        Assert.Equal("confirming", offer.State);
        Assert.Equal("tablet", offer.DeviceName);
        Assert.Equal(tablet.Node.PeerId.ToString(), offer.Device);
        Assert.Equal(offer.VerificationCode, join.VerificationCode);

        await mallory.PostAsync<LinkOfferDto>("/api/devices/link/confirm", new ConfirmLinkRequest(true));
        join = await PollAsync(() => tablet.GetAsync<DeviceJoinDto>("/api/devices/add"), j => j.State is "linked" or "failed");
        Assert.True(join.State == "linked", join.Error);
        Assert.Equal(mallory.Handle, join.Handle);
        Assert.Equal(mallory.Handle, (await tablet.GetAsync<StatusDto>("/api/status")).Handle);
        var devices = await mallory.GetAsync<List<DeviceDto>>("/api/devices");
        Assert.Equal([(mallory.Node.PeerId.ToString(), true), (tablet.Node.PeerId.ToString(), false)], devices.Select(d => (d.Id, d.ThisDevice)));
        Assert.Equal("tablet", devices[1].Name);
        Assert.Equal(devices.Select(d => d.Id).Order(), (await tablet.GetAsync<List<DeviceDto>>("/api/devices")).Select(d => d.Id).Order());
        // The linked device knows from the start that it is not the first, so it never publishes over the account's records.
        Assert.True(await mallory.Node.Chat!.Devices.HoldsAccountRecordsAsync(CancellationToken.None));
        Assert.False(await tablet.Node.Chat!.Devices.HoldsAccountRecordsAsync(CancellationToken.None));
        Assert.Equal([mallory.Node.PeerId, tablet.Node.PeerId], (await tablet.Node.Chat.Devices.ListAsync(CancellationToken.None)).Select(d => d.DeviceId));
    }

    [Fact]
    public async Task A_code_whose_addresses_no_longer_answer_links_through_the_dht()
    {
        var olivia = await network.Network.StartUserAsync("olivia");
        var phone = await network.Network.StartNodeAsync("phone");
        await phone.Host.DisconnectAsync(olivia.PeerId, CancellationToken.None);
        var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var deadPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var offer = olivia.Linker!.CreateOffer(olivia.Host.ListenAddresses);
        var stale = new LinkCode(offer.Code.Secret, offer.Code.ExpiresAt, offer.Code.Device, [Core.Multiformats.Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{deadPort}")]);

        var linking = phone.LinkAsync(stale, "phone", _ => { }, CancellationToken.None);
        await PollAsync(() => Task.FromResult(offer.State), state => state != LinkOfferState.Waiting || linking.IsCompleted);
        Assert.True(offer.Decide(true), offer.Error ?? (linking.IsFaulted ? linking.Exception!.InnerException!.Message : "not confirming"));
        var result = await linking.WaitAsync(ApiNetwork.Patience);

        Assert.Equal(olivia.Chat!.Account.Id, result.Account);
        Assert.Equal(olivia.Chat.Handle, phone.Chat!.Handle);
    }

    [Fact]
    public async Task A_device_is_removed_for_good_and_neither_this_device_nor_a_stranger_can_be()
    {
        await using var nina = await ApiUser.StartAsync(await network.Network.StartUserAsync("nina"));
        var phone = IdentityKey.Generate();
        var phoneId = PeerId.FromPublicKey(phone.PublicKey).ToString();
        await nina.Node.Chat!.Devices.AddAsync(phone.PublicKey, "old phone", CancellationToken.None);
        Assert.Equal([("first device", true), ("old phone", false)], (await nina.GetAsync<List<DeviceDto>>("/api/devices")).Select(d => (d.Name, d.ThisDevice)));

        Assert.Contains("cannot remove itself", await nina.RefusedAsync(HttpStatusCode.Conflict, HttpMethod.Delete, $"/api/devices/{nina.Node.PeerId}"), StringComparison.Ordinal);
        Assert.Contains("not a device id", await nina.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Delete, "/api/devices/phone"), StringComparison.Ordinal);
        var stranger = PeerId.FromPublicKey(IdentityKey.Generate().PublicKey);
        Assert.Contains("not a device of this account", await nina.RefusedAsync(HttpStatusCode.NotFound, HttpMethod.Delete, $"/api/devices/{stranger}"), StringComparison.Ordinal);

        using var response = await nina.Http.DeleteAsync($"/api/devices/{phoneId}");
        response.EnsureSuccessStatusCode();
        var left = await response.Content.ReadFromJsonAsync<List<DeviceDto>>(ApiUser.Json);
        Assert.Equal([nina.Node.PeerId.ToString()], left!.Select(d => d.Id));
        Assert.Equal([nina.Node.PeerId.ToString()], (await nina.GetAsync<List<DeviceDto>>("/api/devices")).Select(d => d.Id));
        // The published list bars the key: the phone cannot be linked again under it.
        var published = await nina.Node.Directory.GetDeviceListAsync(nina.Node.Chat.Account.Id, CancellationToken.None);
        Assert.NotNull(published);
        Assert.True(published.WasRemoved(phone.PublicKey));
        Assert.Contains("cannot be linked again", (await Assert.ThrowsAsync<Chat.Messaging.ChatException>(() => nina.Node.Chat.Devices.AddAsync(phone.PublicKey, "old phone", CancellationToken.None))).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_device_endpoints_need_the_token()
    {
        using var anonymous = new HttpClient { BaseAddress = network["alice"].Api.BaseAddress };
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/api/devices"), (HttpMethod.Post, "/api/devices/link"), (HttpMethod.Get, "/api/devices/link"), (HttpMethod.Post, "/api/devices/link/confirm"), (HttpMethod.Post, "/api/devices/add"), (HttpMethod.Get, "/api/devices/add"), (HttpMethod.Delete, "/api/devices/x") })
        {
            using var response = await anonymous.SendAsync(new HttpRequestMessage(method, path));
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
    }

    private static async Task<T> PollAsync<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        using var patience = new CancellationTokenSource(ApiNetwork.Patience);
        while (true)
        {
            var value = await read();
            if (done(value))
            {
                return value;
            }
            await Task.Delay(50, patience.Token);
        }
    }
}
