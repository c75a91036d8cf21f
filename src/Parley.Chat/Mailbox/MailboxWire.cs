using Google.Protobuf;
using Parley.Chat.Mailbox.Protos;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Mailbox;

/// <summary>Framing of the mailbox protocol: one length-prefixed Request, one length-prefixed Response, both bounded and timed out.</summary>
internal static class MailboxWire
{
    /// <summary>
    /// Reads one request. The frame holds exactly one field of <see cref="Request"/>; its tag and length are read
    /// before the body, so each kind's limit applies before anything is allocated. Null on a clean end of stream.
    /// </summary>
    /// <exception cref="InvalidDataException">Over a limit or malformed; the message says which.</exception>
    /// <exception cref="InvalidProtocolBufferException">The body is not the protobuf it claims to be.</exception>
    public static async Task<Request?> ReadRequestAsync(Stream stream, MailboxOptions options, CancellationToken cancellationToken)
    {
        var frame = await LengthPrefixed.ReadVarintAsync(stream, cancellationToken);
        if (frame is null)
        {
            return null;
        }
        var largest = Math.Max(options.MaxRequestSize, Math.Max(options.MaxPolicyRequestSize, options.MaxReplicationBatchSize));
        if (frame > (ulong)largest)
        {
            throw new InvalidDataException($"request of {frame} bytes exceeds the {largest}-byte limit");
        }
        if (frame == 0)
        {
            throw new InvalidDataException("malformed request: empty");
        }
        var tag = await ReadFieldVarintAsync(stream, cancellationToken);
        var (kind, limit) = (tag >> 3, tag & 7) switch
        {
            (Request.DepositFieldNumber, 2) => ("deposit", options.MaxRequestSize),
            (Request.FetchFieldNumber, 2) => ("fetch", options.MaxRequestSize),
            (Request.DeleteFieldNumber, 2) => ("delete", options.MaxRequestSize),
            (Request.SetPolicyFieldNumber, 2) => ("set-policy", options.MaxPolicyRequestSize),
            (Request.UploadPrekeysFieldNumber, 2) => ("upload-prekeys", options.MaxRequestSize),
            (Request.ClaimPrekeyFieldNumber, 2) => ("claim-prekey", options.MaxRequestSize),
            (Request.OfferFieldNumber, 2) => ("offer", options.MaxReplicationBatchSize),
            (Request.ReplicateFieldNumber, 2) => ("replicate", options.MaxReplicationBatchSize),
            _ => throw new InvalidDataException($"malformed request: unknown field {tag >> 3} (wire type {tag & 7})"),
        };
        var length = await ReadFieldVarintAsync(stream, cancellationToken);
        if (length > (ulong)limit)
        {
            throw new InvalidDataException($"{kind} request of {length} bytes exceeds the {limit}-byte limit");
        }
        if ((ulong)(Varint.SizeOf(tag) + Varint.SizeOf(length)) + length != frame)
        {
            throw new InvalidDataException("malformed request: a request holds exactly one field");
        }
        var body = new byte[(int)length];
        await LengthPrefixed.ReadExactlyAsync(stream, body, cancellationToken);
        return (int)(tag >> 3) switch
        {
            Request.DepositFieldNumber => new Request { Deposit = DepositRequest.Parser.ParseFrom(body) },
            Request.FetchFieldNumber => new Request { Fetch = FetchRequest.Parser.ParseFrom(body) },
            Request.DeleteFieldNumber => new Request { Delete = DeleteRequest.Parser.ParseFrom(body) },
            Request.SetPolicyFieldNumber => new Request { SetPolicy = SetPolicyRequest.Parser.ParseFrom(body) },
            Request.UploadPrekeysFieldNumber => new Request { UploadPrekeys = UploadPrekeysRequest.Parser.ParseFrom(body) },
            Request.ClaimPrekeyFieldNumber => new Request { ClaimPrekey = ClaimPrekeyRequest.Parser.ParseFrom(body) },
            Request.OfferFieldNumber => new Request { Offer = OfferRequest.Parser.ParseFrom(body) },
            _ => new Request { Replicate = ReplicateRequest.Parser.ParseFrom(body) },
        };
    }

    public static Task WriteAsync(Stream stream, IMessage message, CancellationToken cancellationToken) =>
        LengthPrefixed.WriteMessageAsync(stream, message.ToByteArray(), cancellationToken);

    /// <summary>Sends one request to <paramref name="peer"/> (dialling <paramref name="addresses"/> if needed) and reads its response.</summary>
    /// <exception cref="IOException">Unreachable, timed out, or an answer that is not a mailbox response.</exception>
    public static async Task<Response> ExchangeAsync(IPeerNetwork network, PeerId peer, IReadOnlyList<Multiaddr> addresses, Request request, MailboxOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        // The deposit network has no routing table: it learns where the peer is from the lookup that found it.
        network.PeerStore.AddAddresses(peer, addresses);
        using var timeout = new CancellationTokenSource(options.RequestTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await using var stream = await network.OpenStreamAsync(peer, [options.ProtocolId], linked.Token);
            await WriteAsync(stream, request, linked.Token);
            var bytes = await LengthPrefixed.ReadMessageAsync(stream, options.MaxResponseSize, linked.Token)
                ?? throw new IOException($"{peer} closed the stream without answering");
            return Response.Parser.ParseFrom(bytes);
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"{peer} did not answer within {options.RequestTimeout.TotalSeconds:0.#} s", e);
        }
        catch (InvalidDataException e)
        {
            throw new IOException($"{peer} sent a bad response: {e.Message}", e);
        }
    }

    private static async Task<ulong> ReadFieldVarintAsync(Stream stream, CancellationToken cancellationToken)
    {
        try
        {
            return await LengthPrefixed.ReadVarintAsync(stream, cancellationToken) ?? throw new InvalidDataException("truncated");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"malformed request: {e.Message}", e);
        }
    }
}
