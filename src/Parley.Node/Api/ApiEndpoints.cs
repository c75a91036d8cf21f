using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Parley.Chat.Messaging;
using Parley.Core.Multiformats;
using Parley.Net;
using Parley.Storage;

namespace Parley.Node.Api;

/// <summary>
/// The REST endpoints (docs/api.md). A contact is named in a path by handle (<c>bob%23k3f9q2xa</c>), by a name unique
/// among the contacts, or by account id. Every refusal is JSON <c>{"error": "..."}</c> with a 4xx status.
/// </summary>
internal static class ApiEndpoints
{
    private const int DefaultPage = 200;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(15);

    public static void Map(IEndpointRouteBuilder app, ParleyNode node)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/status", (CancellationToken ct) => StatusAsync(node, ct)).WithSummary("Node and chat status: handle, peers, addresses, reachability, relays, mailbox, outbox");
        api.MapGet("/connections", () => node.Host.Connections.OrderBy(c => c.OpenedAt).Select(ConnectionDto.From).ToList())
            .WithSummary("Open connections, direct or relayed");
        api.MapPost("/connections", (ConnectRequest request, CancellationToken ct) => ConnectAsync(node, request, ct))
            .WithSummary("Connect to a peer at an address ending in /p2p/<peer id>, direct or /p2p-circuit; answers its open connections");
        api.MapGet("/routing-table", () => node.Dht.RoutingTable.Snapshot().Select(e => e.Peer.ToString()).ToList())
            .WithSummary("The peers in the DHT routing table (only peers others can dial)");
        api.MapGet("/contacts", (CancellationToken ct) => WithChat(node, async chat =>
            Results.Ok((await chat.GetContactsAsync(ct)).Where(c => c.State != ContactState.Pending).Select(ContactDto.From).ToList())))
            .WithSummary("Contacts (not requests)");
        api.MapGet("/requests", (CancellationToken ct) => WithChat(node, async chat =>
        {
            var requests = new List<RequestDto>();
            foreach (var contact in (await chat.GetContactsAsync(ct)).Where(c => c.State == ContactState.Pending))
            {
                var messages = await chat.GetHistoryAsync(contact.Handle.ToString(), DefaultPage, ct);
                requests.Add(new RequestDto(
                    ContactDto.From(contact),
                    await chat.GetSafetyNumberAsync(contact.Handle.ToString(), ct),
                    messages.Select(m => MessageDto.Of(m, contact, chat.Handle.ToString())).ToList()));
            }
            return Results.Ok(requests);
        })).WithSummary("Contact requests waiting for an answer, each with its messages and safety number");
        api.MapPost("/contacts/{who}/accept", (string who, CancellationToken ct) => WithChat(node, async chat => Results.Ok(ContactDto.From(await chat.AcceptAsync(who, ct)))))
            .WithSummary("Accept a contact request");
        api.MapPost("/contacts/{who}/block", (string who, CancellationToken ct) => WithChat(node, async chat => Results.Ok(ContactDto.From(await chat.BlockAsync(who, ct)))))
            .WithSummary("Block a contact");
        api.MapGet("/find", (string q, CancellationToken ct) => WithChat(node, async chat =>
            Results.Ok((await chat.FindAsync(q, ct)).Select(m => new MatchDto(m.Handle.ToString(), m.Account.ToPeerId().ToString())).ToList())))
            .WithSummary("Find users by name (every holder) or name#tag (exactly that user)");
        api.MapPost("/messages", (SendRequest request, CancellationToken ct) => WithChat(node, async chat =>
        {
            if (string.IsNullOrWhiteSpace(request.To) || request.Text is null)
            {
                return ApiJsonContext.Error(new ErrorDto("give both \"to\" (a handle, a contact's name or an account id) and \"text\" (and \"replyTo\", a message id, to reply)"), statusCode: StatusCodes.Status400BadRequest);
            }
            var message = await chat.SendAsync(request.To, request.Text, MessageActionEndpoints.ReplyTo(request.ReplyTo), ct);
            var contact = await chat.GetContactAsync(request.To, ct);
            return Results.Ok(MessageDto.Of(message, contact, chat.Handle.ToString()));
        })).WithSummary("Send a message; it is queued at once and its state changes arrive as events");
        api.MapGet("/messages/{who}", (string who, int? limit, CancellationToken ct) => WithChat(node, async chat =>
        {
            var contact = await chat.GetContactAsync(who, ct);
            var messages = await chat.GetHistoryAsync(who, limit ?? DefaultPage, ct);
            return Results.Ok(messages.Select(m => MessageDto.Of(m, contact, chat.Handle.ToString())).ToList());
        })).WithSummary("The conversation with a contact, oldest first, in causal order");
        api.MapPost("/messages/{who}/read", (string who, CancellationToken ct) => WithChat(node, async chat =>
        {
            var contact = await chat.GetContactAsync(who, ct);
            var unread = (await chat.GetUnreadAsync(ct)).Where(m => m.Sender == contact.Account).ToList();
            await chat.MarkReadAsync(unread, ct);
            return Results.Ok(new ReadDto(unread.Count));
        })).WithSummary("Mark a conversation as read (accepted contacts get read receipts)");
        api.MapGet("/unread", (CancellationToken ct) => WithChat(node, async chat =>
        {
            var contacts = (await chat.GetContactsAsync(ct)).ToDictionary(c => c.Account);
            return Results.Ok((await chat.GetUnreadAsync(ct)).Select(m => MessageDto.Of(m, contacts[m.Sender], chat.Handle.ToString())).ToList());
        })).WithSummary("Incoming messages not marked read yet, including requests");
        api.MapGet("/safety-number/{who}", (string who, CancellationToken ct) => WithChat(node, async chat =>
        {
            var contact = await chat.GetContactAsync(who, ct);
            return Results.Ok(new SafetyNumberDto(contact.Handle.ToString(), await chat.GetSafetyNumberAsync(who, ct)));
        })).WithSummary("The safety number to compare with a contact");
        api.MapPost("/mailbox/fetch", (CancellationToken ct) => WithChat(node, async chat => Results.Ok(await chat.FetchMailboxAsync(ct))))
            .WithSummary("Fetch the mailbox now");
    }

    public static async Task<StatusDto> StatusAsync(ParleyNode node, CancellationToken cancellationToken)
    {
        var chat = node.Chat;
        var pass = chat?.LastMailboxPass;
        var connections = node.Host.Connections;
        return new StatusDto(
            chat?.Handle.ToString(),
            chat?.Account.Id.ToString(),
            node.PeerId.ToString(),
            node.Dht.RoutingTable.Count,
            node.Host.ListenAddresses.Select(a => a.WithPeerId(node.PeerId).ToString()).ToList(),
            pass?.NodesAnswered ?? 0,
            pass?.NodesAsked ?? 0,
            chat is null ? 0 : await chat.CountOutboxAsync(cancellationToken),
            ContactDto.Lower(node.Host.Reachability),
            ContactDto.Lower(node.Dht.Mode),
            node.AutoRelay.Reservations.Select(r => r.Relay.ToString()).ToList(),
            node.RelayService?.IsRunning == true,
            connections.Count(c => !c.IsRelayed),
            connections.Count(c => c.IsRelayed),
            ResourcesDto.From(node.Host.ResourceUsage));
    }

    private static async Task<IResult> ConnectAsync(ParleyNode node, ConnectRequest request, CancellationToken cancellationToken)
    {
        if (!Multiaddr.TryParse(request.Address, out var address) || address!.PeerId is not { } peer)
        {
            return ApiJsonContext.Error(new ErrorDto($"'{request.Address}' is not a multiaddr ending in /p2p/<peer id>"), statusCode: StatusCodes.Status400BadRequest);
        }
        if (peer == node.PeerId)
        {
            return ApiJsonContext.Error(new ErrorDto("that address is this node's own"), statusCode: StatusCodes.Status400BadRequest);
        }
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(ConnectTimeout);
        try
        {
            await node.Host.ConnectAsync(address, deadline.Token);
        }
        catch (Exception e) when (e is PeerConnectionException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            var reason = e is OperationCanceledException ? $"no answer within {ConnectTimeout.TotalSeconds:0} s" : e.Message;
            return ApiJsonContext.Error(new ErrorDto($"cannot connect to {peer}: {reason}"), statusCode: StatusCodes.Status502BadGateway);
        }
        return Results.Ok(node.Host.Connections.Where(c => c.Peer == peer).OrderBy(c => c.OpenedAt).Select(ConnectionDto.From).ToList());
    }

    internal static async Task<IResult> WithChat(ParleyNode node, Func<ChatClient, Task<IResult>> action)
    {
        if (node.Chat is not { } chat)
        {
            return ApiJsonContext.Error(new ErrorDto("this node has no identity yet; create one with: parley init --name <name>"), statusCode: StatusCodes.Status409Conflict);
        }
        try
        {
            return await action(chat);
        }
        catch (Exception e) when (e is ChatException or ArgumentException or FormatException)
        {
            // ArgumentException, FormatException: a blank or malformed name, handle or account id.
            return ApiJsonContext.Error(new ErrorDto(e.Message), statusCode: StatusCodes.Status400BadRequest);
        }
        catch (IOException e) when (StorageFailure(e) is { } storage)
        {
            // A storage failure is an IOException too; it must not be reported as the network's.
            return ApiJsonContext.Error(new ErrorDto(storage.Message), statusCode: storage.IsDiskFull ? StatusCodes.Status507InsufficientStorage : StatusCodes.Status500InternalServerError);
        }
        catch (IOException e)
        {
            return ApiJsonContext.Error(new ErrorDto($"the network did not answer: {e.Message}"), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    private static StorageException? StorageFailure(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is StorageException storage)
            {
                return storage;
            }
        }
        return null;
    }
}
