using System.Net;
using System.Net.Http.Json;
using Parley.Chat.Linking;
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
    public async Task The_device_endpoints_need_the_token()
    {
        using var anonymous = new HttpClient { BaseAddress = network["alice"].Api.BaseAddress };
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/api/devices"), (HttpMethod.Post, "/api/devices/link"), (HttpMethod.Get, "/api/devices/link"), (HttpMethod.Post, "/api/devices/link/confirm"), (HttpMethod.Post, "/api/devices/add"), (HttpMethod.Get, "/api/devices/add") })
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
