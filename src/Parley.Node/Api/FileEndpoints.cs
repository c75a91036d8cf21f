using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Parley.Chat.Files;
using Parley.Chat.Messaging;

namespace Parley.Node.Api;

/// <summary>
/// Files (docs/files.md): send one to a contact or a room (the request body is the file's bytes), list them, fetch one
/// again, and download a saved or sent one. A download is always an attachment of type application/octet-stream under
/// its cleaned name, so a browser neither shows nor runs what a contact sent.
/// </summary>
internal static class FileEndpoints
{
    private const int DefaultPage = 200;

    public static void Map(IEndpointRouteBuilder app, ParleyNode node)
    {
        app.MapPost("/api/messages/{who}/files", (string who, string name, string? type, HttpRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            await AllowBodyUpToLimitAsync(chat, request, ct);
            return Results.Ok(FileDto.Of(await chat.SendFileAsync(who, name, type ?? request.ContentType, request.Body, null, ct)));
        })).WithSummary("Send a file to a contact (the request body is the file, of any content type; its name, and optionally its type, in the query)");
        app.MapPost("/api/groups/{room}/files", (string room, string name, string? type, HttpRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            await AllowBodyUpToLimitAsync(chat, request, ct);
            return Results.Ok(FileDto.Of(await chat.SendFileToGroupAsync(room, name, type ?? request.ContentType, request.Body, null, ct)));
        })).WithSummary("Send a file to a room (the request body is the file, of any content type; its name, and optionally its type, in the query)");
        var files = app.MapGroup("/api/files");
        files.MapGet("", (int? limit, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok((await chat.GetFilesAsync(limit ?? DefaultPage, ct)).Select(FileDto.Of))))
            .WithSummary("Files sent and received, newest first");
        files.MapGet("/{id}", (string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(FileDto.Of(await chat.GetFileAsync(id, ct)))))
            .WithSummary("A file (id, or its first characters): state, progress, what it waits for");
        files.MapPost("/{id}/fetch", (string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(FileDto.Of(await chat.FetchFileAsync(id, ct)))))
            .WithSummary("Fetch a file again (after raising the limit or freeing space)");
        files.MapGet("/{id}/content", (string id, HttpResponse response, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            var (file, content) = await chat.OpenFileAsync(id, ct);
            response.Headers.XContentTypeOptions = "nosniff";
            // Results.File writes the name both plain (ASCII, quoted) and as filename* (RFC 6266), never a path.
            return Results.File(content, "application/octet-stream", SafeFileName.Clean(file.Name), enableRangeProcessing: true);
        })).WithSummary("Download a file this device holds whole (sent, or received and saved) as an attachment");
    }

    /// <summary>Kestrel refuses bodies over 30 MB by default; a file may be as large as the user's limit (the store stops at it).</summary>
    private static async Task AllowBodyUpToLimitAsync(ChatClient chat, HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = await chat.GetFileLimitAsync(cancellationToken) + 1;
        }
    }
}
