using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Node.Api;

namespace Parley.Node.Tests.Api;

/// <summary>
/// The API tests' network: 6 plain nodes, users alice, bob, carol, dave, erin, frank, grace, heidi, ivan, judy and ken each with a local API, and a node
/// with no identity yet with one too. Each test class uses its own users, so the tests do not depend on one another.
/// </summary>
public sealed class ApiNetwork : IAsyncLifetime
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly Dictionary<string, ApiUser> _users = [];

    public LoopbackNetwork Network { get; } = new();

    /// <summary>A node whose data folder has no account: every chat endpoint answers 409.</summary>
    public ApiUser Blank { get; private set; } = null!;

    public ApiUser this[string name] => _users[name];

    public async Task InitializeAsync()
    {
        await Network.StartNodesAsync(6);
        Blank = await ApiUser.StartAsync(await Network.StartNodeAsync("blank"));
        foreach (var name in new[] { "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken" })
        {
            _users[name] = await ApiUser.StartAsync(await Network.StartUserAsync(name));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var user in _users.Values.Append(Blank))
        {
            await user.DisposeAsync();
        }
        await Network.DisposeAsync();
    }
}

[CollectionDefinition("api")]
public sealed class ApiCollection : ICollectionFixture<ApiNetwork>;

/// <summary>One node's local API and an HTTP client that presents its token.</summary>
public sealed class ApiUser : IAsyncDisposable
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private ApiUser(ParleyNode node, LocalApi api)
    {
        Node = node;
        Api = api;
        Http = new HttpClient { BaseAddress = api.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", api.Token);
    }

    public ParleyNode Node { get; }

    public LocalApi Api { get; }

    public HttpClient Http { get; }

    public string Handle => Node.Chat!.Handle.ToString();

    public string Origin => $"http://127.0.0.1:{Api.Port}";

    public static async Task<ApiUser> StartAsync(ParleyNode node) =>
        new(node, await LocalApi.StartAsync(node, 0, NullLoggerFactory.Instance, CancellationToken.None));

    public static string Path(string who) => Uri.EscapeDataString(who);

    public async Task<T> GetAsync<T>(string path)
    {
        using var response = await Http.GetAsync(path);
        return await ReadAsync<T>(response);
    }

    public async Task<T> PostAsync<T>(string path, object? body = null)
    {
        using var response = body is null ? await Http.PostAsync(path, null) : await Http.PostAsJsonAsync(path, body, Json);
        return await ReadAsync<T>(response);
    }

    /// <summary>Sends a request that must be refused with <paramref name="status"/> and a JSON error; returns the error.</summary>
    public async Task<string> RefusedAsync(HttpStatusCode status, HttpMethod method, string path, HttpContent? content = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await Http.SendAsync(request);
        return await ErrorOfAsync(response, status);
    }

    public static async Task<string> ErrorOfAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode} {body}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = JsonSerializer.Deserialize<ErrorDto>(body, Json)?.Error;
        Assert.False(string.IsNullOrWhiteSpace(error), body);
        return error!;
    }

    /// <summary>The event stream, connected as the web UI does (token in the query, the node's own Origin).</summary>
    public async Task<ClientWebSocket> ConnectEventsAsync()
    {
        var socket = new ClientWebSocket();
        socket.Options.SetRequestHeader("Origin", Origin);
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{Api.Port}/api/events?access_token={Api.Token}"), CancellationToken.None);
        return socket;
    }

    /// <summary>Reads events until one matches; fails after <paramref name="timeout"/>.</summary>
    public static async Task<EventDto> ReceiveUntilAsync(WebSocket socket, Func<EventDto, bool> match, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                using var message = new MemoryStream();
                ValueWebSocketReceiveResult received;
                do
                {
                    received = await socket.ReceiveAsync(buffer.AsMemory(), deadline.Token);
                    Assert.NotEqual(WebSocketMessageType.Close, received.MessageType);
                    message.Write(buffer, 0, received.Count);
                }
                while (!received.EndOfMessage);
                var item = JsonSerializer.Deserialize<EventDto>(message.ToArray(), Json)!;
                if (match(item))
                {
                    return item;
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            Assert.Fail($"no event in {timeout.TotalSeconds:0} s: {what}");
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Api.DisposeAsync();
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<T>(body, Json)!;
    }
}
