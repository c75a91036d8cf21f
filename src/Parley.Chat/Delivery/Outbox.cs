using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Delivery;

/// <summary>
/// The outbox and its delivery (docs/messaging.md): envelopes are put in it inside the transaction that encrypts them,
/// and each pass tries every due one, per recipient in order and recipients in parallel: directly to an online
/// device, else into the recipient's mailbox; a refusal or a failure is retried later with backoff, and an envelope
/// older than <see cref="ChatOptions.OutboxLifetime"/> is given up. What an envelope's delivery means for the message
/// it carries (queued, stored, delivered) is recorded here as well.
/// </summary>
internal sealed class Outbox(ChatContext context, DirectRoute direct, MailboxRoute mailbox) : IDisposable
{
    private const int Batch = 2048;
    private const int ParallelRecipients = 8;
    private static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(30);

    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _pass = new(1, 1);
    private long _puts;

    /// <summary>Room messages one of whose copies was stored or delivered; the room engine raises their events.</summary>
    public Func<IReadOnlyList<GroupMessageRecord>, CancellationToken, Task>? RoomCopiesCounted { get; set; }

    /// <summary>
    /// Puts an envelope in the outbox, due now, inside the caller's transaction. <paramref name="content"/>: the plaintext
    /// of a pairwise envelope, for session repair; <paramref name="createdAt"/>: an envelope that replaces an older one
    /// keeps its place in the recipient's order and its lifetime.
    /// </summary>
    /// <param name="position">Envelopes put in one transaction go out in this order (their creation times are this many ms apart).</param>
    /// <param name="device">The one device of the recipient's account it is for (docs/devices.md); null: the account route.</param>
    public void Put(IChatTransaction tx, PeerId recipient, Envelope envelope, byte[]? messageId, byte[]? content = null, DateTimeOffset? createdAt = null, int position = 0, PeerId? device = null)
    {
        var now = context.Now;
        Interlocked.Increment(ref _puts);
        tx.PutOutbox(new OutboxItem(envelope.EnvelopeId.ToByteArray(), recipient, messageId, envelope.ToByteArray(), OutboxStage.Sending, 0, now, createdAt ?? now + TimeSpan.FromMilliseconds(position), content, device));
    }

    /// <summary>
    /// Called inside the transaction in which a device of the contact (null: their account route) took envelopes
    /// directly, with the messages they carry: per-device detail and a note to our other devices (docs/devices.md).
    /// Each id comes with its row as marking it delivered returned it, null when its state did not move (so not read).
    /// </summary>
    public Action<IChatTransaction, ContactRecord, PeerId?, IReadOnlyList<(byte[] Id, MessageRecord? Row)>>? DirectlyDelivered { get; set; }

    /// <summary>Who the sync copies to our own devices are addressed to (docs/devices.md): ourselves; null until set.</summary>
    public Func<ContactRecord>? Self { get; set; }

    /// <summary>Puts a room message's ciphertext for one member (or one device of theirs) in the outbox; it needs no pairwise session.</summary>
    /// <param name="messageId">The message whose copies are counted as they are stored or delivered; null: not counted.</param>
    /// <param name="addressed">With <paramref name="device"/>: every device of the recipient that gets a copy (named in the envelope).</param>
    public void PutRoomCopy(IChatTransaction tx, PeerId recipient, byte[] ciphertext, byte[]? messageId, PeerId? device = null, IEnumerable<PeerId>? addressed = null)
    {
        var envelope = new Envelope { EnvelopeId = ByteString.CopyFrom(context.RandomBytes(ChatContext.EnvelopeIdLength)), GroupMessage = ByteString.CopyFrom(ciphertext) };
        envelope.RoomCopyDevices.AddRange((addressed ?? []).Select(d => ByteString.CopyFrom(d.Bytes)));
        Put(tx, recipient, envelope, messageId, device: device);
    }

    /// <summary>Something was queued: the background pass runs now instead of at its next due time.</summary>
    public void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
        {
            // Already woken, or shutting down.
        }
    }

    /// <summary>
    /// Envelopes put in the outbox so far, committed or not: read before a transaction and handed to
    /// <see cref="WakeIfPutSince"/> after it, it tells whether the transaction may have queued something.
    /// </summary>
    public long Puts => Interlocked.Read(ref _puts);

    /// <summary>
    /// Wakes the pass when an envelope was put since <see cref="Puts"/> read <paramref name="puts"/> (the caller's own
    /// transaction, or another's: a wake too many costs a pass, one too few an envelope waiting for the next).
    /// </summary>
    public void WakeIfPutSince(long puts)
    {
        if (Puts != puts)
        {
            Wake();
        }
    }

    /// <summary>Makes one attempt at every envelope due; returns how many left the outbox (delivered or given up).</summary>
    public async Task<int> FlushAsync(CancellationToken cancellationToken)
    {
        await _pass.WaitAsync(cancellationToken);
        try
        {
            return await DeliverDueAsync(cancellationToken);
        }
        finally
        {
            _pass.Release();
        }
    }

    public Task<int> CountAsync(bool unsentOnly, CancellationToken cancellationToken) =>
        context.Store.ReadAsync(r => r.CountOutbox(unsentOnly ? OutboxStage.Sending : null), cancellationToken);

    /// <summary>Runs passes until cancelled: when woken, or when the next envelope is due (at least every 30 s).</summary>
    /// <param name="pass">One pass; the facade's pass also runs the room syncs that receiving scheduled.</param>
    public async Task RunAsync(Func<CancellationToken, Task<int>> pass, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await pass(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                ChatLog.OutboxPassFailed(context.Logger, e);
            }
            var next = await context.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 1), cancellationToken);
            var wait = next.Count == 0 ? IdleCheck : next[0].NextAttemptAt - context.Now;
            wait = wait < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : wait > IdleCheck ? IdleCheck : wait;
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(wait, context.Time, wake.Token);
            var woken = _wake.WaitAsync(wake.Token);
            await Task.WhenAny(delay, woken);
            await wake.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    public void Dispose()
    {
        _wake.Dispose();
        _pass.Dispose();
    }

    /// <summary>One attempt at each due envelope: per recipient in order, recipients in parallel.</summary>
    private async Task<int> DeliverDueAsync(CancellationToken cancellationToken)
    {
        var due = await context.Store.ReadAsync(r => r.GetOutbox(context.Now, Batch), cancellationToken);
        var finished = 0;
        await Parallel.ForEachAsync(
            due.GroupBy(item => (item.Recipient, item.Device)),
            new ParallelOptions { MaxDegreeOfParallelism = ParallelRecipients, CancellationToken = cancellationToken },
            async (group, ct) =>
            {
                var done = await DeliverToAsync(group.Key.Recipient, group.Key.Device, group.OrderBy(i => i.CreatedAt).ToList(), ct);
                Interlocked.Add(ref finished, done);
            });
        return finished;
    }

    private async Task<int> DeliverToAsync(PeerId recipient, PeerId? device, List<OutboxItem> items, CancellationToken cancellationToken)
    {
        var contact = recipient == context.Account.Id && Self is { } self ? self() : await context.Store.ReadAsync(r => r.GetContact(recipient), cancellationToken);
        var now = context.Now;
        var expired = contact is null ? items : items.Where(i => now - i.CreatedAt > context.Options.OutboxLifetime).ToList();
        if (expired.Count > 0)
        {
            await context.Store.TransactAsync(tx => expired.Select(i =>
            {
                tx.DeleteOutbox(i.EnvelopeId);
                return true;
            }).ToList(), cancellationToken);
            ChatLog.GaveUpEnvelopes(context.Logger, expired.Count);
        }
        if (contact is null)
        {
            return expired.Count;
        }
        items = items.Except(expired).ToList();
        var responses = await direct.SendAsync(recipient, device, items, cancellationToken);
        var delivered = items.Where((_, i) => responses[i]?.Status is ChatResponse.Types.Status.Accepted or ChatResponse.Types.Status.Duplicate).ToList();
        await MarkDeliveredAsync(contact, device, delivered, cancellationToken);
        for (var i = 0; i < items.Count; i++)
        {
            if (responses[i] is { Status: ChatResponse.Types.Status.Refused } refusal)
            {
                ChatLog.EnvelopeRefusedByRecipient(context.Logger, refusal.Reason);
                await RescheduleAsync(items[i], items[i].Stage, cancellationToken);
            }
        }
        var undelivered = items.Where((_, i) => responses[i] is null).ToList();
        if (undelivered.Count > 0)
        {
            direct.Forget(device ?? recipient);
        }
        foreach (var item in undelivered)
        {
            if (item.Stage == OutboxStage.Stored)
            {
                await RescheduleAsync(item, OutboxStage.Stored, cancellationToken);
            }
            else
            {
                await DepositAsync(contact, item, cancellationToken);
            }
        }
        return expired.Count + delivered.Count;
    }

    private async Task DepositAsync(ContactRecord contact, OutboxItem item, CancellationToken cancellationToken)
    {
        var result = await mailbox.DepositAsync(contact, item, cancellationToken);
        if (result.Stored == 0)
        {
            await RescheduleAsync(item, OutboxStage.Sending, cancellationToken);
            return;
        }
        var (updated, room) = await context.Store.TransactAsync(tx =>
        {
            // Acknowledged meanwhile, or replaced by session repair: it stays gone.
            if (tx.GetOutboxItem(item.EnvelopeId) is null)
            {
                return ((MessageRecord?)null, (GroupMessageRecord?)null);
            }
            tx.PutOutbox(item with { Stage = OutboxStage.Stored, Attempts = 0, NextAttemptAt = context.Now + context.Options.StoredRetryDelay });
            if (item.MessageId is not { } id)
            {
                return (null, null);
            }
            if (tx.GetMessage(id) is { State: DeliveryState.Queued or DeliveryState.Stored } message)
            {
                tx.UpdateMessageState(id, DeliveryState.Stored, Math.Max(message.StoredCount, result.Stored));
                return (message with { State = DeliveryState.Stored, StoredCount = Math.Max(message.StoredCount, result.Stored) }, null);
            }
            if (tx.GetGroupMessage(id) is not null)
            {
                tx.CountGroupCopy(id, delivered: false);
                return (null, tx.GetGroupMessage(id));
            }
            return (null, null);
        }, cancellationToken);
        if (updated is not null)
        {
            context.Events.OnMessageStateChanged(updated, contact);
        }
        if (room is not null)
        {
            await RaiseRoomCopiesAsync([room], cancellationToken);
        }
    }

    private async Task MarkDeliveredAsync(ContactRecord contact, PeerId? device, List<OutboxItem> items, CancellationToken cancellationToken)
    {
        if (items.Count == 0)
        {
            return;
        }
        var (updated, rooms) = await context.Store.TransactAsync(tx =>
        {
            var changed = new List<MessageRecord>();
            var carried = new List<(byte[] Id, MessageRecord? Row)>();
            var roomMessages = new List<GroupMessageRecord>();
            foreach (var item in items)
            {
                tx.DeleteOutbox(item.EnvelopeId);
                if (item.MessageId is not { } id)
                {
                    continue;
                }
                if (id.Length == ChatContext.MessageIdLength)
                {
                    var message = tx.AdvanceMessageState(id, DeliveryState.Delivered);
                    if (message is not null)
                    {
                        changed.Add(message);
                    }
                    carried.Add((id, message));
                }
                else if (tx.GetGroupMessage(id) is not null)
                {
                    tx.CountGroupCopy(id, delivered: true);
                    roomMessages.Add(tx.GetGroupMessage(id)!);
                }
            }
            DirectlyDelivered?.Invoke(tx, contact, device, carried);
            return (changed, roomMessages);
        }, cancellationToken);
        foreach (var message in updated)
        {
            context.Events.OnMessageStateChanged(message, contact);
        }
        await RaiseRoomCopiesAsync(rooms, cancellationToken);
    }

    private async Task RaiseRoomCopiesAsync(List<GroupMessageRecord> messages, CancellationToken cancellationToken)
    {
        if (messages.Count > 0 && RoomCopiesCounted is { } counted)
        {
            await counted(messages, cancellationToken);
        }
    }

    private async Task RescheduleAsync(OutboxItem item, OutboxStage stage, CancellationToken cancellationToken)
    {
        var attempts = item.Attempts + 1;
        var options = context.Options;
        var delay = stage == OutboxStage.Stored
            ? options.StoredRetryDelay
            : TimeSpan.FromTicks(Math.Min(options.MaxRetryDelay.Ticks, options.FirstRetryDelay.Ticks << Math.Min(attempts - 1, 20)));
        await context.Store.TransactAsync(tx =>
        {
            // The envelope may have been acknowledged meanwhile (a receipt came in): then it is gone and stays gone.
            if (tx.GetOutboxItem(item.EnvelopeId) is not null)
            {
                tx.PutOutbox(item with { Stage = stage, Attempts = attempts, NextAttemptAt = context.Now + delay });
            }
            return true;
        }, cancellationToken);
    }
}
