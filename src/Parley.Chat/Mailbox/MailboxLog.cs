using Microsoft.Extensions.Logging;
using Parley.Core.Identity;

namespace Parley.Chat.Mailbox;

/// <summary>The mailbox protocol's per-request log messages, source-generated: they run for every deposit, fetch and answer.</summary>
internal static partial class MailboxLog
{
    [LoggerMessage(Level = LogLevel.Debug, Message = "deposit stored at {Stored} of {Attempted} mailbox nodes")]
    public static partial void DepositStored(ILogger logger, int stored, int attempted);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Peer} refused a {Kind} request: {Reason}")]
    public static partial void RequestRefusedBy(ILogger logger, PeerId peer, string kind, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Kind} request to {Peer} failed: {Reason}")]
    public static partial void RequestFailed(ILogger logger, string kind, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "mailbox request from {Peer} not read: {Reason}")]
    public static partial void RequestNotRead(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "a {Kind} request from {Peer} ran out of time")]
    public static partial void RequestTimedOut(ILogger logger, string kind, PeerId peer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "refused a {Kind} request from {Peer}: {Reason}")]
    public static partial void RequestRefused(ILogger logger, string kind, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "mailbox response to {Peer} not sent: {Reason}")]
    public static partial void ResponseNotSent(ILogger logger, PeerId peer, string reason);
}
