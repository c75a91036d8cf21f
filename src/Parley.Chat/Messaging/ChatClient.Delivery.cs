using Microsoft.Extensions.Logging;
using Parley.Chat.Crypto;
using Parley.Chat.Directory;
using Parley.Chat.Mailbox;
using Parley.Chat.Protos;
using Parley.Core.Identity;
using Parley.Net;

namespace Parley.Chat.Messaging;

public sealed partial class ChatClient
{
    private const int OutboxBatch = 2048;
    private const int ParallelRecipients = 8;
    private static readonly TimeSpan IdleOutboxCheck = TimeSpan.FromSeconds(30);

    private void WakeOutbox()
    {
        try
        {
            if (_outboxWake.CurrentCount == 0)
            {
                _outboxWake.Release();
            }
        }
        catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
        {
            // Already woken, or shutting down.
        }
    }

    private async Task OutboxLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await FlushOutboxAsync(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                _logger.LogWarning(e, "outbox pass failed");
            }
            var next = await _store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 1), cancellationToken);
            var wait = next.Count == 0 ? IdleOutboxCheck : next[0].NextAttemptAt - _time.GetUtcNow();
            wait = wait < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : wait > IdleOutboxCheck ? IdleOutboxCheck : wait;
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delay = Task.Delay(wait, _time, wake.Token);
            var woken = _outboxWake.WaitAsync(wake.Token);
            await Task.WhenAny(delay, woken);
            await wake.CancelAsync();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>One attempt at each due envelope: per recipient in order, recipients in parallel.</summary>
    private async Task<int> DeliverDueAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var due = await _store.ReadAsync(r => r.GetOutbox(now, OutboxBatch), cancellationToken);
        var finished = 0;
        await Parallel.ForEachAsync(
            due.GroupBy(item => item.Recipient),
            new ParallelOptions { MaxDegreeOfParallelism = ParallelRecipients, CancellationToken = cancellationToken },
            async (group, ct) =>
            {
                var done = await DeliverToAsync(group.Key, group.OrderBy(i => i.CreatedAt).ToList(), ct);
                Interlocked.Add(ref finished, done);
            });
        return finished;
    }

    private async Task<int> DeliverToAsync(PeerId recipient, List<OutboxItem> items, CancellationToken cancellationToken)
    {
        var contact = await _store.ReadAsync(r => r.GetContact(recipient), cancellationToken);
        var now = _time.GetUtcNow();
        var expired = contact is null ? items : items.Where(i => now - i.CreatedAt > _options.OutboxLifetime).ToList();
        if (expired.Count > 0)
        {
            await _store.TransactAsync(tx => expired.Select(i =>
            {
                tx.DeleteOutbox(i.EnvelopeId);
                return true;
            }).ToList(), cancellationToken);
            _logger.LogInformation("gave up on {Count} envelopes to {Contact}", expired.Count, contact?.Handle.ToString() ?? recipient.ToString());
        }
        if (contact is null)
        {
            return expired.Count;
        }
        items = items.Except(expired).ToList();
        var presence = await LookUpPresenceAsync(recipient, cancellationToken);
        var responses = presence is null ? new ChatResponse?[items.Count] : await SendDirectAsync(presence, items, cancellationToken);
        var delivered = items.Where((_, i) => responses[i]?.Status is ChatResponse.Types.Status.Accepted or ChatResponse.Types.Status.Duplicate).ToList();
        await MarkDeliveredAsync(contact, delivered, cancellationToken);
        for (var i = 0; i < items.Count; i++)
        {
            if (responses[i] is { Status: ChatResponse.Types.Status.Refused } refusal)
            {
                _logger.LogInformation("{Contact} refused an envelope: {Reason}", contact.Handle, refusal.Reason);
                await RescheduleAsync(items[i], items[i].Stage, cancellationToken);
            }
        }
        var undelivered = items.Where((_, i) => responses[i] is null).ToList();
        if (undelivered.Count > 0)
        {
            _presence.TryRemove(recipient, out _);
        }
        foreach (var item in undelivered)
        {
            if (item.Stage == OutboxStage.Stored)
            {
                await RescheduleAsync(item, OutboxStage.Stored, cancellationToken);
            }
            else
            {
                await DepositAsync(contact, item, Envelope.Parser.ParseFrom(item.Envelope), cancellationToken);
            }
        }
        return expired.Count + delivered.Count;
    }

    /// <summary>
    /// Offers every envelope to the recipient's online devices, pipelined on one stream per device (so a batch costs
    /// about one round trip, not one per envelope); an entry stays null when no device took it.
    /// </summary>
    private async Task<ChatResponse?[]> SendDirectAsync(Presence presence, List<OutboxItem> items, CancellationToken cancellationToken)
    {
        var responses = new ChatResponse?[items.Count];
        foreach (var device in presence.Addresses.Where(a => a.Addresses.Count > 0))
        {
            var pending = Enumerable.Range(0, items.Count).Where(i => responses[i] is null).ToList();
            if (pending.Count == 0)
            {
                break;
            }
            var answers = await Task.WhenAll(pending.Select(i => TrySendAsync(device, Envelope.Parser.ParseFrom(items[i].Envelope), cancellationToken)));
            for (var k = 0; k < pending.Count; k++)
            {
                responses[pending[k]] = answers[k];
            }
        }
        return responses;
    }

    private async Task<ChatResponse?> TrySendAsync(DeviceAddresses device, Envelope envelope, CancellationToken cancellationToken)
    {
        try
        {
            return await _direct.SendAsync(device.Device, device.Addresses, envelope, cancellationToken);
        }
        catch (Exception e) when (e is PeerConnectionException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            _logger.LogDebug("direct delivery to {Device} failed: {Reason}", device.Device, e.Message);
            return null;
        }
    }

    private async Task DepositAsync(ContactRecord contact, OutboxItem item, Envelope envelope, CancellationToken cancellationToken)
    {
        DepositResult result;
        try
        {
            var sealedEnvelope = SealedBox.Seal(_crypto, contact.IdentityDhKey, item.Envelope);
            DepositAuthorization authorization = contact.TheirMailboxToken is { } token ? new DepositAuthorization.Token(token) : new DepositAuthorization.Stamp();
            result = await _mailbox.DepositAsync(contact.AccountKey, item.EnvelopeId, sealedEnvelope, authorization, cancellationToken);
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            _logger.LogInformation("mailbox deposit for {Contact} failed: {Reason}", contact.Handle, e.Message);
            result = new DepositResult(0, 0, [e.Message]);
        }
        if (result.Refusals.Count > 0)
        {
            _logger.LogDebug("mailbox nodes of {Contact} that did not take an envelope: {Refusals}", contact.Handle, string.Join("; ", result.Refusals));
        }
        if (result.Stored == 0)
        {
            _logger.LogInformation("no mailbox node of {Contact} took the envelope ({Attempted} asked): {Refusals}", contact.Handle, result.Attempted, string.Join("; ", result.Refusals.Take(3)));
            await RescheduleAsync(item, OutboxStage.Sending, cancellationToken);
            return;
        }
        var (updated, room) = await _store.TransactAsync(tx =>
        {
            tx.PutOutbox(item with { Stage = OutboxStage.Stored, Attempts = 0, NextAttemptAt = _time.GetUtcNow() + _options.StoredRetryDelay });
            if (item.MessageId is not { } id)
            {
                return ((MessageRecord?)null, (GroupMessageRecord?)null);
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
            Raise(MessageStateChanged, new MessageEventArgs(updated, contact));
        }
        if (room is not null)
        {
            await RaiseGroupMessageChangedAsync([room], cancellationToken);
        }
    }

    private async Task MarkDeliveredAsync(ContactRecord contact, List<OutboxItem> items, CancellationToken cancellationToken)
    {
        if (items.Count == 0)
        {
            return;
        }
        var (updated, rooms) = await _store.TransactAsync(tx =>
        {
            var changed = new List<MessageRecord>();
            var roomMessages = new List<GroupMessageRecord>();
            foreach (var item in items)
            {
                tx.DeleteOutbox(item.EnvelopeId);
                if (item.MessageId is not { } id)
                {
                    continue;
                }
                if (id.Length == MessageIdLength)
                {
                    if (tx.AdvanceMessageState(id, DeliveryState.Delivered) is { } message)
                    {
                        changed.Add(message);
                    }
                }
                else if (tx.GetGroupMessage(id) is not null)
                {
                    tx.CountGroupCopy(id, delivered: true);
                    roomMessages.Add(tx.GetGroupMessage(id)!);
                }
            }
            return (changed, roomMessages);
        }, cancellationToken);
        foreach (var message in updated)
        {
            Raise(MessageStateChanged, new MessageEventArgs(message, contact));
        }
        await RaiseGroupMessageChangedAsync(rooms, cancellationToken);
    }

    private async Task RescheduleAsync(OutboxItem item, OutboxStage stage, CancellationToken cancellationToken)
    {
        var attempts = item.Attempts + 1;
        var delay = stage == OutboxStage.Stored
            ? _options.StoredRetryDelay
            : TimeSpan.FromTicks(Math.Min(_options.MaxRetryDelay.Ticks, _options.FirstRetryDelay.Ticks << Math.Min(attempts - 1, 20)));
        await _store.TransactAsync(tx =>
        {
            // The envelope may have been acknowledged meanwhile (a receipt came in): then it is gone and stays gone.
            if (tx.GetOutboxItem(item.EnvelopeId) is not null)
            {
                tx.PutOutbox(item with { Stage = stage, Attempts = attempts, NextAttemptAt = _time.GetUtcNow() + delay });
            }
            return true;
        }, cancellationToken);
    }

    private async Task<Presence?> LookUpPresenceAsync(PeerId account, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        if (_presence.TryGetValue(account, out var cached)
            && now - cached.LookedUpAt < (cached.Presence is null ? _options.AbsentPresenceCacheTime : _options.PresenceCacheTime))
        {
            return cached.Presence;
        }
        Presence? presence = null;
        try
        {
            presence = await _directory.GetPresenceAsync(account, cancellationToken);
        }
        catch (IOException e)
        {
            _logger.LogDebug("presence lookup for {Account} failed: {Reason}", account, e.Message);
        }
        _presence[account] = (presence, now);
        return presence;
    }
}
