using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Parley.Node.Api;
using Parley.Node.Tests.Files;
using SkiaSharp;

namespace Parley.Node.Tests.Api;

/// <summary>The file endpoints between two users' nodes on loopback: send as a request body, list, download as an attachment.</summary>
[Collection("api")]
public sealed class FileApiTests(ApiNetwork network)
{
    [Fact]
    public async Task The_file_limit_is_read_and_raised_and_a_limit_too_small_is_refused()
    {
        var judy = network["judy"];
        var before = await judy.GetAsync<FileLimitDto>("/api/files/limit");

        using var raised = await judy.Http.PutAsJsonAsync("/api/files/limit", new FileLimitDto(before.Bytes * 2), ApiUser.Json);
        using var tooSmall = await judy.Http.PutAsJsonAsync("/api/files/limit", new FileLimitDto(10), ApiUser.Json);

        Assert.Equal(HttpStatusCode.OK, raised.StatusCode);
        Assert.Equal(before.Bytes * 2, (await judy.GetAsync<FileLimitDto>("/api/files/limit")).Bytes);
        Assert.StartsWith("a file limit of 10 bytes is too small", await ApiUser.ErrorOfAsync(tooSmall, HttpStatusCode.BadRequest), StringComparison.Ordinal);
        using var restored = await judy.Http.PutAsJsonAsync("/api/files/limit", before, ApiUser.Json);
        Assert.Equal(HttpStatusCode.OK, restored.StatusCode);
    }

    [Fact]
    public async Task A_file_posted_to_a_contact_is_listed_on_both_sides_and_downloaded_as_an_attachment_under_a_clean_name()
    {
        var (heidi, ivan) = await ContactsAsync();

        var bytes = RandomNumberGenerator.GetBytes(70 * 1024);
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new MediaTypeHeaderValue("text/html");
        using var posted = await heidi.Http.PostAsync($"/api/messages/{ApiUser.Path(ivan.Handle)}/files?name={Uri.EscapeDataString("../../évil \"page\".html")}", body);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        var sent = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<FileDto>(posted.Content, ApiUser.Json))!;
        Assert.True(sent.Outgoing);
        Assert.Equal(bytes.Length, sent.Size);
        Assert.Equal("text/html", sent.MediaType);
        Assert.DoesNotContain('/', sent.Name);

        FileDto? received = null;
        await LoopbackNetwork.WaitUntilAsync(
            async () => (received = (await ivan.GetAsync<List<FileDto>>("/api/files")).FirstOrDefault(f => f.Id == sent.Id)) is { State: "complete" },
            ApiNetwork.Patience,
            "ivan has heidi's file whole");
        Assert.False(received!.Outgoing);
        Assert.Equal(sent.Name, received.Name);
        Assert.Equal(received, await ivan.GetAsync<FileDto>($"/api/files/{sent.Id[..8]}"));

        foreach (var user in new[] { heidi, ivan })
        {
            using var download = await user.Http.GetAsync($"/api/files/{sent.Id}/content");
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
            Assert.Equal("application/octet-stream", download.Content.Headers.ContentType?.MediaType);
            Assert.Equal("nosniff", download.Headers.GetValues("X-Content-Type-Options").Single());
            var disposition = download.Content.Headers.ContentDisposition!;
            Assert.Equal("attachment", disposition.DispositionType);
            Assert.Equal(sent.Name, disposition.FileNameStar);
            Assert.DoesNotContain('/', disposition.FileName!);
            Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
        }

        await ivan.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Get, "/api/files/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        await ivan.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/messages/{ApiUser.Path(heidi.Handle)}/files", new ByteArrayContent([1]));
    }

    [Fact]
    public async Task An_image_posted_gets_a_thumbnail_that_the_recipient_serves_as_a_jpeg_and_any_other_file_gets_none()
    {
        var (heidi, ivan) = await ContactsAsync();
        using var events = await ivan.ConnectEventsAsync();
        var image = TestImages.Photo(1200, 900, SKEncodedImageFormat.Png);
        // Named like a text file and sent as one: the type is sniffed from the bytes.
        var sent = await PostFileAsync(heidi, ivan, "notes.txt", image, "text/plain");
        var other = await PostFileAsync(heidi, ivan, "photo.jpg", RandomNumberGenerator.GetBytes(3000), "image/jpeg");

        Assert.Equal("image/jpeg", sent.ThumbnailType);
        Assert.Null(other.ThumbnailType);
        var arrived = await ApiUser.ReceiveUntilAsync(events, e => e.Type == "file" && e.File!.Id == sent.Id, ApiNetwork.Patience, "a file event for the image");
        Assert.Equal("image/jpeg", arrived.File!.ThumbnailType);
        foreach (var user in new[] { heidi, ivan })
        {
            using var thumbnail = await user.Http.GetAsync($"/api/files/{sent.Id}/thumbnail");
            Assert.Equal(HttpStatusCode.OK, thumbnail.StatusCode);
            Assert.Equal("image/jpeg", thumbnail.Content.Headers.ContentType?.MediaType);
            Assert.Equal("nosniff", thumbnail.Headers.GetValues("X-Content-Type-Options").Single());
            var bytes = await thumbnail.Content.ReadAsByteArrayAsync();
            Assert.InRange(bytes.Length, 1, Parley.Chat.Files.FileManifest.MaxThumbnailBytes);
            using var decoded = SKBitmap.Decode(bytes);
            Assert.Equal((320, 240), (decoded.Width, decoded.Height));
        }
        await LoopbackNetwork.WaitUntilAsync(async () => (await ivan.GetAsync<List<FileDto>>("/api/files")).Any(f => f.Id == other.Id), ApiNetwork.Patience, "ivan has the other file's manifest");
        await ivan.RefusedAsync(HttpStatusCode.NotFound, HttpMethod.Get, $"/api/files/{other.Id}/thumbnail");

        await LoopbackNetwork.WaitUntilAsync(
            async () => (await ivan.GetAsync<FileDto>($"/api/files/{sent.Id}")).State == "complete", ApiNetwork.Patience, "ivan has the image whole");
        using var download = await ivan.Http.GetAsync($"/api/files/{sent.Id}/content");
        Assert.Equal(image, await download.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task A_download_ticket_serves_its_file_once_without_the_token_and_nothing_else()
    {
        var (heidi, ivan) = await ContactsAsync();
        var bytes = RandomNumberGenerator.GetBytes(5000);
        var first = await PostFileAsync(heidi, ivan, "one.bin", bytes, "application/octet-stream");
        var second = await PostFileAsync(heidi, ivan, "two.bin", RandomNumberGenerator.GetBytes(10), "application/octet-stream");
        using var browser = new HttpClient { BaseAddress = heidi.Api.BaseAddress };

        var ticket = await heidi.PostAsync<DownloadDto>($"/api/files/{first.Id[..8]}/download");
        Assert.StartsWith($"/api/files/{first.Id}/content?ticket=", ticket.Url, StringComparison.Ordinal);
        using (var download = await browser.GetAsync(ticket.Url))
        {
            Assert.Equal(HttpStatusCode.OK, download.StatusCode);
            Assert.Equal("attachment", download.Content.Headers.ContentDisposition?.DispositionType);
            Assert.Equal(bytes, await download.Content.ReadAsByteArrayAsync());
        }
        // Spent; and a fresh one opens neither another file nor another endpoint, nor serves a POST.
        using (var again = await browser.GetAsync(ticket.Url))
        {
            await ApiUser.ErrorOfAsync(again, HttpStatusCode.Unauthorized);
        }
        var query = (await heidi.PostAsync<DownloadDto>($"/api/files/{first.Id}/download")).Url.Split('?')[1];
        foreach (var (method, path) in new[] { (HttpMethod.Get, $"/api/files/{second.Id}/content"), (HttpMethod.Get, "/api/files"), (HttpMethod.Post, $"/api/files/{first.Id}/content") })
        {
            using var request = new HttpRequestMessage(method, $"{path}?{query}");
            using var refused = await browser.SendAsync(request);
            await ApiUser.ErrorOfAsync(refused, HttpStatusCode.Unauthorized);
        }
        // Without the token no ticket is given.
        using (var anonymous = await browser.PostAsync($"/api/files/{first.Id}/download", null))
        {
            await ApiUser.ErrorOfAsync(anonymous, HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public void A_download_ticket_lapses_after_a_minute()
    {
        var time = new SteppedTime();
        var tickets = new DownloadTickets(time);
        var late = tickets.Issue("/api/files/ab/content");
        var onTime = tickets.Issue("/api/files/ab/content");

        time.Now += DownloadTickets.Lifetime - TimeSpan.FromSeconds(1);
        Assert.True(tickets.Redeem(onTime, "/api/files/ab/content"));
        time.Now += TimeSpan.FromSeconds(1);
        Assert.False(tickets.Redeem(late, "/api/files/ab/content"));
    }

    private sealed class SteppedTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = DateTimeOffset.UnixEpoch;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static async Task<FileDto> PostFileAsync(ApiUser from, ApiUser to, string name, byte[] bytes, string type)
    {
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new MediaTypeHeaderValue(type);
        using var posted = await from.Http.PostAsync($"/api/messages/{ApiUser.Path(to.Handle)}/files?name={Uri.EscapeDataString(name)}", body);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);
        return (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<FileDto>(posted.Content, ApiUser.Json))!;
    }

    /// <summary>Heidi and ivan as contacts (once for the tests of this class, whichever runs first).</summary>
    private async Task<(ApiUser Heidi, ApiUser Ivan)> ContactsAsync()
    {
        var heidi = network["heidi"];
        var ivan = network["ivan"];
        if ((await ivan.GetAsync<List<ContactDto>>("/api/contacts")).Any(c => c.Handle == heidi.Handle && c.State == "accepted"))
        {
            return (heidi, ivan);
        }
        await heidi.PostAsync<MessageDto>("/api/messages", new SendRequest(ivan.Handle, "hi ivan"));
        await LoopbackNetwork.WaitUntilAsync(async () => (await ivan.GetAsync<List<RequestDto>>("/api/requests")).Count == 1, ApiNetwork.Patience, "ivan has heidi's request");
        await ivan.PostAsync<ContactDto>($"/api/contacts/{ApiUser.Path(heidi.Handle)}/accept");
        return (heidi, ivan);
    }
}
