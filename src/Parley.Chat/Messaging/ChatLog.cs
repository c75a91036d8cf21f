using Microsoft.Extensions.Logging;
using Parley.Core.Identity;

namespace Parley.Chat.Messaging;

/// <summary>
/// The chat core's log messages, source-generated (no boxing or formatting when the level is off). Above Debug they
/// carry no handle, name, room name, message text or key: counts, envelope ids, device ids and reasons only.
/// </summary>
internal static partial class ChatLog
{
    [LoggerMessage(Level = LogLevel.Error, Message = "a chat event handler failed")]
    public static partial void EventHandlerFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "background chat task failed; it runs again in {Interval}")]
    public static partial void BackgroundTaskFailed(ILogger logger, Exception exception, TimeSpan interval);

    [LoggerMessage(Level = LogLevel.Information, Message = "closing chat stream from {Peer}: {Reason}")]
    public static partial void ClosingChatStream(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "chat stream to {Peer} ended: {Reason}")]
    public static partial void ChatStreamEnded(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "refused envelope {Envelope}: {Reason}")]
    public static partial void EnvelopeRefused(ILogger logger, string envelope, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "no one-time prekey was available: {Reason}")]
    public static partial void NoOneTimePrekey(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "no session with {Contact}; control message not sent")]
    public static partial void NoSessionForControl(ILogger logger, PeerId contact);

    [LoggerMessage(Level = LogLevel.Warning, Message = "outbox pass failed")]
    public static partial void OutboxPassFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Debug, Message = "direct delivery to {Device} failed: {Reason}")]
    public static partial void DirectDeliveryFailed(ILogger logger, PeerId device, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "presence lookup for {Account} failed: {Reason}")]
    public static partial void PresenceLookupFailed(ILogger logger, PeerId account, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "device list lookup for {Account} failed: {Reason}")]
    public static partial void DeviceListLookupFailed(ILogger logger, PeerId account, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "no session with device {Device} of {Contact} yet; it gets nothing of this")]
    public static partial void NoSessionWithDevice(ILogger logger, PeerId contact, PeerId device);

    [LoggerMessage(Level = LogLevel.Debug, Message = "could not start a session with device {Device}: {Reason}")]
    public static partial void DeviceSessionFailed(ILogger logger, PeerId device, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "gave up on {Count} envelopes past their lifetime or to someone no longer a contact")]
    public static partial void GaveUpEnvelopes(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "envelope {Envelope} could not be decrypted: asked its sender for a new session")]
    public static partial void SessionResetAsked(ILogger logger, string envelope);

    [LoggerMessage(Level = LogLevel.Information, Message = "a session reset for envelope {Envelope} names nothing still queued: ignored")]
    public static partial void SessionResetStale(ILogger logger, string envelope);

    [LoggerMessage(Level = LogLevel.Information, Message = "a session reset for envelope {Envelope} came too soon after the last one: ignored")]
    public static partial void SessionResetLimited(ILogger logger, string envelope);

    [LoggerMessage(Level = LogLevel.Information, Message = "session reset for envelope {Envelope}: new session, {Resent} messages resent, {Dropped} old envelopes dropped")]
    public static partial void SessionRestarted(ILogger logger, string envelope, int resent, int dropped);

    [LoggerMessage(Level = LogLevel.Information, Message = "the recipient refused an envelope: {Reason}")]
    public static partial void EnvelopeRefusedByRecipient(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "mailbox deposit failed: {Reason}")]
    public static partial void DepositFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "no mailbox node took the envelope ({Attempted} asked): {Refusals}")]
    public static partial void NoMailboxTookEnvelope(ILogger logger, int attempted, string refusals);

    [LoggerMessage(Level = LogLevel.Debug, Message = "mailbox nodes of {Contact} that did not take an envelope: {Refusals}")]
    public static partial void MailboxRefusals(ILogger logger, PeerId contact, string refusals);

    [LoggerMessage(Level = LogLevel.Information, Message = "mailbox fetch failed: {Reason}")]
    public static partial void MailboxFetchFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "dropping a mailbox envelope that is not for us: {Reason}")]
    public static partial void MailboxEnvelopeNotOurs(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "dropping a mailbox envelope whose id does not match its sealed contents")]
    public static partial void MailboxEnvelopeIdMismatch(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "mailbox delete failed; the envelopes come again and are dropped as duplicates: {Reason}")]
    public static partial void MailboxDeleteFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "could not publish {What}: {Reason}")]
    public static partial void PublishFailed(ILogger logger, string what, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "could not publish offline presence: {Reason}")]
    public static partial void OfflinePresenceFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "could not update the mailbox policy (retried on the next start): {Reason}")]
    public static partial void PolicyUpdateFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "cannot reach room member {Member} yet: {Reason}")]
    public static partial void MemberUnreachable(ILogger logger, PeerId member, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "cannot send room control {Kind} to a member yet: no session")]
    public static partial void RoomControlUnsent(ILogger logger, string kind);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ignoring room control {Kind} from {Sender}")]
    public static partial void RoomControlIgnored(ILogger logger, string kind, PeerId sender);

    [LoggerMessage(Level = LogLevel.Warning, Message = "a room sync failed ({Error}); retried on the room's next change")]
    public static partial void RoomSyncFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "a presence answer was not sent ({Error})")]
    public static partial void LiveNoteFailed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "membership entry refused: {Result}")]
    public static partial void EntryRefused(ILogger logger, string result);

    [LoggerMessage(Level = LogLevel.Information, Message = "ignoring a room welcome that neither invites nor admits us")]
    public static partial void WelcomeIgnored(ILogger logger);

    [LoggerMessage(Level = LogLevel.Information, Message = "a sender key was refused: {Reason}")]
    public static partial void SenderKeyRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "cannot sign a join request for a room: {Reason}")]
    public static partial void JoinRequestUnsigned(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "join request refused: {Result}")]
    public static partial void JoinRequestRefused(ILogger logger, string result);

    [LoggerMessage(Level = LogLevel.Information, Message = "dropping a waiting room message: {Reason}")]
    public static partial void PendingRoomMessageDropped(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "a fetched room message was refused: {Reason}")]
    public static partial void FetchedRoomMessageRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "a history offer was refused: {Reason}")]
    public static partial void HistoryRefused(ILogger logger, string reason);
}
