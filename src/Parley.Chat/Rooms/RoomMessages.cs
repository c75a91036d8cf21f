using Google.Protobuf;
using Parley.Chat.Actions;
using Parley.Chat.Groups;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Rooms;

/// <summary>
/// Room messages on the receiving side: one that arrived in an envelope of its own is read, or kept until its sender
/// key or its sender's entry arrives; a gap in a sender's chain is asked of that sender once, and a member's request
/// for a gap of ours is answered from what we stored.
/// </summary>
internal sealed class RoomMessages(ChatContext context, RoomCache rooms, RoomMessenger messenger, RoomDevices devices)
{
    private const int MaxPendingCiphertexts = 500;
    private const int MaxFetchedCiphertexts = 256;
    private const int MaxGapsAnswered = 16;

    private readonly HashSet<(Id256 Group, PublicKey Sender, Id256 Epoch, uint Chain, uint First)> _requestedGaps = [];

    /// <summary>A message read carries a file manifest: stored in the same transaction by the files part (docs/files.md).</summary>
    public Action<IChatTransaction, GroupMessage, DateTimeOffset, List<Action>>? FileRead { get; set; }

    /// <summary>A room needs a sync (a message for our other devices waits until they have the room's log).</summary>
    public Action<Id256>? SyncNeeded { get; set; }

    /// <summary>A room message that arrived in an envelope of its own: read it now or keep it until its chain arrives.</summary>
    public async Task<ReceiveOutcome> ReceiveAsync(Envelope envelope, CancellationToken cancellationToken)
    {
        if (envelope.EnvelopeId.Length != ChatContext.EnvelopeIdLength)
        {
            return new ReceiveOutcome(ReceiveStatus.Refused, "envelope id is not 16 bytes");
        }
        GroupCiphertext parsed;
        try
        {
            parsed = GroupCiphertext.Parse(envelope.GroupMessage.Span);
        }
        catch (FormatException e)
        {
            return new ReceiveOutcome(ReceiveStatus.Refused, $"malformed room message: {e.Message}");
        }
        var now = context.Now;
        var events = new List<Action>();
        var held = false;
        ReceiveOutcome outcome;
        try
        {
            outcome = await rooms.TransactAsync(parsed.GroupId, tx =>
            {
                if (!tx.MarkEnvelopeSeen(envelope.EnvelopeId.ToByteArray(), now))
                {
                    return new ReceiveOutcome(ReceiveStatus.Duplicate);
                }
                if (rooms.Get(tx, parsed.GroupId) is not { } room)
                {
                    throw new EnvelopeRefusedException("a message for a room this user is not in");
                }
                if (tx.GetContact(parsed.Sender.ToPeerId()) is { State: ContactState.Blocked })
                {
                    return new ReceiveOutcome(ReceiveStatus.Dropped);
                }
                var ciphertext = envelope.GroupMessage.ToByteArray();
                Read(tx, room, ciphertext, now, events, keepIfUnreadable: true);
                // Our other devices send each other what they send; another member's message goes on to any of ours it left out.
                held = !parsed.Sender.Equals(context.Account.PublicKey) && !devices.PassOn(tx, room, ciphertext, envelope.RoomCopyDevices);
                RoomCache.Save(tx, room, []);
                return new ReceiveOutcome(ReceiveStatus.Accepted);
            }, cancellationToken);
        }
        catch (EnvelopeRefusedException e)
        {
            return new ReceiveOutcome(ReceiveStatus.Refused, e.Message);
        }
        foreach (var raise in events)
        {
            raise();
        }
        if (held)
        {
            SyncNeeded?.Invoke(parsed.GroupId);
        }
        return outcome;
    }

    /// <summary>Decrypts and stores one room message; asks its sender for messages it shows are missing.</summary>
    /// <returns>False when it cannot be read yet (its chain or its sender's entry has not arrived).</returns>
    /// <exception cref="EnvelopeRefusedException">It can never be read: forged, from a removed member, for another room…</exception>
    public bool Read(IChatTransaction tx, Room room, byte[] ciphertext, DateTimeOffset now, List<Action> events, bool keepIfUnreadable)
    {
        if (!room.HasLog)
        {
            if (keepIfUnreadable)
            {
                tx.AddGroupPending(room.Id.Span.ToArray(), ciphertext, now, MaxPendingCiphertexts);
            }
            return false;
        }
        GroupMessage message;
        try
        {
            message = room.Session.Decrypt(ciphertext, room.Log.State);
        }
        catch (GroupMessageException e) when (e.Reason is GroupMessageFailure.UnknownChain or GroupMessageFailure.NotAMember)
        {
            // Its chain or its sender's Join may still be on the way: read it when they come.
            if (keepIfUnreadable)
            {
                tx.AddGroupPending(room.Id.Span.ToArray(), ciphertext, now, MaxPendingCiphertexts);
            }
            return false;
        }
        catch (GroupMessageException e) when (e.Reason == GroupMessageFailure.Replayed)
        {
            return true;
        }
        catch (GroupMessageException e)
        {
            throw new EnvelopeRefusedException($"room message refused: {e.Message}");
        }
        if (!room.Timeline.Add(message))
        {
            return true;
        }
        // Sent from another device of ours: shown as ours.
        var ours = message.Sender.Equals(context.Account.PublicKey);
        var record = Record(message, ciphertext, outgoing: ours, 0, unread: !ours, fromHistory: false, now);
        if (tx.InsertGroupMessage(record))
        {
            if (MessageLedger.Stored(tx, room, record, rooms.Info(room), context.Events) is { } show)
            {
                events.Add(show);
            }
            if (!message.File.IsEmpty)
            {
                FileRead?.Invoke(tx, message, now, events);
            }
        }
        RequestMissing(tx, room, message.Sender);
        return true;
    }

    /// <summary>Reads the room's messages that were waiting for a chain or an entry that has now arrived.</summary>
    public void ReadPending(IChatTransaction tx, Room room, List<Action> events)
    {
        foreach (var (pendingId, ciphertext) in tx.GetGroupPending(room.Id.Span.ToArray()))
        {
            bool done;
            try
            {
                done = Read(tx, room, ciphertext, context.Now, events, keepIfUnreadable: false);
            }
            catch (EnvelopeRefusedException e)
            {
                ChatLog.PendingRoomMessageDropped(context.Logger, e.Message);
                done = true;
            }
            if (done)
            {
                tx.DeleteGroupPending(pendingId);
            }
        }
    }

    /// <summary>Reads messages a member sent in answer to our fetch, or another device of ours passed on.</summary>
    public void ReadFetched(IChatTransaction tx, Room room, GroupMessages messages, DateTimeOffset now, List<Action> events, bool keepIfUnreadable)
    {
        foreach (var ciphertext in messages.Ciphertexts.Take(MaxFetchedCiphertexts))
        {
            try
            {
                Read(tx, room, ciphertext.ToByteArray(), now, events, keepIfUnreadable);
            }
            catch (EnvelopeRefusedException e)
            {
                ChatLog.FetchedRoomMessageRefused(context.Logger, e.Message);
            }
        }
        RoomCache.Save(tx, room, []);
    }

    /// <summary>Answers a member's fetch with the ciphertexts of the gaps it names that we hold.</summary>
    public void AnswerFetch(IChatTransaction tx, Room room, ContactRecord asker, GroupFetch fetch)
    {
        var answer = new GroupMessages();
        foreach (var gap in fetch.Gaps.Take(MaxGapsAnswered))
        {
            try
            {
                var sender = PublicKey.FromProtobuf(gap.Sender.Span);
                answer.Ciphertexts.AddRange(tx.GetGroupMessagesOfChain(room.Id.Span.ToArray(), sender, gap.Epoch.ToByteArray(), gap.ChainId, gap.FirstIteration, gap.LastIteration)
                    .Where(m => m.Ciphertext is not null)
                    .Select(m => ByteString.CopyFrom(m.Ciphertext)));
            }
            catch (FormatException)
            {
                // A malformed gap asks for nothing.
            }
        }
        if (answer.Ciphertexts.Count > 0)
        {
            messenger.SendControl(tx, room.Id, asker.AccountKey, new GroupControl { Messages = answer }, null);
        }
    }

    /// <summary>A room message as stored: a text (with the message it replies to), or an action (with its target), which is never unread.</summary>
    public static GroupMessageRecord Record(GroupMessage message, byte[]? ciphertext, bool outgoing, int recipients, bool unread, bool fromHistory, DateTimeOffset now)
    {
        var (kind, target, text) = message switch
        {
            { Edit: { } edit } => (MessageKind.Edit, edit.Target.ToByteArray(), edit.Text),
            { Deletion: { } deletion } => (MessageKind.Deletion, deletion.Target.ToByteArray(), ""),
            { Reaction: { } reaction } => (MessageKind.Reaction, reaction.Target.ToByteArray(), reaction.Emoji),
            _ => (MessageKind.Text, message.ReplyTo?.Span.ToArray(), message.Text),
        };
        return new GroupMessageRecord(
            message.Id.Span.ToArray(),
            message.GroupId.Span.ToArray(),
            message.Sender,
            message.Epoch.Span.ToArray(),
            message.ChainId,
            message.Iteration,
            message.Lamport,
            message.ToBody().ToByteArray(),
            ciphertext,
            text,
            DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(message.TimestampMs, 0, 253_402_300_799_999)),
            now,
            outgoing,
            recipients,
            0,
            0,
            unread && kind == MessageKind.Text,
            fromHistory,
            kind,
            target);
    }

    /// <summary>Asks a sender for the messages of its chain that this member misses (once per gap).</summary>
    private void RequestMissing(IChatTransaction tx, Room room, PublicKey sender)
    {
        if (sender.Equals(context.Account.PublicKey))
        {
            return;
        }
        var fetch = new GroupFetch();
        foreach (var gap in room.Timeline.GapsOf(sender))
        {
            if (_requestedGaps.Add((room.Id, gap.Sender, gap.Epoch, gap.ChainId, gap.FirstIteration)))
            {
                fetch.Gaps.Add(new GroupGap
                {
                    Sender = ByteString.CopyFrom(gap.Sender.ToProtobuf()),
                    Epoch = ByteString.CopyFrom(gap.Epoch.Span),
                    ChainId = gap.ChainId,
                    FirstIteration = gap.FirstIteration,
                    LastIteration = gap.LastIteration,
                });
            }
        }
        if (fetch.Gaps.Count > 0)
        {
            messenger.SendControl(tx, room.Id, sender, new GroupControl { Fetch = fetch }, null);
        }
    }
}
