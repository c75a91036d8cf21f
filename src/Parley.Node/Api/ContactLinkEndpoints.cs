using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Node.Contacts;

namespace Parley.Node.Api;

/// <summary>Contact links (docs/contact-links.md): your own, with its QR code, and adding someone by theirs.</summary>
internal static class ContactLinkEndpoints
{
    /// <summary>The first message of a request made from a link, when the user gives none.</summary>
    public const string DefaultGreeting = "Hi! I added you with your Parley contact link.";

    public static void Map(IEndpointRouteBuilder app, ParleyNode node)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/link", () => ApiEndpoints.WithChat(node, chat =>
        {
            var link = ContactLink.Of(chat.Handle, chat.Account.PublicKey);
            return Task.FromResult(Results.Ok(new ContactLinkDto(link.ToString(), chat.Handle.ToString(), link.Fingerprint, link.QrRows())));
        })).WithSummary("Your contact link (handle and your half of every safety number) and its QR code");
        api.MapPost("/contacts/add", (AddContactRequest request, CancellationToken ct) => ApiEndpoints.WithChat(node, chat =>
            AddAsync(chat, ContactLink.Parse(request.Link ?? ""), string.IsNullOrWhiteSpace(request.Text) ? DefaultGreeting : request.Text, ct)))
            .WithSummary("Ask someone to chat through their contact link; refused (409) when the link's safety number does not match their key");
    }

    private static async Task<IResult> AddAsync(ChatClient chat, ContactLink link, string text, CancellationToken cancellationToken)
    {
        if (link.Handle == chat.Handle)
        {
            return ApiJsonContext.Error(new ErrorDto("that is your own contact link"), statusCode: StatusCodes.Status400BadRequest);
        }
        var contact = (await chat.GetContactsAsync(cancellationToken)).FirstOrDefault(c => c.Handle == link.Handle);
        if (contact is null)
        {
            // Only the account whose key the link names is written to: if the directory holds no such key for the
            // handle, someone else answers to it there.
            var found = (await chat.FindAsync(link.Handle.ToString(), cancellationToken)).Where(m => m.Handle == link.Handle).ToList();
            if (found.Count == 0)
            {
                return ApiJsonContext.Error(new ErrorDto($"nobody with the handle {link.Handle} was found in the directory"), statusCode: StatusCodes.Status400BadRequest);
            }
            if (!found.Any(m => link.Matches(m.Account)))
            {
                return Mismatch(link, "the key the directory has for them");
            }
        }
        else if (!link.Matches(contact.AccountKey))
        {
            return Mismatch(link, "the key of your contact of that handle");
        }
        MessageRecord? request = null;
        switch (contact?.State)
        {
            case ContactState.Blocked:
                return ApiJsonContext.Error(new ErrorDto($"you blocked {link.Handle}; unblocking is not possible yet"), statusCode: StatusCodes.Status400BadRequest);
            case ContactState.Pending:
                contact = await chat.AcceptAsync(link.Handle.ToString(), cancellationToken);
                break;
            case ContactState.Accepted or ContactState.Requested:
                // Already talking, or already asked: nothing more to send.
                break;
            default:
                request = await chat.SendAsync(link.Handle.ToString(), text, cancellationToken);
                contact = await chat.GetContactAsync(link.Handle.ToString(), cancellationToken);
                break;
        }
        return Results.Ok(new AddedContactDto(
            ContactDto.From(contact),
            await chat.GetSafetyNumberAsync(link.Handle.ToString(), cancellationToken),
            SafetyNumberMatched: true,
            request is null ? null : MessageDto.Of(request, contact, chat.Handle.ToString())));
    }

    private static IResult Mismatch(ContactLink link, string what) => Results.Json(
        new LinkMismatchDto($"WARNING: the safety number in this link does not match {what} ({link.Handle}): someone may be posing as them, or the link was altered. No request was sent; check the link with them in person or on a call."),
        ApiJsonContext.Default.LinkMismatchDto,
        statusCode: StatusCodes.Status409Conflict);
}
