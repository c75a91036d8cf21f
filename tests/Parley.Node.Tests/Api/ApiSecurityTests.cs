using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using Parley.Node.Api;

namespace Parley.Node.Tests.Api;

/// <summary>
/// The local API's refusals: no token or a wrong one (401), a Host that is not the node's own (403: DNS rebinding), an
/// Origin of another site (403: cross-site requests and WebSockets), and the owner-only discovery files.
/// </summary>
[Collection("api")]
public sealed class ApiSecurityTests(ApiNetwork network)
{
    /// <summary>Every endpoint under /api, the WebSocket included.</summary>
    private static readonly (HttpMethod Method, string Path, object? Body)[] Endpoints =
    [
        (HttpMethod.Get, "/api/status", null),
        (HttpMethod.Get, "/api/connections", null),
        (HttpMethod.Get, "/api/routing-table", null),
        .. ApiEndpointTests.ChatEndpoints,
        (HttpMethod.Get, "/api/events", null),
    ];

    [Fact]
    public async Task Every_endpoint_refuses_a_missing_or_wrong_token()
    {
        var alice = network["alice"];
        using var anonymous = new HttpClient { BaseAddress = alice.Api.BaseAddress };
        foreach (var token in new[] { null, "", "wrong", alice.Api.Token[..^1], alice.Api.Token + "0", network["bob"].Api.Token })
        {
            foreach (var (method, path, body) in Endpoints)
            {
                using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
                if (token is not null)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                }
                using var response = await anonymous.SendAsync(request);
                Assert.Contains("token", await ApiUser.ErrorOfAsync(response, HttpStatusCode.Unauthorized), StringComparison.Ordinal);
                Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
            }
        }
    }

    [Fact]
    public async Task The_token_must_be_a_bearer_token_and_the_path_case_does_not_skip_the_check()
    {
        var alice = network["alice"];
        using var anonymous = new HttpClient { BaseAddress = alice.Api.BaseAddress };
        foreach (var path in new[] { "/API/status", "/Api/Contacts", $"/api/status?access_token={alice.Api.Token}" })
        {
            using var response = await anonymous.GetAsync(path);
            await ApiUser.ErrorOfAsync(response, HttpStatusCode.Unauthorized);
        }
        using var basic = new HttpRequestMessage(HttpMethod.Get, "/api/status");
        basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", alice.Api.Token);
        using var refused = await anonymous.SendAsync(basic);
        await ApiUser.ErrorOfAsync(refused, HttpStatusCode.Unauthorized);

        // The right token is enough, whatever the case of the path.
        Assert.Equal(alice.Handle, (await alice.GetAsync<StatusDto>("/API/Status")).Handle);
    }

    [Theory]
    [InlineData("evil.example")]
    [InlineData("evil.example:{port}")]
    [InlineData("127.0.0.1")]
    [InlineData("127.0.0.1:1")]
    [InlineData("127.0.0.2:{port}")]
    [InlineData("localhost.evil.example:{port}")]
    public async Task A_foreign_host_is_refused_on_the_api_and_the_web_ui(string host)
    {
        var alice = network["alice"];
        host = host.Replace("{port}", alice.Api.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        foreach (var path in new[] { "/api/status", "/", "/app.js", "/openapi/v1.json" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Host = host;
            using var response = await alice.Http.SendAsync(request);
            Assert.Contains("Host", await ApiUser.ErrorOfAsync(response, HttpStatusCode.Forbidden), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_nodes_own_names_are_accepted_as_host_and_origin()
    {
        var alice = network["alice"];
        foreach (var host in new[] { "127.0.0.1", "localhost", "LOCALHOST" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/status");
            request.Headers.Host = $"{host}:{alice.Api.Port}";
            request.Headers.Add("Origin", $"http://{host}:{alice.Api.Port}");
            using var response = await alice.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Theory]
    [InlineData("http://evil.example")]
    [InlineData("null")]
    [InlineData("http://127.0.0.1")]
    [InlineData("https://127.0.0.1:{port}")]
    [InlineData("http://127.0.0.1:{port}.evil.example")]
    public async Task A_foreign_origin_is_refused_even_with_the_token(string origin)
    {
        var alice = network["alice"];
        origin = origin.Replace("{port}", alice.Api.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal);
        foreach (var (method, path) in new[] { (HttpMethod.Get, "/api/status"), (HttpMethod.Post, "/api/mailbox/fetch"), (HttpMethod.Get, "/") })
        {
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Add("Origin", origin);
            using var response = await alice.Http.SendAsync(request);
            Assert.Contains("origin", await ApiUser.ErrorOfAsync(response, HttpStatusCode.Forbidden), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("http://evil.example", true, HttpStatusCode.Forbidden)]
    [InlineData("null", true, HttpStatusCode.Forbidden)]
    [InlineData(null, false, HttpStatusCode.Unauthorized)]
    [InlineData("{own}", false, HttpStatusCode.Unauthorized)]
    public async Task The_event_websocket_refuses_a_foreign_origin_and_a_wrong_token(string? origin, bool rightToken, HttpStatusCode refusal)
    {
        var alice = network["alice"];
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        if (origin is not null)
        {
            socket.Options.SetRequestHeader("Origin", origin.Replace("{own}", alice.Origin, StringComparison.Ordinal));
        }
        var token = rightToken ? alice.Api.Token : network["bob"].Api.Token;
        var refused = await Assert.ThrowsAsync<WebSocketException>(() =>
            socket.ConnectAsync(new Uri($"ws://127.0.0.1:{alice.Api.Port}/api/events?access_token={token}"), CancellationToken.None));
        Assert.Equal(refusal, socket.HttpStatusCode);
        Assert.NotEqual(WebSocketState.Open, socket.State);
    }

    [Fact]
    public async Task The_event_websocket_takes_the_token_as_a_bearer_header_too()
    {
        var alice = network["alice"];
        using var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Authorization", $"Bearer {alice.Api.Token}");
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{alice.Api.Port}/api/events"), CancellationToken.None);
        var status = await ApiUser.ReceiveUntilAsync(socket, e => e.Type == "status", ApiNetwork.Patience, "a status event");
        Assert.Equal(alice.Handle, status.Status!.Handle);
        await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        Assert.Equal(WebSocketState.Closed, socket.State);
    }

    [Fact]
    public async Task The_token_file_is_owner_only_and_the_port_file_lives_as_long_as_the_api()
    {
        var node = network.Network.Nodes[0];
        var folder = node.DataFolderPath!;
        var tokenFile = Path.Combine(folder, LocalApi.TokenFile);
        var portFile = Path.Combine(folder, LocalApi.PortFile);
        var api = await ApiUser.StartAsync(node);
        await using (api.ConfigureAwait(false))
        {
            Assert.Equal(api.Api.Token, await File.ReadAllTextAsync(tokenFile));
            Assert.Matches("^[0-9a-f]{64}$", api.Api.Token);
            Assert.Equal(api.Api.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), await File.ReadAllTextAsync(portFile));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(tokenFile));
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(portFile));
            }
            Assert.Null((await api.GetAsync<StatusDto>("/api/status")).Handle);
        }
        Assert.False(File.Exists(portFile), "the port file is removed when the API stops");
        Assert.False(File.Exists(portFile + ".tmp"));
        using (var late = new HttpClient { BaseAddress = api.Api.BaseAddress })
        {
            await Assert.ThrowsAsync<HttpRequestException>(() => late.GetAsync("/api/status"));
        }

        // A new start makes a new token; the old one no longer opens anything.
        var again = await ApiUser.StartAsync(node);
        await using (again.ConfigureAwait(false))
        {
            Assert.NotEqual(api.Api.Token, again.Api.Token);
            Assert.Equal(again.Api.Token, await File.ReadAllTextAsync(tokenFile));
            using var stale = new HttpRequestMessage(HttpMethod.Get, "/api/status");
            stale.Headers.Authorization = new AuthenticationHeaderValue("Bearer", api.Api.Token);
            using var response = await again.Http.SendAsync(stale);
            await ApiUser.ErrorOfAsync(response, HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task Stopping_the_api_closes_open_event_sockets_at_once()
    {
        var api = await ApiUser.StartAsync(network.Network.Nodes[1]);
        using var socket = await api.ConnectEventsAsync();
        await ApiUser.ReceiveUntilAsync(socket, e => e.Type == "status", ApiNetwork.Patience, "a status event");
        var clock = Stopwatch.StartNew();
        var closed = ReceiveCloseAsync(socket);
        await api.DisposeAsync();
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the API took {clock.Elapsed.TotalSeconds:0.0} s to stop with a socket open");
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, await closed);
    }

    private static async Task<WebSocketCloseStatus?> ReceiveCloseAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer.AsMemory(), deadline.Token);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                return socket.CloseStatus;
            }
        }
    }
}
