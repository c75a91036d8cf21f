using System.Net.WebSockets;
using Parley.Node.Api;

namespace Parley.Node.Tests.Api;

/// <summary>The live event WebSocket (/api/events): status first, then messages, delivery states and contact changes as they happen.</summary>
[Collection("api")]
public sealed class ApiEventTests(ApiNetwork network)
{
    private static readonly TimeSpan Patience = ApiNetwork.Patience;

    [Fact]
    public async Task Dave_writes_to_erin_and_both_event_streams_tell_what_happens()
    {
        var dave = network["dave"];
        var erin = network["erin"];
        await using var daveEvents = await EventLog.ConnectAsync(dave);
        await using var erinEvents = await EventLog.ConnectAsync(erin);

        // Status first, at once: who, peers, addresses.
        await erinEvents.WaitForAsync(_ => true, "erin's first event");
        var status = erinEvents.Events[0].Status;
        Assert.Equal("status", erinEvents.Events[0].Type);
        Assert.NotNull(status);
        Assert.Equal(erin.Handle, status.Handle);
        Assert.True(status.Peers > 0);
        Assert.NotEmpty(status.Addresses);
        await daveEvents.WaitForAsync(_ => true, "dave's first event");
        Assert.Equal("status", daveEvents.Events[0].Type);

        var sent = await dave.PostAsync<MessageDto>("/api/messages", new SendRequest(erin.Handle, "hello erin"));

        // Dave: erin became a contact (requested), and the message is delivered.
        var requested = await daveEvents.WaitForAsync(e => e.Type == "contact", "dave's contact list has erin");
        Assert.Equal((erin.Handle, "requested"), (requested.Contact!.Handle, requested.Contact.State));
        var delivered = await daveEvents.WaitForAsync(e => e.Type == "state" && e.Message!.State == "delivered", "dave sees his message delivered");
        Assert.Equal((sent.Id, erin.Handle, "outgoing"), (delivered.Message!.Id, delivered.Message.Contact, delivered.Message.Direction));

        // Erin: the message, and a request from dave.
        var message = await erinEvents.WaitForAsync(e => e.Type == "message", "erin gets dave's message");
        Assert.Equal((sent.Id, "hello erin", "incoming", dave.Handle, true), (message.Message!.Id, message.Message.Text, message.Message.Direction, message.Message.Contact, message.Message.Request));
        var pending = await erinEvents.WaitForAsync(e => e.Type == "contact", "erin hears of dave's request");
        Assert.Equal((dave.Handle, "pending"), (pending.Contact!.Handle, pending.Contact.State));

        // Erin answers (accepting), then reads: dave hears that erin accepted and has read.
        await erin.PostAsync<MessageDto>("/api/messages", new SendRequest("dave", "hello dave"));
        await erinEvents.WaitForAsync(e => e.Type == "contact" && e.Contact!.State == "accepted", "erin's request list loses dave");
        await daveEvents.WaitForAsync(e => e.Type == "contact" && e.Contact!.State == "accepted", "dave hears erin accepted");
        var answer = await daveEvents.WaitForAsync(e => e.Type == "message", "dave gets erin's answer");
        Assert.Equal(("hello dave", false), (answer.Message!.Text, answer.Message.Request));
        await erin.PostAsync<ReadDto>("/api/messages/dave/read");
        await daveEvents.WaitForAsync(e => e.Type == "state" && e.Message!.Id == sent.Id && e.Message.State == "read", "dave sees his message read");

        // A client that closes gets a clean close back.
        Assert.True(await erinEvents.CloseAsync(), "the node answers the client's close");
    }

    [Fact]
    public async Task The_status_event_repeats_so_the_peer_count_stays_current()
    {
        using var events = await network.Blank.ConnectEventsAsync();
        var first = await ApiUser.ReceiveUntilAsync(events, e => e.Type == "status", Patience, "the first status");
        Assert.Null(first.Status!.Handle);
        var started = DateTime.UtcNow;
        await ApiUser.ReceiveUntilAsync(events, e => e.Type == "status", LocalApi.StatusInterval * 3, "the next status");
        Assert.True(DateTime.UtcNow - started > LocalApi.StatusInterval / 2, "the status is not repeated in a busy loop");
    }
}
