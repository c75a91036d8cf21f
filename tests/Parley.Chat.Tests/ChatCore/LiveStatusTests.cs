using Parley.Chat.Messaging;

namespace Parley.Chat.Tests.ChatCore;

/// <summary>Typing indicators and presence between accepted contacts, on the fakes.</summary>
public sealed class LiveStatusTests : AliceAndBobTest
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Typing_goes_only_to_an_accepted_contact_only_directly_and_leaves_nothing_behind()
    {
        var typing = Events<TypingEventArgs>(h => Bob.Chat.TypingChanged += h);
        await Alice.Chat.SendAsync(Bob.HandleText, "hi", None);
        await Alice.FlushAsync();

        // Not accepted yet: nothing goes.
        Assert.False(await Alice.Chat.SendTypingAsync("bob", typing: true, None));
        await Bob.Chat.AcceptAsync("alice", None);
        await Bob.FlushAsync();

        Assert.True(await Alice.Chat.SendTypingAsync("bob", typing: true, None));
        Assert.True(await Alice.Chat.SendTypingAsync("bob", typing: false, None));
        Assert.Equal([true, false], typing.Select(e => e.Typing));
        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(None));

        // Away: the note is dropped, never queued nor left in a mailbox.
        await Bob.GoOfflineAsync();
        Assert.False(await Alice.Chat.SendTypingAsync("bob", typing: true, None));
        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(None));
        Assert.Equal(0, World.Mailboxes.Waiting(Bob.Chat.Account.Id));
    }

    [Fact]
    public async Task Who_does_not_share_typing_neither_sends_nor_sees_it()
    {
        await MakeContactsAsync();
        var typing = Events<TypingEventArgs>(h => Bob.Chat.TypingChanged += h);
        await Alice.Chat.SetPrivacyAsync(new ChatPrivacy(SharePresence: true, ShareTyping: false), None);
        Assert.False(await Alice.Chat.SendTypingAsync("bob", typing: true, None));

        await Alice.Chat.SetPrivacyAsync(new ChatPrivacy(SharePresence: true, ShareTyping: true), None);
        await Bob.Chat.SetPrivacyAsync(new ChatPrivacy(SharePresence: true, ShareTyping: false), None);
        Assert.True(await Alice.Chat.SendTypingAsync("bob", typing: true, None));

        Assert.Empty(typing);
        Assert.Equal(new ChatPrivacy(true, false), await Bob.Chat.GetPrivacyAsync(None));
    }

    [Fact]
    public async Task Contacts_see_each_other_online_as_soon_as_one_accepts_the_other()
    {
        Assert.Empty(await Alice.Chat.GetPresenceAsync(None));
        await MakeContactsAsync();
        await BothOnlineAsync();
        Assert.Equal(new ContactPresence(true, World.Time.GetUtcNow()), (await Bob.Chat.GetPresenceAsync(None))[Alice.Chat.Account.Id]);
    }

    [Fact]
    public async Task Contacts_see_each_other_online_then_last_seen_and_forget_it_when_sharing_stops()
    {
        await MakeContactsAsync();
        await BothOnlineAsync();
        var carol = await World.AddUserAsync("carol");
        await carol.Chat.SendAsync(Alice.HandleText, "a stranger asks", None);
        await carol.FlushAsync();
        var atAlice = Events<PresenceEventArgs>(h => Alice.Chat.PresenceChanged += h);
        var atBob = Events<PresenceEventArgs>(h => Bob.Chat.PresenceChanged += h);

        // Bob comes online and says so; alice answers with her own.
        await Bob.Core.Live.AnnounceAsync(None);
        await WaitForAsync(() => atBob.Count > 0);
        var started = World.Time.GetUtcNow();
        Assert.Equal(new ContactPresence(true, started), (await Alice.Chat.GetPresenceAsync(None))[Bob.Chat.Account.Id]);
        Assert.Equal(new ContactPresence(true, started), (await Bob.Chat.GetPresenceAsync(None))[Alice.Chat.Account.Id]);
        Assert.True(Assert.Single(atAlice).Presence.Online);
        // A stranger (carol asked alice; alice has not accepted) learns nothing, and is told nothing.
        Assert.Equal(0, await carol.Core.Live.HeartbeatAsync(None));
        Assert.Empty(await carol.Chat.GetPresenceAsync(None));
        Assert.DoesNotContain(carol.Chat.Account.Id, (await Alice.Chat.GetPresenceAsync(None)).Keys);

        // A heartbeat keeps bob online; without one he is last seen when the last came.
        World.Time.Advance(FakeChatWorld.Options.PresenceInterval);
        Assert.Equal(1, await Bob.Core.Live.HeartbeatAsync(None));
        var heartbeat = World.Time.GetUtcNow();
        World.Time.Advance(FakeChatWorld.Options.PresenceInterval * 3);
        Assert.Equal(new ContactPresence(false, heartbeat), (await Alice.Chat.GetPresenceAsync(None))[Bob.Chat.Account.Id]);

        // Bob stops sharing: alice forgets when she saw him, and bob sees nobody's either.
        await Bob.Chat.SetPrivacyAsync(new ChatPrivacy(SharePresence: false, ShareTyping: true), None);
        Assert.DoesNotContain(Bob.Chat.Account.Id, (await Alice.Chat.GetPresenceAsync(None)).Keys);
        Assert.Empty(await Bob.Chat.GetPresenceAsync(None));
        Assert.Equal(new ContactPresence(false, null), atAlice[^1].Presence);
    }

    [Fact]
    public async Task A_clean_stop_says_offline_and_the_last_seen_time_is_kept()
    {
        await MakeContactsAsync();
        await BothOnlineAsync();
        await Bob.Core.Live.AnnounceAsync(None);
        var atBob = Events<PresenceEventArgs>(h => Bob.Chat.PresenceChanged += h);
        await Alice.Core.Live.AnnounceAsync(None);
        await WaitForAsync(() => atBob.Count > 0);
        World.Time.Advance(TimeSpan.FromSeconds(5));

        await Alice.GoOfflineAsync();

        var left = new ContactPresence(false, World.Time.GetUtcNow());
        Assert.Equal(left, (await Bob.Chat.GetPresenceAsync(None))[Alice.Chat.Account.Id]);
        // Kept across bob's own restart.
        await Bob.GoOfflineAsync();
        await Bob.ComeOnlineAsync();
        Assert.Equal(left, (await Bob.Chat.GetPresenceAsync(None))[Alice.Chat.Account.Id]);
    }

    /// <summary>Accepting greets: each tells the other it is online, aside; waits until both know and nothing more is on its way.</summary>
    private async Task BothOnlineAsync()
    {
        await World.QuietAsync();
        using var deadline = new CancellationTokenSource(Patience);
        while (!((await Alice.Chat.GetPresenceAsync(None)).GetValueOrDefault(Bob.Chat.Account.Id)?.Online == true
                && (await Bob.Chat.GetPresenceAsync(None)).GetValueOrDefault(Alice.Chat.Account.Id)?.Online == true))
        {
            await Task.Delay(10, deadline.Token);
        }
    }

    private static List<T> Events<T>(Action<EventHandler<T>> subscribe)
    {
        var events = new List<T>();
        subscribe((_, e) =>
        {
            lock (events)
            {
                events.Add(e);
            }
        });
        return events;
    }

    /// <summary>An answer goes out aside from the receive that asked for it: waits until it has arrived.</summary>
    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Patience);
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }
}
