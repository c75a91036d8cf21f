using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Parley.Node.Api;
using Parley.Testing;

namespace Parley.Node.Tests.Api;

/// <summary>GET /api/link and POST /api/contacts/add: the link and its QR code, adding by it, and its refusals.</summary>
[Collection("api")]
public sealed class ContactLinkApiTests(ApiNetwork network)
{
    [Fact]
    public async Task Grace_adds_frank_by_his_link_and_an_altered_link_is_refused_with_nothing_sent()
    {
        var frank = network["frank"];
        var grace = network["grace"];

        var link = await frank.GetAsync<ContactLinkDto>("/api/link");
        Assert.Equal(frank.Handle, link.Handle);
        Assert.Equal($"parley://contact/v1/frank/{frank.Handle.Split('#')[1]}?sn={link.Fingerprint}", link.Link);
        Assert.Equal(link.Link, QrCodes.DecodeRows(link.Qr));

        // An altered safety number: 409 with a warning that says so, and grace has no new contact.
        var altered = link.Link[..^1] + (link.Link[^1] == '0' ? '1' : '0');
        using (var refused = await grace.Http.PostAsJsonAsync("/api/contacts/add", new AddContactRequest(altered)))
        {
            var error = await ApiUser.ErrorOfAsync(refused, HttpStatusCode.Conflict);
            Assert.StartsWith("WARNING: the safety number in this link does not match the key the directory has for them", error, StringComparison.Ordinal);
        }
        using (var again = await grace.Http.PostAsJsonAsync("/api/contacts/add", new AddContactRequest(altered)))
        {
            Assert.True(JsonDocument.Parse(await again.Content.ReadAsStringAsync()).RootElement.GetProperty("safetyNumberMismatch").GetBoolean());
        }
        Assert.DoesNotContain(await grace.GetAsync<List<ContactDto>>("/api/contacts"), c => c.Handle == frank.Handle);

        // Malformed, own, missing: 400 with the reason.
        Assert.Contains("starts with parley://contact/", await grace.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/contacts/add", JsonContent.Create(new AddContactRequest(frank.Handle))), StringComparison.Ordinal);
        var own = await grace.GetAsync<ContactLinkDto>("/api/link");
        Assert.Contains("your own contact link", await grace.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/contacts/add", JsonContent.Create(new AddContactRequest(own.Link))), StringComparison.Ordinal);
        Assert.Contains("starts with parley://contact/", await grace.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, "/api/contacts/add", JsonContent.Create(new AddContactRequest(null))), StringComparison.Ordinal);

        // The real link: the request goes out with the greeting, the safety number holds frank's half.
        var added = await grace.PostAsync<AddedContactDto>("/api/contacts/add", new AddContactRequest(link.Link));
        Assert.True(added.SafetyNumberMatched);
        Assert.Equal((frank.Handle, "requested"), (added.Contact.Handle, added.Contact.State));
        Assert.Equal(ContactLinkEndpoints.DefaultGreeting, added.Request?.Text);
        Assert.True(added.Request!.Request);
        Assert.True(added.SafetyNumber.StartsWith(link.Fingerprint, StringComparison.Ordinal) || added.SafetyNumber.EndsWith(link.Fingerprint, StringComparison.Ordinal));
        var request = await WaitForRequestAsync(frank, grace.Handle);
        Assert.Equal(ContactLinkEndpoints.DefaultGreeting, Assert.Single(request.Messages).Text);
        Assert.Equal(added.SafetyNumber, request.SafetyNumber);

        // Adding again sends nothing more; frank adding grace by her link accepts her request.
        Assert.Null((await grace.PostAsync<AddedContactDto>("/api/contacts/add", new AddContactRequest(link.Link))).Request);
        var accepted = await frank.PostAsync<AddedContactDto>("/api/contacts/add", new AddContactRequest(own.Link));
        Assert.Equal(("accepted", (MessageDto?)null), (accepted.Contact.State, accepted.Request));
    }

    private static async Task<RequestDto> WaitForRequestAsync(ApiUser user, string from)
    {
        using var deadline = new CancellationTokenSource(ApiNetwork.Patience);
        while (true)
        {
            if ((await user.GetAsync<List<RequestDto>>("/api/requests")).FirstOrDefault(r => r.Contact.Handle == from) is { } request)
            {
                return request;
            }
            await Task.Delay(100, deadline.Token);
        }
    }
}
