using System.Net;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Parley.Chat.Messaging;
using Parley.Core.IO;
using Parley.Node.Files;

namespace Parley.Node.Api;

/// <summary>
/// The node's local API: REST for every chat command, a WebSocket of live events, its OpenAPI description, and the web
/// UI, all on one origin bound to 127.0.0.1 (docs/api.md). Requests need the bearer token from the data folder; a Host
/// or Origin other than the node's own is refused, so a web page elsewhere cannot drive the node even through DNS
/// rebinding.
/// </summary>
public sealed class LocalApi : IAsyncDisposable
{
    public const string PortFile = "api-port";
    public const string TokenFile = "api-token";

    /// <summary>How often the event stream sends the node's status (peers, mailbox, outbox).</summary>
    public static readonly TimeSpan StatusInterval = TimeSpan.FromSeconds(5);


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
        // No command line, no appsettings from the working folder, never the Development environment: what the API
        // does must not depend on where the node was started.
        // The empty builder: Kestrel and routing only, no configuration files, no logging providers of its own, no
        // HTTPS, no regular-expression route constraints; each of those would be loaded for nothing (docs/benchmarks.md).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions
        {
            Args = [],
            EnvironmentName = Environments.Production,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port));
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(5));
        // The process's signals belong to the command that runs the node: the default console lifetime would take
        // Ctrl-C to stop this API alone and leave the node running without it.
        builder.Services.AddSingleton<IHostLifetime, OwnedByNodeLifetime>();
        AddServices(builder.Services, loggerFactory);
        var app = builder.Build();
        var guard = new RequestGuard(token, app.Services.GetRequiredService<DownloadTickets>());
        app.Use(guard.InvokeAsync);
        app.Use(RefuseBadRequestsAsync);
        app.Use(AnswerBodylessRefusalsAsync);
        app.UseWebSockets();
        MapEndpoints(app, node);
        app.MapGet(OpenApiPath, ServeOpenApiAsync).ExcludeFromDescription();
        WebUi.Map(app);
        await app.StartAsync(cancellationToken);
        var bound = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;
        guard.SetPort(bound);
        var api = new LocalApi(app, node, bound, token, node.DataFolderPath);
        await api.WriteDiscoveryFilesAsync(cancellationToken);
        return api;
    }

    /// <summary>Where the API's OpenAPI description is served: the document committed beside this file (docs/api.md).</summary>
    public const string OpenApiPath = "/openapi/v1.json";

    /// <summary>The services the endpoints need; the test that regenerates the OpenAPI description uses them too.</summary>
    internal static void AddServices(IServiceCollection services, ILoggerFactory loggerFactory)
    {
        services.AddSingleton(loggerFactory);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddRoutingCore();
        services.AddSingleton<IThumbnailer>(_ => new SkiaThumbnailer());
        services.AddSingleton(_ => new DownloadTickets());
        // A body or query that does not bind throws, so the refusal can carry its reason as JSON like every other.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolver = ApiJsonContext.Default);
    }

    /// <summary>Every endpoint under /api.</summary>
    internal static void MapEndpoints(WebApplication app, ParleyNode node)
    {
        ApiEndpoints.Map(app, node);
        GroupEndpoints.Map(app, node);
        ContactLinkEndpoints.Map(app, node);
        FileEndpoints.Map(app, node);
        MessageActionEndpoints.Map(app, node);
        var stopping = app.Lifetime.ApplicationStopping;
        DeviceEndpoints.Map(app, node, stopping);
        app.Map("/api/events", context => StreamEventsAsync(context, node, stopping)).ExcludeFromDescription();
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

    private static Task WriteOwnerOnlyAsync(string path, string text, CancellationToken cancellationToken) =>
        OwnerOnly.WriteAtomicallyAsync(path, (stream, ct) => stream.WriteAsync(Encoding.UTF8.GetBytes(text), ct).AsTask(), overwrite: true, cancellationToken);

    private static async Task RefuseBadRequestsAsync(HttpContext context, RequestDelegate next)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            context.Response.Clear();
            context.Response.StatusCode = e.StatusCode;
            await context.Response.WriteAsJsonAsync(new ErrorDto(e.Message), ApiJsonContext.Default.ErrorDto, cancellationToken: context.RequestAborted);
        }
    }

    /// <summary>
    /// Gives the refusals that have no body of their own (no such endpoint, wrong method) the usual JSON error: what
    /// UseStatusCodePages would do, without loading the diagnostics assembly for it.
    /// </summary>
    private static async Task AnswerBodylessRefusalsAsync(HttpContext context, RequestDelegate next)
    {
        await next(context);
        var response = context.Response;
        if (response.HasStarted || response.StatusCode < 400 || response.ContentLength is not null || response.ContentType is not null
            || context.WebSockets.IsWebSocketRequest)
        {
            return;
        }
        var reason = response.StatusCode switch
        {
            StatusCodes.Status404NotFound => "no such endpoint or file",
            StatusCodes.Status405MethodNotAllowed => "this endpoint does not take that method",
            _ => $"refused ({response.StatusCode})",
        };
        await response.WriteAsJsonAsync(new ErrorDto(reason), ApiJsonContext.Default.ErrorDto, cancellationToken: context.RequestAborted);
    }

    private static async Task ServeOpenApiAsync(HttpContext context)
    {
        await using var document = typeof(LocalApi).Assembly.GetManifestResourceStream("openapi/v1.json")
            ?? throw new InvalidOperationException("the OpenAPI description is not embedded in Parley.Node");
        context.Response.ContentType = "application/json; charset=utf-8";
        await document.CopyToAsync(context.Response.Body, context.RequestAborted);
    }

    /// <summary>
    /// Pushes chat events, and the node's status every few seconds, to one WebSocket until the client closes it or the
    /// API stops (then the node closes it with 1001, going away).
    /// </summary>
    private static async Task StreamEventsAsync(HttpContext context, ParleyNode node, CancellationToken stopping)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsJsonAsync(new ErrorDto("this is a WebSocket endpoint"), ApiJsonContext.Default.ErrorDto, cancellationToken: context.RequestAborted);
            return;
        }
        using var socket = await context.WebSockets.AcceptWebSocketAsync();
        var events = Channel.CreateBounded<EventDto>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
        var chat = node.Chat;
        var self = chat?.Handle.ToString() ?? "";
        EventHandler<MessageEventArgs> onMessage = (_, e) => events.Writer.TryWrite(new EventDto("message", MessageDto.Of(e.Message, e.Contact, self)));
        EventHandler<MessageEventArgs> onState = (_, e) => events.Writer.TryWrite(new EventDto("state", MessageDto.Of(e.Message, e.Contact, self)));
        EventHandler<ContactEventArgs> onContact = (_, e) => events.Writer.TryWrite(new EventDto("contact", Contact: ContactDto.From(e.Contact)));
        EventHandler<GroupEventArgs> onGroup = (_, e) => events.Writer.TryWrite(new EventDto("group", Group: GroupDto.Of(e.Group)));
        EventHandler<GroupMessageEventArgs> onGroupMessage = (_, e) => events.Writer.TryWrite(new EventDto("groupMessage", GroupMessage: GroupMessageDto.Of(e.Message, e.Group)));
        EventHandler<SessionResetEventArgs> onSession = (_, e) => events.Writer.TryWrite(new EventDto("session", Session: SessionResetDto.Of(e)));
        EventHandler<MessageEventArgs> onUpdate = (_, e) => events.Writer.TryWrite(new EventDto("update", MessageDto.Of(e.Message, e.Contact, self)));
        EventHandler<GroupMessageEventArgs> onGroupUpdate = (_, e) => events.Writer.TryWrite(new EventDto("groupUpdate", GroupMessage: GroupMessageDto.Of(e.Message, e.Group)));
        EventHandler<TypingEventArgs> onTyping = (_, e) => events.Writer.TryWrite(new EventDto("typing", Typing: new TypingDto(e.Contact.Handle.ToString(), e.Typing)));
        EventHandler<Chat.Files.FileEventArgs> onFile = (_, e) => events.Writer.TryWrite(new EventDto("file", File: FileDto.Of(e.File)));
        EventHandler<PresenceEventArgs> onPresence = (_, e) =>
            events.Writer.TryWrite(new EventDto("presence", Presence: new PresenceDto(e.Contact.Handle.ToString(), e.Presence.Online, e.Presence.LastSeen)));
        if (chat is not null)
        {
            chat.MessageReceived += onMessage;
            chat.MessageStateChanged += onState;
            chat.ContactChanged += onContact;
            chat.GroupChanged += onGroup;
            chat.GroupMessageReceived += onGroupMessage;
            chat.GroupMessageChanged += onGroupMessage;
            chat.SessionReset += onSession;
            chat.MessageUpdated += onUpdate;
            chat.GroupMessageUpdated += onGroupUpdate;
            chat.TypingChanged += onTyping;
            chat.PresenceChanged += onPresence;
            chat.FileChanged += onFile;
        }
        using var closing = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        // The reader is not cancelled by us (cancelling a receive aborts the socket): it ends when the client closes
        // or goes away, and then ends the sending loop.
        var reader = ReceiveUntilClosedAsync(socket, closing);
        try
        {
            events.Writer.TryWrite(new EventDto("status", Status: await ApiEndpoints.StatusAsync(node, closing.Token)));
            using var statusTimer = new PeriodicTimer(StatusInterval);
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
                    await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(item, ApiJsonContext.Events.EventDto), WebSocketMessageType.Text, true, closing.Token);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // The client went away, or the API is stopping.
        }
        finally
        {
            if (chat is not null)
            {
                chat.MessageReceived -= onMessage;
                chat.MessageStateChanged -= onState;
                chat.ContactChanged -= onContact;
                chat.GroupChanged -= onGroup;
                chat.GroupMessageReceived -= onGroupMessage;
                chat.GroupMessageChanged -= onGroupMessage;
                chat.SessionReset -= onSession;
                chat.MessageUpdated -= onUpdate;
                chat.GroupMessageUpdated -= onGroupUpdate;
                chat.TypingChanged -= onTyping;
                chat.PresenceChanged -= onPresence;
                chat.FileChanged -= onFile;
            }
            await CloseAsync(socket, reader);
        }
    }

    /// <summary>Answers the client's close, or (the API stopping) starts the close and waits a moment for the answer.</summary>
    private static async Task CloseAsync(WebSocket socket, Task reader)
    {
        try
        {
            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                var status = socket.State == WebSocketState.Open ? WebSocketCloseStatus.EndpointUnavailable : WebSocketCloseStatus.NormalClosure;
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await socket.CloseOutputAsync(status, status == WebSocketCloseStatus.NormalClosure ? "" : "the node is stopping", timeout.Token);
                await reader.WaitAsync(timeout.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or TimeoutException)
        {
            // The client did not answer; the socket is dropped.
        }
        socket.Abort();
        await reader;
    }

    /// <summary>A lifetime that leaves signals alone: the API starts and stops when the node's owner says so.</summary>
    private sealed class OwnedByNodeLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The client sends nothing we use; reading notices when it closes (and bounds what it may send).</summary>
    private static async Task ReceiveUntilClosedAsync(WebSocket socket, CancellationTokenSource closing)
    {
        var buffer = new byte[1024];
        try
        {
            while (true)
            {
                var received = await socket.ReceiveAsync(buffer, CancellationToken.None);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or ObjectDisposedException)
        {
            // Aborted or gone.
        }
        try
        {
            await closing.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // The sending side is already done.
        }
    }
}
