using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Parley.Node.Api;

/// <summary>
/// Refuses any request whose Host is not this node's own loopback address (DNS rebinding: a page on evil.example that
/// resolves its name to 127.0.0.1 still sends "Host: evil.example"), any request with a foreign Origin (cross-site
/// requests and WebSockets from other pages), and, under /api, any request without the bearer token. Browsers cannot
/// set headers on a WebSocket, so /api/events may carry the token as <c>?access_token=</c> instead; nor on a link, so a
/// file's download may carry a one-time <c>?ticket=</c> (<see cref="DownloadTickets"/>) instead. Paths are compared
/// ignoring case, as routing matches them (<c>/API/status</c> is <c>/api/status</c>).
/// </summary>
internal sealed class RequestGuard(string token, DownloadTickets tickets)
{
    private readonly byte[] _token = Encoding.UTF8.GetBytes(token);
    private volatile string[] _hosts = [];
    private volatile string[] _origins = [];

    public void SetPort(int port)
    {
        _hosts = [$"127.0.0.1:{port}", $"localhost:{port}", $"[::1]:{port}"];
        _origins = _hosts.Select(h => $"http://{h}").ToArray();
    }

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var request = context.Request;
        if (!_hosts.Contains(request.Host.Value ?? "", StringComparer.OrdinalIgnoreCase))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, "this node answers only to its own address (Host header refused)");
            return;
        }
        if (request.Headers.Origin is { Count: > 0 } origin && !_origins.Contains(origin.ToString(), StringComparer.OrdinalIgnoreCase))
        {
            await RefuseAsync(context, StatusCodes.Status403Forbidden, "requests from other web origins are refused");
            return;
        }
        if (request.Path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) && !HasToken(request) && !HasTicket(request))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await RefuseAsync(context, StatusCodes.Status401Unauthorized, "missing or wrong bearer token (it is in the data folder's api-token file)");
            return;
        }
        await next(context);
    }

    private bool HasToken(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.Ordinal)
            ? header["Bearer ".Length..]
            : request.Path.StartsWithSegments("/api/events", StringComparison.OrdinalIgnoreCase) ? request.Query["access_token"].ToString() : "";
        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), _token);
    }

    private bool HasTicket(HttpRequest request) =>
        HttpMethods.IsGet(request.Method) && request.Query["ticket"] is { Count: 1 } ticket && tickets.Redeem(ticket.ToString(), request.Path.Value ?? "");

    private static Task RefuseAsync(HttpContext context, int status, string reason)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new ErrorDto(reason), ApiJsonContext.Default.ErrorDto);
    }
}
