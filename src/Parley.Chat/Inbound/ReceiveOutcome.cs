using Google.Protobuf;
using Parley.Chat.Protos;
using Parley.Core.Identity;

namespace Parley.Chat.Inbound;

internal enum ReceiveStatus
{
    /// <summary>Decrypted and stored.</summary>
    Accepted,

    /// <summary>Seen before; nothing changed.</summary>
    Duplicate,

    /// <summary>From a blocked sender: dropped unread.</summary>
    Dropped,

    /// <summary>Invalid; <see cref="ReceiveOutcome.Reason"/> says why; nothing changed.</summary>
    Refused,
}

/// <summary>What became of one inbound envelope, and the message to acknowledge to its sender, if any.</summary>
internal sealed record ReceiveOutcome(ReceiveStatus Status, string? Reason = null, (PeerId Sender, byte[] MessageId)? Acknowledge = null)
{
    /// <summary>The answer on the chat protocol. A blocked sender is told nothing more than anyone refused.</summary>
    public ChatResponse ToResponse() => Status switch
    {
        ReceiveStatus.Accepted => new ChatResponse { Status = ChatResponse.Types.Status.Accepted },
        ReceiveStatus.Duplicate => new ChatResponse { Status = ChatResponse.Types.Status.Duplicate },
        ReceiveStatus.Dropped => new ChatResponse { Status = ChatResponse.Types.Status.Refused, Reason = "not accepted" },
        _ => new ChatResponse { Status = ChatResponse.Types.Status.Refused, Reason = Reason ?? "" },
    };
}

/// <summary>Delivered and read receipts, the end-to-end acknowledgements of 1:1 messages.</summary>
internal static class Receipts
{
    public static Content Make(Protos.Receipt.Types.Kind kind, IEnumerable<byte[]> messageIds)
    {
        var receipt = new Protos.Receipt { Kind = kind };
        receipt.MessageIds.AddRange(messageIds.Select(ByteString.CopyFrom));
        return new Content { Receipt = receipt };
    }
}
