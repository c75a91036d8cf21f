using System.Net.WebSockets;
using System.Text.Json;
using Parley.Node.Api;

namespace Parley.Node.Tests.Api;

/// <summary>Records every event of one /api/events socket, so a test can wait for events in any order.</summary>
public sealed class EventLog : IAsyncDisposable
{
    private readonly ClientWebSocket _socket;
    private readonly List<EventDto> _events = [];
    private readonly Task _pump;

    private EventLog(ClientWebSocket socket)
    {
        _socket = socket;
        _pump = PumpAsync();
    }

    public WebSocketCloseStatus? CloseStatus { get; private set; }

    public static async Task<EventLog> ConnectAsync(ApiUser user) => new(await user.ConnectEventsAsync());

    public IReadOnlyList<EventDto> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>The first event (received so far or later) that matches; fails after <paramref name="timeout"/>.</summary>
    public async Task<EventDto> WaitForAsync(Func<EventDto, bool> match, string what, TimeSpan? timeout = null)
    {
        EventDto? found = null;
        await LoopbackNetwork.WaitUntilAsync(() => Task.FromResult((found = Events.FirstOrDefault(match)) is not null), timeout ?? ApiNetwork.Patience, what);
        return found!;
    }

    /// <summary>Closes the socket as a client does; true when the node answered the close.</summary>
    public async Task<bool> CloseAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
        await _pump.WaitAsync(timeout.Token);
        return _socket.State == WebSocketState.Closed;
    }

    public async ValueTask DisposeAsync()
    {
        _socket.Abort();
        await _pump;
        _socket.Dispose();
    }

    private async Task PumpAsync()
    {
        var buffer = new byte[64 * 1024];
        using var message = new MemoryStream();
        try
        {
            while (true)
            {
                var received = await _socket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    CloseStatus = _socket.CloseStatus;
                    return;
                }
                message.Write(buffer, 0, received.Count);
                if (received.EndOfMessage)
                {
                    var item = JsonSerializer.Deserialize<EventDto>(message.ToArray(), ApiUser.Json)!;
                    message.SetLength(0);
                    lock (_events)
                    {
                        _events.Add(item);
                    }
                }
            }
        }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Aborted.
        }
    }
}
