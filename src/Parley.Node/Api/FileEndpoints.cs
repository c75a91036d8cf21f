using System.Buffers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Parley.Chat.Files;
using Parley.Chat.Messaging;
using Parley.Node.Files;

namespace Parley.Node.Api;

/// <summary>
/// Files (docs/files.md): send one to a contact or a room (the request body is the file's bytes), list them, fetch one
/// again, and download a saved or sent one. A download is always an attachment of type application/octet-stream under
/// its cleaned name, so a browser neither shows nor runs what a contact sent.
/// </summary>
internal static class FileEndpoints
{
    private const int DefaultPage = 200;

    /// <summary>Enough of a file's start to tell an image (the longest signature FileManifest.ImageType reads is WebP's 12 bytes).</summary>
    private const int ImageSignatureBytes = 12;

    public static void Map(IEndpointRouteBuilder app, ParleyNode node)
    {
        app.MapPost("/api/messages/{who}/files", (string who, string name, string? type, HttpRequest request, IThumbnailer thumbnails, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            await AllowBodyUpToLimitAsync(chat, request, ct);
            var (content, thumbnail) = await ReadWithThumbnailAsync(request, thumbnails, ct);
            return Results.Ok(FileDto.Of(await chat.SendFileAsync(who, name, type ?? request.ContentType, content, thumbnail, ct)));
        })).WithSummary("Send a file to a contact (the request body is the file, of any content type; its name, and optionally its type, in the query); an image gets a thumbnail");
        app.MapPost("/api/groups/{room}/files", (string room, string name, string? type, HttpRequest request, IThumbnailer thumbnails, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            await AllowBodyUpToLimitAsync(chat, request, ct);
            var (content, thumbnail) = await ReadWithThumbnailAsync(request, thumbnails, ct);
            return Results.Ok(FileDto.Of(await chat.SendFileToGroupAsync(room, name, type ?? request.ContentType, content, thumbnail, ct)));
        })).WithSummary("Send a file to a room (the request body is the file, of any content type; its name, and optionally its type, in the query); an image gets a thumbnail");
        var files = app.MapGroup("/api/files");
        files.MapGet("", (int? limit, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok((await chat.GetFilesAsync(limit ?? DefaultPage, ct)).Select(FileDto.Of).ToList())))
            .WithSummary("Files sent and received, newest first");
        files.MapGet("/limit", (CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(new FileLimitDto(await chat.GetFileLimitAsync(ct)))))
            .WithSummary("The largest file this user sends or fetches, in bytes");
        files.MapPut("/limit", (FileLimitDto request, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            await chat.SetFileLimitAsync(request.Bytes, ct);
            return Results.Ok(new FileLimitDto(await chat.GetFileLimitAsync(ct)));
        })).WithSummary("Set the largest file this user sends or fetches, in bytes (then fetch a file refused for its size with /fetch)");
        files.MapGet("/{id}", (string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(FileDto.Of(await chat.GetFileAsync(id, ct)))))
            .WithSummary("A file (id, or its first characters): state, progress, what it waits for");
        files.MapPost("/{id}/fetch", (string id, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
            Results.Ok(FileDto.Of(await chat.FetchFileAsync(id, ct)))))
            .WithSummary("Fetch a file again (after raising the limit or freeing space)");
        files.MapGet("/{id}/thumbnail", (string id, HttpResponse response, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            var file = await chat.GetFileAsync(id, ct);
            // The type is named from the bytes (only a JPEG or WebP, as the sending node makes them), never taken from the sender.
            if (file.Thumbnail is not { Length: > 0 } thumbnail || FileManifest.ThumbnailTypeOf(thumbnail) is not { } type)
            {
                return ApiJsonContext.Error(new ErrorDto($"{file.Name} has no thumbnail"), statusCode: StatusCodes.Status404NotFound);
            }
            response.Headers.XContentTypeOptions = "nosniff";
            return Results.File(thumbnail, type);
        })).WithSummary("An image's thumbnail (image/jpeg or image/webp, at most 16 KiB), as the sender's node made it");
        files.MapPost("/{id}/download", (string id, DownloadTickets tickets, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            // Refused now (not here whole, no longer saved) rather than when the browser follows the address.
            var (file, content) = await chat.OpenFileAsync(id, ct);
            await content.DisposeAsync();
            var path = $"/api/files/{file.IdText}/content";
            return Results.Ok(new DownloadDto($"{path}?ticket={tickets.Issue(path)}"));
        })).WithSummary("A one-time address to download a file this device holds whole without the token (for a browser's own download; valid for a minute)");
        files.MapGet("/{id}/content", (string id, HttpResponse response, CancellationToken ct) => ApiEndpoints.WithChat(node, async chat =>
        {
            var (file, content) = await chat.OpenFileAsync(id, ct);
            response.Headers.XContentTypeOptions = "nosniff";
            // Results.File writes the name both plain (ASCII, quoted) and as filename* (RFC 6266), never a path.
            return Results.File(content, "application/octet-stream", SafeFileName.Clean(file.Name), enableRangeProcessing: true);
        })).WithSummary("Download a file this device holds whole (sent, or received and saved) as an attachment");
    }

    /// <summary>
    /// An upload that starts like an image and is small enough is read whole to make its thumbnail (the thumbnailer
    /// reads it all); anything else streams into the file store untouched. The first bytes are looked at without being
    /// taken from the body.
    /// </summary>
    private static async Task<(Stream Content, byte[]? Thumbnail)> ReadWithThumbnailAsync(HttpRequest request, IThumbnailer thumbnails, CancellationToken cancellationToken)
    {
        if (request.ContentLength is not ({ } length and > 0 and <= IThumbnailer.MaxSourceBytes))
        {
            return (request.Body, null);
        }
        var start = await request.BodyReader.ReadAtLeastAsync(ImageSignatureBytes, cancellationToken);
        var head = start.Buffer.Slice(0, Math.Min(start.Buffer.Length, ImageSignatureBytes)).ToArray();
        request.BodyReader.AdvanceTo(start.Buffer.Start);
        if (FileManifest.ImageType(head) is null)
        {
            return (request.Body, null);
        }
        var image = new byte[length];
        try
        {
            await request.Body.ReadExactlyAsync(image, cancellationToken);
        }
        catch (EndOfStreamException e)
        {
            throw new BadHttpRequestException("the upload ended before its Content-Length", e);
        }
        return (new MemoryStream(image, writable: false), await thumbnails.CreateAsync(image, cancellationToken));
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
