using System.Buffers.Binary;
using System.Collections.Concurrent;
using Parley.Chat.Delivery;
using Parley.Chat.Devices;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Actions;

/// <summary>
/// Typing indicators and presence (online, last seen) between accepted contacts only (docs/messaging.md, "Typing and
/// presence"). A note is encrypted on the pairwise session like any content, but sent only directly and only when the
/// contact seems online: it is never put in the outbox, never sent through a mailbox, and a typing note is never
/// stored. Each user decides whether to share either (<see cref="ChatPrivacy"/>); one who does not share does not see
/// the others' either. Presence: "online" on start (asking for an answer) and every <see cref="ChatOptions.PresenceInterval"/>
/// to the contacts seen online, "offline" on a clean stop; the last time a contact was seen is kept.
/// </summary>
internal sealed class LiveStatus(ChatContext context, PairwiseSessions sessions, DirectRoute direct) : IAsyncDisposable
{
    internal const string SharePresenceSetting = "privacy/presence";
    internal const string ShareTypingSetting = "privacy/typing";
    private const int ParallelNotes = 8;

    private readonly ConcurrentDictionary<PeerId, (bool Online, DateTimeOffset At)> _seen = new();
    private readonly ConcurrentDictionary<Task, byte> _answers = new();
    private readonly ConcurrentDictionary<PeerId, byte> _greeted = new();
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>
    /// Ends when the notes going out aside now have gone (or failed). A contact's answer to one of them is already
    /// going out aside at theirs by then: it is set off inside the receive the note's send waits for.
    /// </summary>
    public Task WhenToldAsync() => Task.WhenAll(_answers.Keys);

    /// <summary>A contact is shown online while its last note said so and is younger than this (a little over two heartbeats).</summary>
    private TimeSpan OnlineWindow => context.Options.PresenceInterval * 2.5;

    public Task<ChatPrivacy> GetPrivacyAsync(CancellationToken cancellationToken) => context.Store.ReadAsync(ReadPrivacy, cancellationToken);

    /// <summary>Stores what the user shares. Stopping to share presence tells the contacts that saw us online to forget when they did.</summary>
    public async Task<ChatPrivacy> SetPrivacyAsync(ChatPrivacy privacy, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(privacy);
        var before = await context.Store.TransactAsync(tx =>
        {
            var current = ReadPrivacy(tx);
            tx.PutSetting(SharePresenceSetting, [privacy.SharePresence ? (byte)1 : (byte)0]);
            tx.PutSetting(ShareTypingSetting, [privacy.ShareTyping ? (byte)1 : (byte)0]);
            return current;
        }, cancellationToken);
        if (before.SharePresence && !privacy.SharePresence)
        {
            await NotifyAsync(new PresenceNote { Withdrawn = true }, onlyOnline: false, cancellationToken);
            _seen.Clear();
        }
        else if (!before.SharePresence && privacy.SharePresence)
        {
            await AnnounceAsync(cancellationToken);
        }
        return privacy;
    }

    /// <summary>Tells a contact we started or stopped typing to them; false when it was not sent (not shared, not an accepted contact, or they are away).</summary>
    public async Task<bool> SendTypingAsync(ContactRecord contact, bool typing, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(contact);
        return (await GetPrivacyAsync(cancellationToken)).ShareTyping && await SendAsync(contact, new Content { Typing = new TypingNote { Typing = typing } }, cancellationToken);
    }

    /// <summary>"Online", asking each accepted contact that is online for its own presence: on start, or when sharing is turned on.</summary>
    public async Task AnnounceAsync(CancellationToken cancellationToken)
    {
        if ((await GetPrivacyAsync(cancellationToken)).SharePresence)
        {
            await NotifyAsync(new PresenceNote { Online = true, Reply = true }, onlyOnline: false, cancellationToken);
        }
    }

    /// <summary>"Still online", to the contacts seen online: every <see cref="ChatOptions.PresenceInterval"/>.</summary>
    public async Task<int> HeartbeatAsync(CancellationToken cancellationToken) =>
        (await GetPrivacyAsync(cancellationToken)).SharePresence ? await NotifyAsync(new PresenceNote { Online = true }, onlyOnline: true, cancellationToken) : 0;

    /// <summary>"Offline", to the contacts seen online: on a clean stop.</summary>
    public async Task SignOffAsync(CancellationToken cancellationToken)
    {
        await StopTellingAsync();
        if ((await GetPrivacyAsync(cancellationToken)).SharePresence)
        {
            await NotifyAsync(new PresenceNote { Online = false }, onlyOnline: true, cancellationToken);
        }
    }

    /// <summary>What each accepted contact shares of its presence, as far as we know it; empty when we do not share ours.</summary>
    public Task<IReadOnlyDictionary<PeerId, ContactPresence>> GetPresenceAsync(CancellationToken cancellationToken) =>
        context.Store.ReadAsync<IReadOnlyDictionary<PeerId, ContactPresence>>(r =>
        {
            var presence = new Dictionary<PeerId, ContactPresence>();
            if (!ReadPrivacy(r).SharePresence)
            {
                return presence;
            }
            foreach (var contact in r.GetContacts().Where(c => c.State == ContactState.Accepted))
            {
                if (PresenceOf(r, contact.Account) is { } known)
                {
                    presence[contact.Account] = known;
                }
            }
            return presence;
        }, cancellationToken);

    /// <summary>A typing or presence note from a contact, inside the receive transaction: shown if from an accepted contact and we share the same; never stored but the time last seen.</summary>
    public ReceiveOutcome Apply(IChatTransaction tx, Content content, ContactRecord? contact, DateTimeOffset now, List<Action> events)
    {
        if (contact is not { State: ContactState.Accepted } accepted)
        {
            // A stranger learns nothing, and tells nothing: the note is dropped.
            return new ReceiveOutcome(ReceiveStatus.Accepted);
        }
        var privacy = ReadPrivacy(tx);
        if (content.BodyCase == Content.BodyOneofCase.Typing)
        {
            if (privacy.ShareTyping)
            {
                var typing = content.Typing.Typing;
                events.Add(() => context.Events.OnTypingChanged(accepted, typing));
            }
            return new ReceiveOutcome(ReceiveStatus.Accepted);
        }
        if (!privacy.SharePresence)
        {
            return new ReceiveOutcome(ReceiveStatus.Accepted);
        }
        var note = content.Presence;
        var setting = LastSeenSetting(accepted.Account);
        ContactPresence? presence;
        if (note.Withdrawn)
        {
            _seen.TryRemove(accepted.Account, out _);
            tx.PutSetting(setting, []);
            presence = new ContactPresence(false, null);
        }
        else
        {
            _seen[accepted.Account] = (note.Online, now);
            var stamp = new byte[8];
            BinaryPrimitives.WriteInt64BigEndian(stamp, now.ToUnixTimeMilliseconds());
            tx.PutSetting(setting, stamp);
            presence = new ContactPresence(note.Online, now);
            if (note.Reply && note.Online)
            {
                events.Add(() => Tell(accepted, new PresenceNote { Online = true }));
            }
        }
        events.Add(() => context.Events.OnPresenceChanged(accepted, presence));
        return new ReceiveOutcome(ReceiveStatus.Accepted);
    }

    public async ValueTask DisposeAsync()
    {
        await StopTellingAsync();
        _stopping.Dispose();
    }

    /// <summary>No note goes aside any more (none may overtake the last one, "offline").</summary>
    private async Task StopTellingAsync()
    {
        await _stopping.CancelAsync();
        foreach (var told in _answers.Keys)
        {
            await told;
        }
    }

    private static string LastSeenSetting(PeerId contact) => $"last-seen/{contact}";

    private static ChatPrivacy ReadPrivacy(IChatReader reader) =>
        new(reader.GetSetting(SharePresenceSetting) is not [0], reader.GetSetting(ShareTypingSetting) is not [0]);

    private ContactPresence? PresenceOf(IChatReader reader, PeerId contact)
    {
        if (_seen.TryGetValue(contact, out var seen))
        {
            return new ContactPresence(seen.Online && context.Now - seen.At < OnlineWindow, seen.At);
        }
        return reader.GetSetting(LastSeenSetting(contact)) is { Length: 8 } stamp
            ? new ContactPresence(false, DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(stamp)))
            : null;
    }

    /// <summary>
    /// A contact just became accepted (we accepted, or they did): we say we are online and ask for theirs, as at
    /// start, so neither waits for a restart to see the other. Once per contact while running.
    /// </summary>
    public void OnContactChanged(ContactRecord contact)
    {
        if (contact.State == ContactState.Accepted && _greeted.TryAdd(contact.Account, 0))
        {
            Tell(contact, new PresenceNote { Online = true, Reply = true });
        }
    }

    /// <summary>A presence note sent aside (a contact that came online asked for ours, or was just accepted), after the receive's commit.</summary>
    private void Tell(ContactRecord contact, PresenceNote note)
    {
        // A one-shot command (no presence published) is not "online": it says nothing.
        if (_stopping.IsCancellationRequested || !context.Options.PublishPresence)
        {
            return;
        }
        var answer = TellAsync(contact, note, _stopping.Token);
        _answers[answer] = 0;
        answer.ContinueWith(done => _answers.TryRemove(done, out _), TaskScheduler.Default);
    }

    private async Task TellAsync(ContactRecord contact, PresenceNote note, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Yield();
            if ((await GetPrivacyAsync(cancellationToken)).SharePresence)
            {
                await SendAsync(contact, new Content { Presence = note }, cancellationToken);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException or ChatException)
        {
            ChatLog.LiveNoteFailed(context.Logger, e.GetType().Name);
        }
    }

    /// <summary>Sends a presence note to every accepted contact (or those seen online), in parallel; returns how many took it.</summary>
    private async Task<int> NotifyAsync(PresenceNote note, bool onlyOnline, CancellationToken cancellationToken)
    {
        var contacts = await context.Store.ReadAsync(r => r.GetContacts().Where(c => c.State == ContactState.Accepted).ToList(), cancellationToken);
        if (onlyOnline)
        {
            var now = context.Now;
            contacts = contacts.Where(c => _seen.TryGetValue(c.Account, out var seen) && seen.Online && now - seen.At < OnlineWindow).ToList();
        }
        var sent = 0;
        await Parallel.ForEachAsync(contacts, new ParallelOptions { MaxDegreeOfParallelism = ParallelNotes, CancellationToken = cancellationToken }, async (contact, ct) =>
        {
            if (await SendAsync(contact, new Content { Presence = note.Clone() }, ct))
            {
                Interlocked.Increment(ref sent);
            }
        });
        return sent;
    }

    /// <summary>
    /// Encrypts a note on an existing session (a note never starts one) and offers it directly, to each device of a
    /// linked contact on its own session (docs/devices.md); false when nobody took it.
    /// </summary>
    private async Task<bool> SendAsync(ContactRecord contact, Content note, CancellationToken cancellationToken)
    {
        var devices = await context.Store.ReadAsync(r => sessions.DevicesOf(r, contact.Account), cancellationToken);
        if (devices is null)
        {
            return await SendToAsync(contact, null, note, cancellationToken);
        }
        var taken = await Task.WhenAll(devices.Select(device => SendToAsync(contact, device, note, cancellationToken)));
        return taken.Any(t => t);
    }

    private Task<bool> SendToAsync(ContactRecord contact, DeviceTarget? device, Content note, CancellationToken cancellationToken) =>
        direct.SendNowAsync(contact.Account, device?.Device, () => context.Store.TransactAsync(
            tx => tx.GetContact(contact.Account) is { State: ContactState.Accepted } current && sessions.CanEncrypt(tx, current, device) ? sessions.Encrypt(tx, current, device, note) : null,
            cancellationToken), cancellationToken);
}
