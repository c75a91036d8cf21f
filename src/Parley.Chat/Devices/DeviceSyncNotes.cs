using Google.Protobuf;
using Parley.Chat.Actions;
using Parley.Chat.Inbound;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Devices;

/// <summary>
/// What our devices tell each other of a 1:1 conversation besides the sync copies (docs/devices.md): our messages that
/// a contact's device took directly from one of them (the contact sends no receipt for those, so the other devices would
/// show them "sending…"), and the contact's messages read on one of them. Also keeps the per-device delivery detail of
/// our messages (which of the contact's devices has each, which read it) that these notes, direct answers and the
/// contact's receipts give.
/// </summary>
internal sealed class DeviceSyncNotes(ChatContext context, PairwiseSessions sessions, DeviceFanout fanout)
{
    private const int MaxIds = 1024;

    /// <summary>
    /// Inside the transaction in which a direct answer from <paramref name="device"/> (null: the contact's account
    /// route) made our messages delivered: records it per device and tells our other devices. A message's row, when
    /// given, saves reading it again.
    /// </summary>
    public void Delivered(IChatTransaction tx, ContactRecord contact, PeerId? device, IReadOnlyList<(byte[] Id, MessageRecord? Row)> messages)
    {
        if (contact.Account == context.Account.Id)
        {
            return;
        }
        var conversation = ConversationIds.Direct(context.Account.Id, contact.Account);
        var ours = messages.Where(m => IsOurs(m.Row ?? tx.GetMessage(m.Id), conversation)).Select(m => m.Id).ToList();
        foreach (var id in ours)
        {
            tx.PutDeviceDelivery(id, new DeviceDelivery(device ?? contact.Account, DeliveryState.Delivered, context.Now));
        }
        if (ours.Count > 0)
        {
            var sync = new DeviceSync { PeerDevice = device is null ? ByteString.Empty : ByteString.CopyFrom(device.Bytes) };
            sync.Delivered.AddRange(ours.Select(ByteString.CopyFrom));
            Tell(tx, contact, sync);
        }
    }

    /// <summary>Inside the transaction that marked them read: tells our other devices which of the contact's messages the user read here; false when there are none.</summary>
    public bool Read(IChatTransaction tx, ContactRecord contact, IReadOnlyList<byte[]> messageIds)
    {
        var sync = new DeviceSync();
        sync.Read.AddRange(messageIds.Select(ByteString.CopyFrom));
        return messageIds.Count > 0 && Tell(tx, contact, sync);
    }

    /// <summary>A note from another device of ours, inside the receive transaction.</summary>
    /// <exception cref="EnvelopeRefusedException">A malformed note.</exception>
    public ReceiveOutcome Apply(IChatTransaction tx, DeviceSync sync, List<Action> events)
    {
        PeerId peer;
        PeerId? device;
        try
        {
            peer = PublicKey.FromProtobuf(sync.PeerAccount.Span).ToPeerId();
            device = sync.PeerDevice.IsEmpty ? null : PeerId.FromBytes(sync.PeerDevice.Span);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new EnvelopeRefusedException($"a device sync note names a malformed key: {e.Message}");
        }
        if (sync.Delivered.Count > MaxIds || sync.Read.Count > MaxIds)
        {
            throw new EnvelopeRefusedException("a device sync note names too many messages");
        }
        // A contact this device does not know (their sync copy lost) has nothing here to update.
        if (tx.GetContact(peer) is not { } contact)
        {
            return new ReceiveOutcome(ReceiveStatus.Accepted);
        }
        var conversation = ConversationIds.Direct(context.Account.Id, peer);
        foreach (var id in sync.Delivered.Select(i => i.ToByteArray()).Where(id => IsOurs(tx, id, conversation)))
        {
            tx.PutDeviceDelivery(id, new DeviceDelivery(device ?? peer, DeliveryState.Delivered, context.Now));
            if (tx.AdvanceMessageState(id, DeliveryState.Delivered) is { } delivered)
            {
                events.Add(() => context.Events.OnMessageStateChanged(delivered, contact));
            }
        }
        foreach (var id in sync.Read.Select(i => i.ToByteArray()))
        {
            if (tx.GetMessage(id) is { Direction: MessageDirection.Incoming, Unread: true } message && message.ConversationId.AsSpan().SequenceEqual(conversation))
            {
                tx.MarkRead(id);
                var shown = MessageLedger.Decorate(tx, [message with { Unread = false }])[0];
                events.Add(() => context.Events.OnMessageUpdated(shown, contact));
            }
        }
        return new ReceiveOutcome(ReceiveStatus.Accepted);
    }

    /// <summary>
    /// Our message to <paramref name="contact"/> and how far each of their devices has it: every device of their list as
    /// we know it, then any other that answered (their account route, a device removed since).
    /// </summary>
    /// <exception cref="ChatException">No message of ours with that id in the conversation.</exception>
    public Task<DeliveryDetail> DetailAsync(ContactRecord contact, byte[] messageId, CancellationToken cancellationToken) =>
        context.Store.ReadAsync(r =>
        {
            if (!IsOurs(r, messageId, ConversationIds.Direct(context.Account.Id, contact.Account)))
            {
                throw new ChatException($"there is no message of yours with that id in the conversation with {contact.Handle}");
            }
            var message = MessageLedger.Decorate(r, [r.GetMessage(messageId)!])[0];
            var deliveries = r.GetDeviceDeliveries(messageId);
            var listed = r.GetSetting(DeviceFanout.ContactListSetting(contact.Account)) is { } bytes ? AccountDevices.ParseList(bytes).Devices : [];
            var devices = listed.Select(d => deliveries.FirstOrDefault(x => x.Device == d.DeviceId) is { } got
                    ? new DeviceDeliveryStatus(d.DeviceId, d.Name, got.State, got.At)
                    : new DeviceDeliveryStatus(d.DeviceId, d.Name, null, null))
                .Concat(deliveries.Where(x => !listed.Exists(d => d.DeviceId == x.Device)).Select(x => new DeviceDeliveryStatus(x.Device, null, x.State, x.At)))
                .ToList();
            if (devices.Count == 0)
            {
                devices.Add(new DeviceDeliveryStatus(contact.Account, null, null, null));
            }
            return new DeliveryDetail(message, devices);
        }, cancellationToken);

    private static bool IsOurs(IChatReader reader, byte[] id, byte[] conversation) =>
        id.Length == ChatContext.MessageIdLength && IsOurs(reader.GetMessage(id), conversation);

    private static bool IsOurs(MessageRecord? stored, byte[] conversation) =>
        stored is { Direction: MessageDirection.Outgoing, Kind: MessageKind.Text } message && message.ConversationId.AsSpan().SequenceEqual(conversation);

    /// <summary>Queues the note for each of our other devices; false when the account has none.</summary>
    private bool Tell(IChatTransaction tx, ContactRecord contact, DeviceSync sync)
    {
        if (fanout.OwnOtherDevices(tx).Count == 0)
        {
            return false;
        }
        sync.PeerAccount = ByteString.CopyFrom(contact.AccountKey.ToProtobuf());
        sessions.Queue(tx, fanout.Self(), new Content { DeviceSync = sync }, null, null);
        return true;
    }
}
