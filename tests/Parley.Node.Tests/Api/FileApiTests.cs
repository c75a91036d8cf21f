using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Parley.Node.Api;

namespace Parley.Node.Tests.Api;

/// <summary>The file endpoints between two users' nodes on loopback: send as a request body, list, download as an attachment.</summary>
[Collection("api")]
public sealed class FileApiTests(ApiNetwork network)
{
    [Fact]
    public async Task A_file_posted_to_a_contact_is_listed_on_both_sides_and_downloaded_as_an_attachment_under_a_clean_name()
    {
        var heidi = network["heidi"];
        var ivan = network["ivan"];
        await heidi.PostAsync<MessageDto>("/api/messages", new SendRequest(ivan.Handle, "hi ivan"));
        await LoopbackNetwork.WaitUntilAsync(async () => (await ivan.GetAsync<List<RequestDto>>("/api/requests")).Count == 1, ApiNetwork.Patience, "ivan has heidi's request");
        await ivan.PostAsync<ContactDto>($"/api/contacts/{ApiUser.Path(heidi.Handle)}/accept");

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
}
