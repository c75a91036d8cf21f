using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Parley.Node.Api;

/// <summary>Serves the web UI (src/Parley.Node/WebUi, embedded in the assembly so a single-file build carries it).</summary>
internal static class WebUi
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
    };

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => ServeAsync(context, "index.html")).ExcludeFromDescription();
        app.MapGet("/{file}", (HttpContext context, string file) => ServeAsync(context, file)).ExcludeFromDescription();
    }

    private static async Task ServeAsync(HttpContext context, string file)
    {
        var stream = typeof(WebUi).Assembly.GetManifestResourceStream($"webui/{file}");
        if (stream is null || !ContentTypes.TryGetValue(Path.GetExtension(file), out var type))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        await using (stream)
        {
            context.Response.ContentType = type;
            // The page loads nothing from elsewhere, runs no inline script or style, talks only to this node (the Host was
            // checked by RequestGuard, so echoing it is safe), and must not be framed by another site (clickjacking).
            // Images may also come from blob: addresses the page makes itself: thumbnails fetched with the token.
            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = $"default-src 'self'; img-src 'self' blob:; connect-src 'self' ws://{context.Request.Host}; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.CacheControl = "no-cache";
            await stream.CopyToAsync(context.Response.Body, context.RequestAborted);
        }
    }
}
