using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Mailbox.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Net;

namespace Parley.Chat.Mailbox;

/// <summary>
/// Serves <c>/parley/mailbox/1.0.0</c>: keeps sealed envelopes, tombstones, policies and one-time prekeys for the
/// mailboxes this node is among the k closest to, and replicates them to the current k closest. Every request is
/// checked in full (sizes, signatures, stamps, tokens, quotas) before anything is stored, also when it comes from
/// another mailbox node. Never uses ConfigureAwait(false): it calls <see cref="KademliaNode"/>, which may run under
/// a simulator's single-threaded context.
/// </summary>
public sealed class MailboxService : IAsyncDisposable
{
    private const int MaxReportedRefusals = 8;

    private readonly IPeerNetwork _network;
    private readonly KademliaNode _dht;
    private readonly IMailboxStore _store;
    private readonly TimeProvider _time;
    private readonly MailboxOptions _options;
    private readonly ILogger _logger;
    private readonly ClaimRateLimiter _claims;
    private readonly CancellationTokenSource _shutdown = new();
    private Task _maintenance = Task.CompletedTask;
    private int _disposed;

    public MailboxService(IPeerNetwork network, KademliaNode dht, IMailboxStore store, TimeProvider time, MailboxOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(dht);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(time);
        _network = network;
        _dht = dht;
        _store = store;
        _time = time;
        _options = options ?? new MailboxOptions();
        _logger = logger ?? NullLogger.Instance;
        _claims = new ClaimRateLimiter(_options.MaxPrekeyClaimsPerPeer, _options.PrekeyClaimWindow, time);
    }

    /// <summary>Registers the stream handler and, unless the options say not to, starts periodic maintenance.</summary>
    public void Start()
    {
        _network.SetStreamHandler(_options.ProtocolId, ServeAsync);
        if (_options.RunMaintenance)
        {
            _maintenance = MaintenanceLoopAsync(_shutdown.Token);
        }
    }

    /// <summary>Drops what expired, then offers every held mailbox to its current k closest nodes and sends them what they lack.</summary>
    public async Task RunMaintenanceOnceAsync(CancellationToken cancellationToken)
    {
        await _store.RemoveExpiredAsync(cancellationToken);
        foreach (var mailboxId in await _store.GetMailboxIdsAsync(cancellationToken))
        {
            await ReplicateMailboxAsync(mailboxId, cancellationToken);
        }
    }

    /// <summary>
    /// Serves a request from this node's own client, which cannot open a stream to itself: when this node is one of a
    /// mailbox's k closest, its client reaches it here. <paramref name="from"/> stands for the requesting peer.
    /// </summary>
    internal async Task<Response> HandleLocalAsync(Request request, PeerId from, CancellationToken cancellationToken)
    {
        try
        {
            return await HandleAsync(request, from, cancellationToken);
        }
        catch (IOException e)
        {
            // The store failed (disk full, corrupt file): the requester learns that much and nothing more.
            _logger.LogWarning("mailbox store failed on a {Kind} request: {Reason}", request.KindCase, e.Message);
            return Error("this node could not store the request");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _network.RemoveStreamHandler(_options.ProtocolId);
        // Cancel, not CancelAsync: under a simulator the callbacks must run on this context.
        _shutdown.Cancel();
        try
        {
            await _maintenance;
        }
        catch (OperationCanceledException)
        {
            // Shutdown.
        }
        _shutdown.Dispose();
    }

    private async Task MaintenanceLoopAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.ReplicationInterval, _time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            try
            {
                await RunMaintenanceOnceAsync(cancellationToken);
            }
            catch (IOException e)
            {
                _logger.LogWarning("mailbox maintenance failed: {Reason}", e.Message);
            }
        }
    }

    private async Task ServeAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token, _shutdown.Token);
        Request? request;
        try
        {
            request = await MailboxWire.ReadRequestAsync(stream, _options, linked.Token);
        }
        catch (InvalidDataException e)
        {
            await AnswerAsync(stream, Error(e.Message), linked.Token);
            return;
        }
        catch (InvalidProtocolBufferException e)
        {
            await AnswerAsync(stream, Error($"malformed request: {e.Message}"), linked.Token);
            return;
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            MailboxLog.RequestNotRead(_logger, stream.RemotePeer, e.Message);
            return;
        }
        if (request is null)
        {
            return;
        }
        Response response;
        try
        {
            response = await HandleLocalAsync(request, stream.RemotePeer, linked.Token);
        }
        catch (OperationCanceledException)
        {
            MailboxLog.RequestTimedOut(_logger, request.KindCase.ToString(), stream.RemotePeer);
            return;
        }
        if (response.Error.Length > 0)
        {
            MailboxLog.RequestRefused(_logger, request.KindCase.ToString(), stream.RemotePeer, response.Error);
        }
        await AnswerAsync(stream, response, linked.Token);
    }

    private async Task AnswerAsync(PeerStream stream, Response response, CancellationToken cancellationToken)
    {
        try
        {
            await MailboxWire.WriteAsync(stream, response, cancellationToken);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException)
        {
            MailboxLog.ResponseNotSent(_logger, stream.RemotePeer, e.Message);
        }
    }

    private Task<Response> HandleAsync(Request request, PeerId from, CancellationToken cancellationToken) => request.KindCase switch
    {
        Request.KindOneofCase.Deposit => DepositAsync(request.Deposit, from, cancellationToken),
        Request.KindOneofCase.Fetch => FetchAsync(request.Fetch, cancellationToken),
        Request.KindOneofCase.Delete => DeleteAsync(request.Delete, cancellationToken),
        Request.KindOneofCase.SetPolicy => SetPolicyAsync(request.SetPolicy, cancellationToken),
        Request.KindOneofCase.UploadPrekeys => UploadPrekeysAsync(request.UploadPrekeys, cancellationToken),
        Request.KindOneofCase.ClaimPrekey => ClaimPrekeyAsync(request.ClaimPrekey, from, cancellationToken),
        Request.KindOneofCase.Offer => OfferAsync(request.Offer, cancellationToken),
        Request.KindOneofCase.Replicate => ReplicateAsync(request.Replicate, cancellationToken),
        _ => Task.FromResult(Error("malformed request: no operation")),
    };

    private async Task<Response> DepositAsync(DepositRequest deposit, PeerId from, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var outcome = await AddEnvelopeAsync(deposit.MailboxId, deposit.EnvelopeId, deposit.Envelope, deposit.Authorization, now, now + _options.Retention, from.ToString(), cancellationToken);
        return new Response
        {
            Deposit = new DepositResponse
            {
                Status = outcome.Status switch
                {
                    StoreStatus.Stored => DepositResponse.Types.Status.Stored,
                    StoreStatus.Duplicate => DepositResponse.Types.Status.Duplicate,
                    StoreStatus.UnknownToken => DepositResponse.Types.Status.UnknownToken,
                    _ => DepositResponse.Types.Status.Refused,
                },
                Reason = outcome.Reason ?? "",
            },
        };
    }

    /// <summary>The checks every envelope passes, deposited by a client or replicated by a node.</summary>
    private async Task<StoreOutcome> AddEnvelopeAsync(ByteString mailboxId, ByteString envelopeId, ByteString envelope, Authorization? authorization, DateTimeOffset storedAt, DateTimeOffset expiresAt, string depositor, CancellationToken cancellationToken)
    {
        if (mailboxId.Length != MailboxAddress.Length)
        {
            return StoreOutcome.Refused($"malformed request: a mailbox id is {MailboxAddress.Length} bytes");
        }
        if (envelopeId.Length != MailboxEnvelope.IdLength)
        {
            return StoreOutcome.Refused($"malformed request: an envelope id is {MailboxEnvelope.IdLength} bytes");
        }
        if (envelope.Length is 0 || envelope.Length > _options.MaxEnvelopeSize)
        {
            return StoreOutcome.Refused($"an envelope is 1 to {_options.MaxEnvelopeSize} bytes");
        }
        var held = new HeldEnvelope(mailboxId.ToByteArray(), envelopeId.ToByteArray(), envelope.ToByteArray(), storedAt, expiresAt, null, 0, depositor);
        switch (authorization?.KindCase)
        {
            case Authorization.KindOneofCase.Token when authorization.Token.Length == DepositAuthorization.Token.Length:
                // Whether its hash is in the owner's policy is checked by the store, atomically with the quota.
                return await _store.AddEnvelopeAsync(held with { Token = authorization.Token.ToByteArray() }, cancellationToken);
            case Authorization.KindOneofCase.Token:
                return StoreOutcome.Refused($"malformed request: a token is {DepositAuthorization.Token.Length} bytes");
            case Authorization.KindOneofCase.StampNonce:
                var challenge = MailboxRequests.StampChallenge(held.MailboxId, held.EnvelopeId, held.Envelope);
                return ProofOfWork.Verify(challenge, authorization.StampNonce, _options.DepositDifficulty)
                    ? await _store.AddEnvelopeAsync(held with { StampNonce = authorization.StampNonce }, cancellationToken)
                    : StoreOutcome.Refused($"invalid proof-of-work stamp (difficulty {_options.DepositDifficulty})");
            default:
                return StoreOutcome.Refused("no authorization: a deposit needs a token or a proof-of-work stamp");
        }
    }

    private async Task<Response> FetchAsync(FetchRequest fetch, CancellationToken cancellationToken)
    {
        if (!MailboxRequests.TryVerify(fetch, out var owner, out var error) || !IsFresh(fetch.TimestampUnixMs, out error))
        {
            return Error(error);
        }
        long cursor = 0;
        if (fetch.Cursor.Length > 0 && (fetch.Cursor.Length != 8 || (cursor = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(fetch.Cursor.Span)) <= 0))
        {
            return Error("malformed request: unknown cursor");
        }
        if (fetch.HaveIds.Count > _options.MaxFetchHaveIds)
        {
            return Error($"malformed request: at most {_options.MaxFetchHaveIds} envelope ids already had");
        }
        var had = fetch.HaveIds.Select(id => Convert.ToHexString(id.Span)).ToHashSet(StringComparer.Ordinal);
        var page = await _store.GetEnvelopesAsync(MailboxAddress.Of(owner), cursor, _options.MaxFetchPageEnvelopes, _options.MaxFetchPageBytes, cancellationToken);
        var response = new FetchResponse();
        response.Envelopes.AddRange(page.Envelopes.Where(e => !had.Contains(Convert.ToHexString(e.EnvelopeId))).Select(e => new FetchedEnvelope
        {
            EnvelopeId = ByteString.CopyFrom(e.EnvelopeId),
            Envelope = ByteString.CopyFrom(e.Envelope),
            StoredAtUnixMs = e.StoredAt.ToUnixTimeMilliseconds(),
        }));
        if (page.NextCursor is { } next)
        {
            var bytes = new byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(bytes, next);
            response.NextCursor = ByteString.CopyFrom(bytes);
        }
        return new Response { Fetch = response };
    }

    private async Task<Response> DeleteAsync(DeleteRequest delete, CancellationToken cancellationToken)
    {
        if (!IsFresh(delete.TimestampUnixMs, out var error))
        {
            return Error(error);
        }
        var deleted = await AddTombstoneAsync(delete, cancellationToken);
        return deleted.Error is { } refusal ? Error(refusal) : new Response { Delete = new DeleteResponse { Deleted = (uint)deleted.Count } };
    }

    /// <summary>Checks a delete request and applies it as a tombstone; the timestamp's freshness is the caller's business.</summary>
    private async Task<(int Count, string? Error)> AddTombstoneAsync(DeleteRequest delete, CancellationToken cancellationToken, byte[]? expectedMailbox = null)
    {
        if (!MailboxRequests.TryVerify(delete, _options, out var owner, out var error))
        {
            return (0, error);
        }
        var mailboxId = MailboxAddress.Of(owner);
        if (expectedMailbox is not null && !mailboxId.AsSpan().SequenceEqual(expectedMailbox))
        {
            return (0, "tombstone for another mailbox");
        }
        // Kept as long as any copy of the envelopes it names could be: they were deposited before the delete.
        var expiresAt = FromUnixMs(delete.TimestampUnixMs) + _options.Retention + _options.ClockSkew;
        var payload = MailboxRequests.DeletePayload(delete);
        var tombstone = new Tombstone(mailboxId, MailboxSigning.TombstoneId(payload), delete.EnvelopeIds.Select(id => id.ToByteArray()).ToList(), expiresAt, delete.ToByteArray());
        return (await _store.AddTombstoneAsync(tombstone, cancellationToken), null);
    }

    private async Task<Response> SetPolicyAsync(SetPolicyRequest policy, CancellationToken cancellationToken) =>
        await AddPolicyAsync(policy, _time.GetUtcNow() + _options.Retention, cancellationToken) is { } error
            ? Error(error)
            : new Response { SetPolicy = new SetPolicyResponse { Sequence = policy.Sequence } };

    /// <summary>Checks a policy and keeps it if it is the newest; null when held afterwards, otherwise why not.</summary>
    private async Task<string?> AddPolicyAsync(SetPolicyRequest policy, DateTimeOffset expiresAt, CancellationToken cancellationToken, byte[]? expectedMailbox = null)
    {
        if (!MailboxRequests.TryVerify(policy, _options, out var owner, out var error))
        {
            return error;
        }
        var mailboxId = MailboxAddress.Of(owner);
        if (expectedMailbox is not null && !mailboxId.AsSpan().SequenceEqual(expectedMailbox))
        {
            return "policy for another mailbox";
        }
        var outcome = await _store.SetPolicyAsync(
            new HeldPolicy(mailboxId, policy.Sequence, policy.TokenHashes.Select(h => h.ToByteArray()).ToList(), expiresAt, policy.ToByteArray()),
            cancellationToken);
        return outcome.Reason;
    }

    private async Task<Response> UploadPrekeysAsync(UploadPrekeysRequest upload, CancellationToken cancellationToken)
    {
        if (!MailboxRequests.TryVerify(upload, _options, _network.LocalPeerId, out var owner, out var prekeys, out var error) || !IsFresh(upload.TimestampUnixMs, out error))
        {
            return Error(error);
        }
        var outcome = await _store.AddPrekeysAsync(
            MailboxAddress.Of(owner),
            DateTimeOffset.FromUnixTimeMilliseconds(upload.TimestampUnixMs),
            prekeys,
            _time.GetUtcNow() + _options.Retention,
            cancellationToken);
        return outcome.Refusal is { } refusal
            ? Error(refusal)
            : new Response { UploadPrekeys = new UploadPrekeysResponse { Accepted = (uint)outcome.Accepted, Held = (uint)outcome.Held } };
    }

    private async Task<Response> ClaimPrekeyAsync(ClaimPrekeyRequest claim, PeerId from, CancellationToken cancellationToken)
    {
        if (claim.MailboxId.Length != MailboxAddress.Length)
        {
            return Error($"malformed request: a mailbox id is {MailboxAddress.Length} bytes");
        }
        if (!_claims.TryAcquire(from))
        {
            return Error("too many prekey claims from this peer; try again later");
        }
        var prekey = await _store.TakePrekeyAsync(claim.MailboxId.ToByteArray(), cancellationToken);
        if (prekey is null)
        {
            _claims.Release(from);
            return new Response { ClaimPrekey = new ClaimPrekeyResponse() };
        }
        return new Response { ClaimPrekey = new ClaimPrekeyResponse { Prekey = MailboxRequests.ToProto(prekey) } };
    }

    private async Task<Response> OfferAsync(OfferRequest offer, CancellationToken cancellationToken)
    {
        if (offer.MailboxId.Length != MailboxAddress.Length
            || offer.EnvelopeIds.Any(id => id.Length != MailboxEnvelope.IdLength)
            || offer.TombstoneIds.Any(id => id.Length != MailboxRequests.TokenHashLength))
        {
            return Error("malformed offer");
        }
        var inventory = await _store.GetInventoryAsync(offer.MailboxId.ToByteArray(), cancellationToken);
        var heldEnvelopes = inventory.EnvelopeIds.Select(Convert.ToHexString).ToHashSet();
        var heldTombstones = inventory.TombstoneIds.Select(Convert.ToHexString).ToHashSet();
        var wanted = new OfferResponse { Policy = offer.HasPolicy && (inventory.PolicySequence is not { } held || offer.PolicySequence > held) };
        wanted.EnvelopeIds.AddRange(offer.EnvelopeIds.Where(id => !heldEnvelopes.Contains(Convert.ToHexString(id.Span))).Take(_options.MaxEnvelopesPerMailbox));
        wanted.TombstoneIds.AddRange(offer.TombstoneIds.Where(id => !heldTombstones.Contains(Convert.ToHexString(id.Span))).Take(_options.MaxTombstonesPerMailbox));
        return new Response { Offer = wanted };
    }

    private async Task<Response> ReplicateAsync(ReplicateRequest replicate, CancellationToken cancellationToken)
    {
        if (replicate.MailboxId.Length != MailboxAddress.Length)
        {
            return Error($"malformed request: a mailbox id is {MailboxAddress.Length} bytes");
        }
        var mailboxId = replicate.MailboxId.ToByteArray();
        var now = _time.GetUtcNow();
        var result = new ReplicateResponse();
        void Refuse(string reason)
        {
            if (result.Refusals.Count < MaxReportedRefusals)
            {
                result.Refusals.Add(reason);
            }
        }
        if (replicate.Policy is { Request: { } policy } replicated)
        {
            var expiresAt = Min(FromUnixMs(replicated.ExpiresUnixMs), now + _options.Retention);
            var error = expiresAt > now ? await AddPolicyAsync(policy, expiresAt, cancellationToken, mailboxId) : "expired policy";
            if (error is not null)
            {
                Refuse($"policy: {error}");
            }
        }
        foreach (var tombstone in replicate.Tombstones)
        {
            // A delete is fresh when the owner sends it; a replica only needs it not to be from the future.
            var error = FromUnixMs(tombstone.TimestampUnixMs) > now + _options.ClockSkew ? "tombstone from the future" : (await AddTombstoneAsync(tombstone, cancellationToken, mailboxId)).Error;
            if (error is not null)
            {
                Refuse($"tombstone: {error}");
            }
        }
        foreach (var envelope in replicate.Envelopes)
        {
            var storedAt = FromUnixMs(envelope.StoredAtUnixMs);
            // An envelope expires as its first deposit said, and never later than a deposit made now would.
            var expiresAt = storedAt > now + _options.ClockSkew ? now : Min(FromUnixMs(envelope.ExpiresUnixMs), storedAt + _options.Retention);
            var outcome = expiresAt <= now
                ? StoreOutcome.Refused("stored in the future or expired")
                : envelope.Depositor.Length is 0 or > MailboxRequests.MaxDepositorLength
                    ? StoreOutcome.Refused("malformed depositor")
                    : await AddEnvelopeAsync(replicate.MailboxId, envelope.EnvelopeId, envelope.Envelope, envelope.Authorization, storedAt, expiresAt, envelope.Depositor, cancellationToken);
            if (outcome.Status == StoreStatus.Stored)
            {
                result.Stored++;
            }
            else if (outcome.Reason is { } reason)
            {
                Refuse($"envelope: {reason}");
            }
        }
        return new Response { Replicate = result };
    }

    /// <summary>Offers what we hold for one mailbox to each of its k closest nodes and sends each what it asks for.</summary>
    private async Task ReplicateMailboxAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        var inventory = await _store.GetInventoryAsync(mailboxId, cancellationToken);
        if (inventory.EnvelopeIds.Count == 0 && inventory.TombstoneIds.Count == 0 && inventory.PolicySequence is null)
        {
            return;
        }
        var offer = new OfferRequest { MailboxId = ByteString.CopyFrom(mailboxId), HasPolicy = inventory.PolicySequence is not null, PolicySequence = inventory.PolicySequence ?? 0 };
        offer.EnvelopeIds.AddRange(inventory.EnvelopeIds.Select(ByteString.CopyFrom));
        offer.TombstoneIds.AddRange(inventory.TombstoneIds.Select(ByteString.CopyFrom));
        var closest = await _dht.FindClosestPeersAsync(mailboxId, cancellationToken);
        await Bounded.ForEachAsync(closest.Closest.Take(_options.K).ToList(), _options.MaxParallelRequests, peer => OfferToAsync(peer, offer, cancellationToken));
    }

    private async Task<bool> OfferToAsync(DhtPeer peer, OfferRequest offer, CancellationToken cancellationToken)
    {
        try
        {
            var answer = await ExchangeAsync(peer, new Request { Offer = offer }, cancellationToken);
            if (answer.KindCase != Response.KindOneofCase.Offer)
            {
                _logger.LogDebug("{Peer} did not take a mailbox offer: {Reason}", peer.Peer, answer.Error);
                return false;
            }
            var mailboxId = offer.MailboxId.ToByteArray();
            var batch = new ReplicateBatcher(offer.MailboxId, _options.MaxReplicationBatchSize);
            if (answer.Offer.Policy && await _store.GetPolicyAsync(mailboxId, cancellationToken) is { } policy)
            {
                batch.Add(new ReplicatedPolicy { Request = SetPolicyRequest.Parser.ParseFrom(policy.SignedRequest), ExpiresUnixMs = policy.ExpiresAt.ToUnixTimeMilliseconds() });
            }
            var tombstoneIds = Offered(answer.Offer.TombstoneIds, offer.TombstoneIds);
            foreach (var tombstone in await _store.GetTombstonesAsync(mailboxId, tombstoneIds, cancellationToken))
            {
                if (batch.Add(DeleteRequest.Parser.ParseFrom(tombstone.SignedRequest)) is { } full)
                {
                    await SendBatchAsync(peer, full, cancellationToken);
                }
            }
            // A chunk at a time, so a full mailbox is never all in memory at once.
            foreach (var chunk in Offered(answer.Offer.EnvelopeIds, offer.EnvelopeIds).Chunk(64))
            {
                foreach (var envelope in await _store.GetEnvelopesByIdAsync(mailboxId, chunk, cancellationToken))
                {
                    if (batch.Add(ToReplicated(envelope)) is { } full)
                    {
                        await SendBatchAsync(peer, full, cancellationToken);
                    }
                }
            }
            if (batch.Pending is { } last)
            {
                await SendBatchAsync(peer, last, cancellationToken);
            }
            return true;
        }
        catch (IOException e)
        {
            _logger.LogDebug("replication to {Peer} failed: {Reason}", peer.Peer, e.Message);
            return false;
        }
    }

    private async Task SendBatchAsync(DhtPeer peer, ReplicateRequest batch, CancellationToken cancellationToken)
    {
        var answer = await ExchangeAsync(peer, new Request { Replicate = batch }, cancellationToken);
        if (answer.KindCase != Response.KindOneofCase.Replicate)
        {
            throw new IOException($"replication refused: {answer.Error}");
        }
        if (answer.Replicate.Refusals.Count > 0)
        {
            _logger.LogDebug("{Peer} refused some replicated items: {Reasons}", peer.Peer, string.Join("; ", answer.Replicate.Refusals.Take(MaxReportedRefusals)));
        }
    }

    private Task<Response> ExchangeAsync(DhtPeer peer, Request request, CancellationToken cancellationToken) =>
        MailboxWire.ExchangeAsync(_network, peer.Peer, peer.Addresses, request, _options, _time, cancellationToken);

    /// <summary>Only what we offered: a peer cannot make us look up ids of its choosing.</summary>
    private static List<byte[]> Offered(IEnumerable<ByteString> wanted, IEnumerable<ByteString> offered)
    {
        var ours = offered.Select(id => Convert.ToHexString(id.Span)).ToHashSet();
        return wanted.Where(id => ours.Remove(Convert.ToHexString(id.Span))).Select(id => id.ToByteArray()).ToList();
    }

    private static ReplicatedEnvelope ToReplicated(HeldEnvelope envelope) => new()
    {
        EnvelopeId = ByteString.CopyFrom(envelope.EnvelopeId),
        Envelope = ByteString.CopyFrom(envelope.Envelope),
        Authorization = envelope.Token is { } token ? new Authorization { Token = ByteString.CopyFrom(token) } : new Authorization { StampNonce = envelope.StampNonce },
        StoredAtUnixMs = envelope.StoredAt.ToUnixTimeMilliseconds(),
        ExpiresUnixMs = envelope.ExpiresAt.ToUnixTimeMilliseconds(),
        Depositor = envelope.Depositor,
    };

    private bool IsFresh(long timestampUnixMs, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? error)
    {
        var skew = Math.Abs((double)timestampUnixMs - _time.GetUtcNow().ToUnixTimeMilliseconds());
        error = skew <= _options.ClockSkew.TotalMilliseconds ? null : $"timestamp more than {_options.ClockSkew.TotalMinutes:0} minutes from this node's clock";
        return error is null;
    }

    /// <summary>A peer's time, clamped to 1970 .. 9999 minus a year, so no arithmetic on it can overflow.</summary>
    private static DateTimeOffset FromUnixMs(long ms) =>
        DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(ms, 0, DateTimeOffset.MaxValue.AddYears(-1).ToUnixTimeMilliseconds()));

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    private static Response Error(string reason) => new() { Error = reason };

    /// <summary>Fills replicate requests up to the batch limit, in order: policy, tombstones, envelopes.</summary>
    private sealed class ReplicateBatcher(ByteString mailboxId, int maxSize)
    {
        // Room for the request's own fields and the frame around it.
        private const int Overhead = 64;

        private int _size;

        public ReplicateRequest? Pending { get; private set; }

        public void Add(ReplicatedPolicy policy)
        {
            Current().Policy = policy;
            _size += CodedOutputStream.ComputeMessageSize(policy) + 1;
        }

        /// <summary>Adds the tombstone; returns the batch it did not fit in, to be sent first.</summary>
        public ReplicateRequest? Add(DeleteRequest tombstone) => Add(CodedOutputStream.ComputeMessageSize(tombstone) + 1, r => r.Tombstones.Add(tombstone));

        public ReplicateRequest? Add(ReplicatedEnvelope envelope) => Add(CodedOutputStream.ComputeMessageSize(envelope) + 1, r => r.Envelopes.Add(envelope));

        private ReplicateRequest? Add(int itemSize, Action<ReplicateRequest> add)
        {
            ReplicateRequest? full = null;
            if (Pending is not null && _size + itemSize > maxSize)
            {
                full = Pending;
                Pending = null;
            }
            add(Current());
            _size += itemSize;
            return full;
        }

        private ReplicateRequest Current()
        {
            if (Pending is null)
            {
                Pending = new ReplicateRequest { MailboxId = mailboxId };
                _size = Overhead + mailboxId.Length;
            }
            return Pending;
        }
    }
}
