using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Parley.Node.Api;

namespace Parley.Cli;

/// <summary>The CLI's side of the node's local API: the one-shot commands and the terminal chat both go through it.</summary>
internal sealed class ApiClient : IDisposable
{

    private static readonly TimeSpan ProbePatience = TimeSpan.FromSeconds(20);

    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly string _token;

    public ApiClient(int port, string token)
    {
        _base = new Uri($"http://127.0.0.1:{port}/");
        _token = token;
        _http = new HttpClient { BaseAddress = _base, Timeout = TimeSpan.FromMinutes(2) };
        _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
    }

    /// <summary>The API of a node already running on <paramref name="dataFolder"/>, or null when none answers there.</summary>
    public static async Task<ApiClient?> TryConnectAsync(string dataFolder, CancellationToken cancellationToken)
    {
        var portFile = Path.Combine(dataFolder, LocalApi.PortFile);
        var tokenFile = Path.Combine(dataFolder, LocalApi.TokenFile);
        if (!File.Exists(portFile) || !File.Exists(tokenFile))
        {
            return null;
        }
        if (!int.TryParse(await File.ReadAllTextAsync(portFile, cancellationToken), out var port))
        {
            return null;
        }
        var client = new ApiClient(port, (await File.ReadAllTextAsync(tokenFile, cancellationToken)).Trim());
        try
        {
            // A port file left by a node that was killed is refused at once; a node that is there but slow to answer (a
            // loaded machine) is worth waiting for: taking it for a dead one would start a second node on its folder.
            using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            probe.CancelAfter(ProbePatience);
            await client.GetAsync<StatusDto>("api/status", probe.Token);
            return client;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or ApiException)
        {
            client.Dispose();
            return null;
        }
    }

    public Task<StatusDto> StatusAsync(CancellationToken ct) => GetAsync<StatusDto>("api/status", ct);

    public Task<List<ConnectionDto>> ConnectionsAsync(CancellationToken ct) => GetAsync<List<ConnectionDto>>("api/connections", ct);

    public Task<List<ConnectionDto>> ConnectAsync(string address, CancellationToken ct) => PostAsync<List<ConnectionDto>>("api/connections", new ConnectRequest(address), ct);

    public Task<List<string>> RoutingTableAsync(CancellationToken ct) => GetAsync<List<string>>("api/routing-table", ct);

    public Task<List<ContactDto>> ContactsAsync(CancellationToken ct) => GetAsync<List<ContactDto>>("api/contacts", ct);

    public Task<List<RequestDto>> RequestsAsync(CancellationToken ct) => GetAsync<List<RequestDto>>("api/requests", ct);

    public Task<List<MatchDto>> FindAsync(string query, CancellationToken ct) => GetAsync<List<MatchDto>>($"api/find?q={Uri.EscapeDataString(query)}", ct);

    public Task<MessageDto> SendAsync(string to, string text, CancellationToken ct) => PostAsync<MessageDto>("api/messages", new SendRequest(to, text), ct);

    public Task<List<MessageDto>> HistoryAsync(string who, int limit, CancellationToken ct) =>
        GetAsync<List<MessageDto>>($"api/messages/{Uri.EscapeDataString(who)}?limit={limit}", ct);

    /// <summary>Which of the recipient's devices have one of our messages delivered or read.</summary>
    public Task<DeliveryDetailDto> DeliveryAsync(string who, string id, CancellationToken ct) =>
        GetAsync<DeliveryDetailDto>($"api/messages/{Uri.EscapeDataString(who)}/{Uri.EscapeDataString(id)}/delivery", ct);

    public Task<List<MessageDto>> UnreadAsync(CancellationToken ct) => GetAsync<List<MessageDto>>("api/unread", ct);

    public Task MarkReadAsync(string who, CancellationToken ct) => PostAsync<JsonElement>($"api/messages/{Uri.EscapeDataString(who)}/read", null, ct);

    public Task<ContactDto> AcceptAsync(string who, CancellationToken ct) => PostAsync<ContactDto>($"api/contacts/{Uri.EscapeDataString(who)}/accept", null, ct);

    public Task<ContactDto> BlockAsync(string who, CancellationToken ct) => PostAsync<ContactDto>($"api/contacts/{Uri.EscapeDataString(who)}/block", null, ct);

    public Task FetchMailboxAsync(CancellationToken ct) => PostAsync<JsonElement>("api/mailbox/fetch", null, ct);

    public Task<SafetyNumberDto> SafetyNumberAsync(string who, CancellationToken ct) => GetAsync<SafetyNumberDto>($"api/safety-number/{Uri.EscapeDataString(who)}", ct);

    public Task<ContactLinkDto> LinkAsync(CancellationToken ct) => GetAsync<ContactLinkDto>("api/link", ct);

    public Task<AddedContactDto> AddContactAsync(string link, string? text, CancellationToken ct) =>
        PostAsync<AddedContactDto>("api/contacts/add", new AddContactRequest(link, string.IsNullOrWhiteSpace(text) ? null : text), ct);

    public Task<List<DeviceDto>> DevicesAsync(CancellationToken ct) => GetAsync<List<DeviceDto>>("api/devices", ct);

    public Task<List<DeviceDto>> RemoveDeviceAsync(string device, CancellationToken ct) => DeleteAsync<List<DeviceDto>>($"api/devices/{Uri.EscapeDataString(device)}", ct);

    public Task<LinkOfferDto> CreateLinkOfferAsync(CancellationToken ct) => PostAsync<LinkOfferDto>("api/devices/link", null, ct);

    public Task<LinkOfferDto> LinkOfferAsync(CancellationToken ct) => GetAsync<LinkOfferDto>("api/devices/link", ct);

    public Task<LinkOfferDto> ConfirmLinkAsync(bool accept, CancellationToken ct) => PostAsync<LinkOfferDto>("api/devices/link/confirm", new ConfirmLinkRequest(accept), ct);

    public Task<DeviceJoinDto> AddDeviceAsync(string code, string name, CancellationToken ct) => PostAsync<DeviceJoinDto>("api/devices/add", new AddDeviceRequest(code, name), ct);

    public Task<DeviceJoinDto> DeviceJoinAsync(CancellationToken ct) => GetAsync<DeviceJoinDto>("api/devices/add", ct);

    public Task<List<GroupDto>> RoomsAsync(CancellationToken ct) => GetAsync<List<GroupDto>>("api/groups", ct);

    public Task<GroupDto> RoomAsync(string room, CancellationToken ct) => GetAsync<GroupDto>($"api/groups/{Uri.EscapeDataString(room)}", ct);

    public Task<GroupDto> CreateRoomAsync(string name, bool history, CancellationToken ct) => PostAsync<GroupDto>("api/groups", new CreateGroupRequest(name, history), ct);

    public Task<GroupDto> JoinRoomAsync(string roomOrLink, CancellationToken ct) => PostAsync<GroupDto>("api/groups/join", new JoinGroupRequest(roomOrLink), ct);

    public Task<GroupDto> InviteAsync(string room, string who, CancellationToken ct) => PostAsync<GroupDto>($"api/groups/{Uri.EscapeDataString(room)}/invite", new WhoRequest(who), ct);

    /// <summary>approve or deny a request to join.</summary>
    public Task<GroupDto> DecideAsync(string room, string who, string decision, CancellationToken ct) =>
        PostAsync<GroupDto>($"api/groups/{Uri.EscapeDataString(room)}/requests/{Uri.EscapeDataString(who)}/{decision}", null, ct);

    /// <summary>kick, promote or demote a member.</summary>
    public Task<GroupDto> MemberAsync(string room, string who, string action, CancellationToken ct) =>
        PostAsync<GroupDto>($"api/groups/{Uri.EscapeDataString(room)}/members/{Uri.EscapeDataString(who)}/{action}", null, ct);

    public Task<GroupDto> LeaveRoomAsync(string room, CancellationToken ct) => PostAsync<GroupDto>($"api/groups/{Uri.EscapeDataString(room)}/leave", null, ct);

    public Task<GroupMessageDto> SendToRoomAsync(string room, string text, CancellationToken ct) =>
        PostAsync<GroupMessageDto>($"api/groups/{Uri.EscapeDataString(room)}/messages", new GroupSendRequest(text), ct);

    public Task<GroupHistoryDto> RoomHistoryAsync(string room, int limit, CancellationToken ct) =>
        GetAsync<GroupHistoryDto>($"api/groups/{Uri.EscapeDataString(room)}/messages?limit={limit}", ct);

    /// <summary>Sends the file at <paramref name="path"/> to a contact, or to a room when <paramref name="room"/>; the node infers its type from the name.</summary>
    public async Task<FileDto> SendFileAsync(string to, bool room, string path, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.Asynchronous);
        using var content = new StreamContent(file, 1024 * 1024);
        var target = room ? $"api/groups/{Uri.EscapeDataString(to)}/files" : $"api/messages/{Uri.EscapeDataString(to)}/files";
        using var response = await _http.PostAsync($"{target}?name={Uri.EscapeDataString(Path.GetFileName(path))}", content, ct);
        return await ReadAsync<FileDto>(response, ct);
    }

    public Task<List<FileDto>> FilesAsync(int limit, CancellationToken ct) => GetAsync<List<FileDto>>($"api/files?limit={limit}", ct);

    /// <summary>Asks the node to look for a source of the file now (after a limit was raised, space freed, or its sender came back).</summary>
    public Task<FileLimitDto> FileLimitAsync(CancellationToken ct) => GetAsync<FileLimitDto>("api/files/limit", ct);

    public async Task<FileLimitDto> SetFileLimitAsync(long bytes, CancellationToken ct)
    {
        using var response = await _http.PutAsJsonAsync("api/files/limit", new FileLimitDto(bytes), CliJson.Default.FileLimitDto, ct);
        return await ReadAsync<FileLimitDto>(response, ct);
    }

    public Task<FileDto> FetchFileAsync(string id, CancellationToken ct) => PostAsync<FileDto>($"api/files/{Uri.EscapeDataString(id)}/fetch", null, ct);

    /// <summary>Whether <paramref name="target"/> names one of the user's rooms (by name, or id or its first characters) rather than a person.</summary>
    public async Task<bool> IsRoomAsync(string target, CancellationToken ct) =>
        (await RoomsAsync(ct)).Any(r => r.Name.Equals(target, StringComparison.OrdinalIgnoreCase) || (target.Length >= 6 && r.Id.StartsWith(target, StringComparison.OrdinalIgnoreCase)));

    public Task MarkRoomReadAsync(string room, CancellationToken ct) => PostAsync<JsonElement>($"api/groups/{Uri.EscapeDataString(room)}/read", null, ct);

    public Task<MessageDto> ReplyAsync(string to, string text, string replyTo, CancellationToken ct) => PostAsync<MessageDto>("api/messages", new SendRequest(to, text, replyTo), ct);

    public Task<GroupMessageDto> ReplyInRoomAsync(string room, string text, string replyTo, CancellationToken ct) =>
        PostAsync<GroupMessageDto>($"api/groups/{Uri.EscapeDataString(room)}/messages", new GroupSendRequest(text, replyTo), ct);

    /// <summary>edit, delete or react (<paramref name="body"/>: an <see cref="EditRequest"/>, nothing, a <see cref="ReactRequest"/>) on a message of a conversation.</summary>
    public Task<MessageDto> ActAsync(string who, string id, string action, object? body, CancellationToken ct) =>
        PostAsync<MessageDto>($"api/messages/{Uri.EscapeDataString(who)}/{id}/{action}", body, ct);

    /// <summary>As <see cref="ActAsync"/>, on a room message.</summary>
    public Task<GroupMessageDto> ActInRoomAsync(string room, string id, string action, object? body, CancellationToken ct) =>
        PostAsync<GroupMessageDto>($"api/groups/{Uri.EscapeDataString(room)}/messages/{id}/{action}", body, ct);

    /// <summary>Live events until the node closes the socket or <paramref name="cancellationToken"/> fires.</summary>
    public async IAsyncEnumerable<EventDto> EventsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var socket = new ClientWebSocket();
        var uri = new Uri($"ws://{_base.Authority}/api/events?access_token={Uri.EscapeDataString(_token)}");
        await socket.ConnectAsync(uri, cancellationToken);
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        while (socket.State == WebSocketState.Open)
        {
            WebSocketReceiveResult received;
            try
            {
                received = await socket.ReceiveAsync(buffer, cancellationToken);
            }
            catch (WebSocketException)
            {
                yield break;
            }
            if (received.MessageType == WebSocketMessageType.Close)
            {
                yield break;
            }
            message.Write(buffer, 0, received.Count);
            if (!received.EndOfMessage)
            {
                continue;
            }
            var item = JsonSerializer.Deserialize(message.GetBuffer().AsSpan(0, (int)message.Length), CliJson.Default.EventDto);
            message.SetLength(0);
            if (item is not null)
            {
                yield return item;
            }
        }
    }

    public void Dispose() => _http.Dispose();

    private async Task<T> GetAsync<T>(string path, CancellationToken ct)
    {
        using var response = await _http.GetAsync(path, ct);
        return await ReadAsync<T>(response, ct);
    }

    private async Task<T> DeleteAsync<T>(string path, CancellationToken ct)
    {
        using var response = await _http.DeleteAsync(path, ct);
        return await ReadAsync<T>(response, ct);
    }

    private async Task<T> PostAsync<T>(string path, object? body, CancellationToken ct)
    {
        using var response = body is null ? await _http.PostAsync(path, null, ct) : await _http.PostAsync(path, JsonContent.Create(body, CliJson.Default.GetTypeInfo(body.GetType())!), ct);
        return await ReadAsync<T>(response, ct);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken ct)
    {
        if (!response.IsSuccessStatusCode)
        {
            var error = response.Content.Headers.ContentType?.MediaType == "application/json"
                ? (await response.Content.ReadFromJsonAsync(CliJson.Default.ErrorDto, ct))?.Error
                : null;
            throw new ApiException(response.StatusCode, error ?? $"the node answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        return (await response.Content.ReadFromJsonAsync(CliJson.Of<T>(), ct))!;
    }
}

/// <summary>The node refused a request; the message is its reason.</summary>
internal sealed class ApiException(HttpStatusCode status, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;
}
