using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Parley.Chat.Messaging;

namespace Parley.Node.Api;

/// <summary>
/// The node's local API: REST for every chat command, a WebSocket of live events, an OpenAPI description, and the web
/// UI, all on one origin bound to 127.0.0.1 (docs/api.md). Requests need the bearer token from the data folder; a Host
/// or Origin other than the node's own is refused, so a web page elsewhere cannot drive the node even through DNS
/// rebinding.
/// </summary>
public sealed class LocalApi : IAsyncDisposable
{
    public const string PortFile = "api-port";
    public const string TokenFile = "api-token";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly WebApplication _app;
    private readonly ParleyNode _node;
    private readonly string? _folder;

    private LocalApi(WebApplication app, ParleyNode node, int port, string token, string? folder)
    {
        _app = app;
        _node = node;
        Port = port;
        Token = token;
        _folder = folder;
    }

    public int Port { get; }

    public string Token { get; }

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    /// <summary>The web UI's address, carrying the token in the fragment (never sent to any server, kept by the page).</summary>
    public Uri WebUiAddress => new($"http://127.0.0.1:{Port}/#token={Token}");

    /// <summary>Serves the API on 127.0.0.1 (<paramref name="port"/> 0: any free port) and writes the port and token into the data folder.</summary>
    public static async Task<LocalApi> StartAsync(ParleyNode node, int port, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(node);
        var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        builder.Services.AddOpenApi();
        builder.Services.ConfigureHttpJsonOptions(options => options.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase);
        var app = builder.Build();
        var guard = new RequestGuard(token);
        app.Use(guard.InvokeAsync);
        app.UseWebSockets();
        app.MapOpenApi();
        ApiEndpoints.Map(app, node);
        app.Map("/api/events", context => StreamEventsAsync(context, node));
        WebUi.Map(app);
        await app.StartAsync(cancellationToken);
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        guard.SetPort(bound);
        var api = new LocalApi(app, node, bound, token, node.DataFolderPath);
        await api.WriteDiscoveryFilesAsync(cancellationToken);
        return api;
    }

    public async ValueTask DisposeAsync()
    {
        if (_folder is not null)
        {
            File.Delete(Path.Combine(_folder, PortFile));
        }
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>The port and token, readable by the folder's owner only, so local clients (the CLI) can find and use the node.</summary>
    private async Task WriteDiscoveryFilesAsync(CancellationToken cancellationToken)
    {
        if (_folder is null)
        {
            return;
        }
        await WriteOwnerOnlyAsync(Path.Combine(_folder, TokenFile), Token, cancellationToken);
        await WriteOwnerOnlyAsync(Path.Combine(_folder, PortFile), Port.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
    }

    private static async Task WriteOwnerOnlyAsync(string path, string text, CancellationToken cancellationToken)
    {
        var temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }
        await using (var stream = new FileStream(temporary, options))
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Pushes chat events, and the node's status every few seconds, to one WebSocket until it closes.</summary>
    private static async Task StreamEventsAsync(HttpContext context, ParleyNode node)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var events = Channel.CreateBounded<EventDto>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
        var chat = node.Chat;
        var self = chat?.Handle.ToString() ?? "";
        EventHandler<MessageEventArgs> onMessage = (_, e) => events.Writer.TryWrite(new EventDto("message", MessageDto.Of(e.Message, e.Contact, self)));
        EventHandler<MessageEventArgs> onState = (_, e) => events.Writer.TryWrite(new EventDto("state", MessageDto.Of(e.Message, e.Contact, self)));
        EventHandler<ContactEventArgs> onContact = (_, e) => events.Writer.TryWrite(new EventDto("contact", Contact: ContactDto.From(e.Contact)));
        if (chat is not null)
        {
            chat.MessageReceived += onMessage;
            chat.MessageStateChanged += onState;
            chat.ContactChanged += onContact;
        }
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        var reader = DrainIncomingAsync(socket, closing);
        try
        {
            events.Writer.TryWrite(new EventDto("status", Status: await ApiEndpoints.StatusAsync(node, closing.Token)));
            using var statusTimer = new PeriodicTimer(TimeSpan.FromSeconds(5));
            var tick = statusTimer.WaitForNextTickAsync(closing.Token).AsTask();
            while (!closing.IsCancellationRequested)
            {
                var next = events.Reader.WaitToReadAsync(closing.Token).AsTask();
                if (await Task.WhenAny(next, tick) == tick)
                {
                    await tick;
                    events.Writer.TryWrite(new EventDto("status", Status: await ApiEndpoints.StatusAsync(node, closing.Token)));
                    tick = statusTimer.WaitForNextTickAsync(closing.Token).AsTask();
                    continue;
                }
                await next;
                while (events.Reader.TryRead(out var item))
                {
                    await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(item, Json), WebSocketMessageType.Text, true, closing.Token);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // The client went away.
        }
        finally
        {
            if (chat is not null)
            {
                chat.MessageReceived -= onMessage;
                chat.MessageStateChanged -= onState;
                chat.ContactChanged -= onContact;
            }
            await closing.CancelAsync();
            await reader;
        }
    }

    /// <summary>The client sends nothing we use; reading notices when it closes (and bounds what it may send).</summary>
    private static async Task DrainIncomingAsync(WebSocket socket, CancellationTokenSource closing)
    {
        var buffer = new byte[1024];
        try
        {
            while (!closing.IsCancellationRequested)
            {
                var received = await socket.ReceiveAsync(buffer, closing.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // Closed.
        }
        await closing.CancelAsync();
    }
}
