using System.Net;
using System.Net.Http.Json;
using Parley.Node.Api;

namespace Parley.Node.Tests.Api;

/// <summary>Replies, reactions, edit and delete for everyone, typing, presence and what of them is shared, through the local API.</summary>
[Collection("api")]
public sealed class MessageActionApiTests(ApiNetwork network)
{
    [Fact]
    public async Task Judy_and_ken_reply_react_edit_delete_type_and_see_each_other_online_until_ken_stops_sharing()
    {
        var judy = network["judy"];
        var ken = network["ken"];
        await using var judyEvents = await EventLog.ConnectAsync(judy);
        await using var kenEvents = await EventLog.ConnectAsync(ken);
        await judy.PostAsync<MessageDto>("/api/messages", new SendRequest(ken.Handle, "hello ken"));
        var question = (await kenEvents.WaitForAsync(e => e.Type == "message", "ken gets judy's request")).Message!;

        // Ken answers by replying to her message: both sides show the quote.
        var answer = await ken.PostAsync<MessageDto>("/api/messages", new SendRequest(judy.Handle, "hello judy", question.Id));
        Assert.Equal(new QuoteDto(question.Id, judy.Handle, "hello ken", false), answer.Quote);
        var atJudy = (await judyEvents.WaitForAsync(e => e.Type == "message", "judy gets ken's reply")).Message!;
        Assert.Equal(new QuoteDto(question.Id, judy.Handle, "hello ken", false), atJudy.Quote);

        // Which of ken's devices has judy's message (one: he has no linked devices); only the sender's messages have this.
        var deliveryPath = $"/api/messages/{ApiUser.Path(ken.Handle)}/{question.Id}/delivery";
        await LoopbackNetwork.WaitUntilAsync(
            async () => (await judy.GetAsync<DeliveryDetailDto>(deliveryPath)).Devices is [{ State: "delivered" or "read" }], TimeSpan.FromSeconds(30), "judy's node knows ken's device has her message");
        Assert.Equal(question.Id, (await judy.GetAsync<DeliveryDetailDto>(deliveryPath)).Message.Id);
        Assert.Contains("no message of yours", await ken.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Get, $"/api/messages/{ApiUser.Path(judy.Handle)}/{question.Id}/delivery"));

        // Accepted by the reply: each sees the other online, without a restart.
        await kenEvents.WaitForAsync(e => e.Type == "presence" && e.Presence!.Contact == judy.Handle && e.Presence.Online, "ken sees judy online");
        await judyEvents.WaitForAsync(e => e.Type == "presence" && e.Presence!.Contact == ken.Handle && e.Presence.Online, "judy sees ken online");
        Assert.Contains(await ken.GetAsync<List<PresenceDto>>("/api/presence"), p => p.Contact == judy.Handle && p.Online);

        // Judy reacts to the reply; ken sees it.
        var reacted = await judy.PostAsync<MessageDto>($"/api/messages/{ApiUser.Path(ken.Handle)}/{answer.Id}/react", new ReactRequest("👍"));
        Assert.Equal([new ReactionDto(judy.Handle, "👍")], reacted.Reactions);
        var reaction = await kenEvents.WaitForAsync(e => e.Type == "update" && e.Message!.Id == answer.Id && e.Message.Reactions!.Count > 0, "ken sees judy's reaction");
        Assert.Equal([new ReactionDto(judy.Handle, "👍")], reaction.Message!.Reactions);

        // Ken edits his reply: judy's copy shows the new text, marked edited. Judy may not edit it.
        var edited = await ken.PostAsync<MessageDto>($"/api/messages/{ApiUser.Path(judy.Handle)}/{answer.Id}/edit", new EditRequest("hello again, judy"));
        Assert.NotNull(edited.EditedAt);
        var edit = await judyEvents.WaitForAsync(e => e.Type == "update" && e.Message!.Id == answer.Id && e.Message.EditedAt is not null, "judy sees the edit");
        Assert.Equal(("hello again, judy", false), (edit.Message!.Text, edit.Message.Deleted));
        Assert.Contains("your own", await judy.RefusedAsync(
            HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/messages/{ApiUser.Path(ken.Handle)}/{answer.Id}/edit", JsonContent.Create(new EditRequest("mine now"), options: ApiUser.Json)));
        Assert.Contains("hexadecimal", await judy.RefusedAsync(HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/messages/{ApiUser.Path(ken.Handle)}/not-an-id/delete"));
        Assert.Contains("one emoji", await judy.RefusedAsync(
            HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/messages/{ApiUser.Path(ken.Handle)}/{answer.Id}/react", JsonContent.Create(new ReactRequest("yes"), options: ApiUser.Json)));

        // Typing reaches the other side, live.
        Assert.True((await judy.PostAsync<TypingSentDto>($"/api/messages/{ApiUser.Path(ken.Handle)}/typing", new TypingRequest(true))).Sent);
        var typing = await kenEvents.WaitForAsync(e => e.Type == "typing", "ken sees judy typing");
        Assert.Equal(new TypingDto(judy.Handle, true), typing.Typing);

        // Ken deletes his reply for everyone: erased on both sides, the reactions with it.
        var deleted = await ken.PostAsync<MessageDto>($"/api/messages/{ApiUser.Path(judy.Handle)}/{answer.Id}/delete");
        Assert.Equal(("", true), (deleted.Text, deleted.Deleted));
        var deletion = await judyEvents.WaitForAsync(e => e.Type == "update" && e.Message!.Id == answer.Id && e.Message.Deleted, "judy sees the deletion");
        Assert.Equal(("", 0), (deletion.Message!.Text, deletion.Message.Reactions!.Count));
        var history = await judy.GetAsync<List<MessageDto>>($"/api/messages/{ApiUser.Path(ken.Handle)}");
        Assert.Equal([("hello ken", false), ("", true)], history.Select(m => (m.Text, m.Deleted)));

        // Ken stops sharing both: judy forgets when she saw him; he sees nobody's presence; his typing is not sent.
        Assert.Equal(new PrivacyDto(true, true), await ken.GetAsync<PrivacyDto>("/api/privacy"));
        Assert.Equal(new PrivacyDto(false, false), await ken.PostAsync<PrivacyDto>("/api/privacy", new PrivacyDto(false, false)));
        var withdrawn = await judyEvents.WaitForAsync(e => e.Type == "presence" && e.Presence!.Contact == ken.Handle && !e.Presence.Online, "judy hears ken stopped sharing");
        Assert.Null(withdrawn.Presence!.LastSeen);
        Assert.Empty(await ken.GetAsync<List<PresenceDto>>("/api/presence"));
        Assert.False((await ken.PostAsync<TypingSentDto>($"/api/messages/{ApiUser.Path(judy.Handle)}/typing", new TypingRequest(true))).Sent);
        await ken.PostAsync<PrivacyDto>("/api/privacy", new PrivacyDto(true, true));
    }

    [Fact]
    public async Task In_a_room_a_member_replies_reacts_edits_and_deletes_for_everyone()
    {
        var judy = network["judy"];
        var room = await judy.PostAsync<GroupDto>("/api/groups", new CreateGroupRequest("notes of judy"));
        var first = await judy.PostAsync<GroupMessageDto>($"/api/groups/{room.Id}/messages", new GroupSendRequest("first"));
        var reply = await judy.PostAsync<GroupMessageDto>($"/api/groups/{room.Id}/messages", new GroupSendRequest("second", first.Id));
        Assert.Equal(new QuoteDto(first.Id, judy.Handle, "first", false), reply.Quote);

        var reacted = await judy.PostAsync<GroupMessageDto>($"/api/groups/{room.Id}/messages/{first.Id}/react", new ReactRequest("❤️"));
        Assert.Equal([new ReactionDto(judy.Handle, "❤️")], reacted.Reactions);
        var edited = await judy.PostAsync<GroupMessageDto>($"/api/groups/{room.Id}/messages/{first.Id}/edit", new EditRequest("first, edited"));
        Assert.Equal("first, edited", edited.Text);
        Assert.NotNull(edited.EditedAt);
        var deleted = await judy.PostAsync<GroupMessageDto>($"/api/groups/{room.Id}/messages/{first.Id}/delete");
        Assert.True(deleted.Deleted);

        var history = await judy.GetAsync<GroupHistoryDto>($"/api/groups/{room.Id}/messages");
        Assert.Equal([("", true, 0), ("second", false, 0)], history.Messages.Select(m => (m.Text, m.Deleted, m.Reactions!.Count)));
        Assert.Equal(new QuoteDto(first.Id, judy.Handle, "", true), history.Messages[1].Quote);
        Assert.Contains("deleted", await judy.RefusedAsync(
            HttpStatusCode.BadRequest, HttpMethod.Post, $"/api/groups/{room.Id}/messages/{first.Id}/react", JsonContent.Create(new ReactRequest("👍"), options: ApiUser.Json)));
    }
}
