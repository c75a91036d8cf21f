using System.Runtime.CompilerServices;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Parley.Chat.Mailbox.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Dht;
using Parley.Dht.Keys;
using Parley.Net;

namespace Parley.Chat.Mailbox;

/// <summary>
/// Talks to the k mailbox nodes of an account: deposits for others (through the deposit network's throwaway identity,
/// so a mailbox node cannot link a deposit to the sender's device) and owner operations for our own account. Never
/// uses ConfigureAwait(false): it calls <see cref="KademliaNode"/>, which may run under a simulator's single-threaded context.
/// </summary>
public sealed class MailboxClient : IMailboxes
{
    // A hostile node cannot keep a fetch going forever with tiny pages.
    private const int MaxPagesPerNode = 64;
    private const int FirstFetchNodes = 3;

    private readonly IPeerNetwork _ownerNetwork;
    private readonly IPeerNetwork _depositNetwork;
    private readonly KademliaNode _dht;
    private readonly TimeProvider _time;
    private readonly MailboxOptions _options;
    private readonly ILogger _logger;
    private readonly MailboxService? _localService;
    private readonly object _uploadClock = new();
    private long _lastUploadMs;

    /// <param name="localService">
    /// This node's own mailbox service, if it runs one: when this node is among a mailbox's k closest, requests go to it
    /// directly (a node cannot open a stream to itself). Without it, this node catches up by replication.
    /// </param>
    public MailboxClient(IPeerNetwork ownerNetwork, IPeerNetwork depositNetwork, KademliaNode dht, TimeProvider time, MailboxOptions? options = null, ILogger? logger = null, MailboxService? localService = null)
    {
        ArgumentNullException.ThrowIfNull(ownerNetwork);
        ArgumentNullException.ThrowIfNull(depositNetwork);
        ArgumentNullException.ThrowIfNull(dht);
        ArgumentNullException.ThrowIfNull(time);
        _ownerNetwork = ownerNetwork;
        _depositNetwork = depositNetwork;
        _dht = dht;
        _time = time;
        _options = options ?? new MailboxOptions();
        _logger = logger ?? NullLogger.Instance;
        _localService = localService;
    }

    /// <summary>Deposits the envelope at the k nodes closest to the recipient's mailbox, in parallel; a stamp is solved once.</summary>
    /// <exception cref="ArgumentException">The id is not 16 bytes, the envelope is empty or too big, or the token is not 32 bytes.</exception>
    public async Task<DepositResult> DepositAsync(PublicKey recipient, byte[] envelopeId, byte[] envelope, DepositAuthorization authorization, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(recipient);
        ArgumentNullException.ThrowIfNull(envelopeId);
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(authorization);
        if (envelopeId.Length != MailboxEnvelope.IdLength)
        {
            throw new ArgumentException($"an envelope id is {MailboxEnvelope.IdLength} bytes", nameof(envelopeId));
        }
        if (envelope.Length is 0 || envelope.Length > _options.MaxEnvelopeSize)
        {
            throw new ArgumentException($"an envelope is 1 to {_options.MaxEnvelopeSize} bytes", nameof(envelope));
        }
        var mailboxId = MailboxAddress.Of(recipient);
        Authorization Stamp() => new()
        {
            StampNonce = ProofOfWork.Solve(MailboxRequests.StampChallenge(mailboxId, envelopeId, envelope), _options.DepositDifficulty, cancellationToken),
        };
        var proof = authorization switch
        {
            DepositAuthorization.Token { Value.Length: DepositAuthorization.Token.Length } token => new Authorization { Token = ByteString.CopyFrom(token.Value) },
            DepositAuthorization.Token => throw new ArgumentException($"a token is {DepositAuthorization.Token.Length} bytes", nameof(authorization)),
            _ => Stamp(),
        };
        var peers = await MailboxNodesAsync(mailboxId, cancellationToken);
        var answers = await DepositToAsync(peers, Deposit(mailboxId, envelopeId, envelope, proof), cancellationToken);
        // A node that became one of the mailbox's closest after the owner last sent its policy does not know the
        // token yet (replication brings it later); a stamp gets the envelope in now.
        var unknownToken = peers.Where((_, i) => answers[i].Status == DepositResponse.Types.Status.UnknownToken).ToList();
        if (unknownToken.Count > 0)
        {
            var retried = await DepositToAsync(unknownToken, Deposit(mailboxId, envelopeId, envelope, Stamp()), cancellationToken);
            for (int i = 0, j = 0; i < peers.Count; i++)
            {
                if (answers[i].Status == DepositResponse.Types.Status.UnknownToken)
                {
                    answers[i] = retried[j++];
                }
            }
        }
        var refusals = answers.Where(a => a.Refusal is not null).Select(a => a.Refusal!).ToList();
        MailboxLog.DepositStored(_logger, peers.Count - refusals.Count, peers.Count);
        return new DepositResult(peers.Count - refusals.Count, peers.Count, refusals);
    }

    private static Request Deposit(byte[] mailboxId, byte[] envelopeId, byte[] envelope, Authorization proof) => new()
    {
        Deposit = new DepositRequest
        {
            MailboxId = ByteString.CopyFrom(mailboxId),
            EnvelopeId = ByteString.CopyFrom(envelopeId),
            Envelope = ByteString.CopyFrom(envelope),
            Authorization = proof,
        },
    };

    /// <summary>Each peer's answer, in the order of <paramref name="peers"/>; <c>Refusal</c> is null when it took the envelope.</summary>
    private async Task<(DepositResponse.Types.Status Status, string? Refusal)[]> DepositToAsync(IReadOnlyList<DhtPeer> peers, Request request, CancellationToken cancellationToken)
    {
        var answers = await Bounded.ForEachAsync(peers, _options.MaxParallelRequests, async peer =>
        {
            try
            {
                var answer = await ExchangeAsync(_depositNetwork, peer, request, cancellationToken);
                return answer.Deposit?.Status switch
                {
                    DepositResponse.Types.Status.Stored or DepositResponse.Types.Status.Duplicate => (answer.Deposit.Status, (string?)null),
                    { } status and (DepositResponse.Types.Status.Refused or DepositResponse.Types.Status.UnknownToken) => (status, $"{peer.Peer}: {answer.Deposit.Reason}"),
                    _ => (DepositResponse.Types.Status.Refused, $"{peer.Peer}: {(answer.Error.Length > 0 ? answer.Error : "unexpected answer")}"),
                };
            }
            catch (IOException e)
            {
                return (DepositResponse.Types.Status.Refused, $"{peer.Peer}: {e.Message}");
            }
        });
        return answers.ToArray();
    }

    /// <summary>Every envelope the owner's mailbox nodes hold, page by page from each, deduplicated by envelope id.</summary>
    public async Task<MailboxFetchResult> FetchAsync(IdentityKey owner, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        var peers = await MailboxNodesAsync(MailboxAddress.Of(owner.PublicKey), cancellationToken);
        var envelopes = new Dictionary<string, MailboxEnvelope>();
        var copies = new StrongBox<int>();
        // The closest few nodes give everything they have (a few, in parallel, so that dead ones cost no extra round);
        // the others are asked only for what those lacked. An envelope so crosses the network a few times instead of
        // once per node, and every node is still asked: any may hold an envelope the others missed.
        var leading = peers.Take(FirstFetchNodes).ToList();
        var first = await Bounded.ForEachAsync(leading, FirstFetchNodes, peer => FetchFromAsync(peer, owner, envelopes, [], copies, cancellationToken));
        List<ByteString> had;
        lock (envelopes)
        {
            had = envelopes.Values.Take(_options.MaxFetchHaveIds).Select(e => ByteString.CopyFrom(e.EnvelopeId)).ToList();
        }
        var rest = await Bounded.ForEachAsync(peers.Skip(leading.Count).ToList(), _options.MaxParallelRequests, peer => FetchFromAsync(peer, owner, envelopes, had, copies, cancellationToken));
        List<MailboxEnvelope> all;
        lock (envelopes)
        {
            all = envelopes.Values.OrderBy(e => e.StoredAt).ThenBy(e => Convert.ToHexString(e.EnvelopeId), StringComparer.Ordinal).ToList();
        }
        return new MailboxFetchResult(all, first.Count(ok => ok) + rest.Count(ok => ok), peers.Count, copies.Value);
    }

    /// <summary>Asks every mailbox node to delete the envelopes and keep the signed request as a tombstone; returns the nodes that confirmed.</summary>
    public async Task<int> DeleteAsync(IdentityKey owner, IReadOnlyList<byte[]> envelopeIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(envelopeIds);
        if (envelopeIds.Any(id => id is null || id.Length != MailboxEnvelope.IdLength))
        {
            throw new ArgumentException($"envelope ids are {MailboxEnvelope.IdLength} bytes", nameof(envelopeIds));
        }
        if (envelopeIds.Count == 0)
        {
            return 0;
        }
        var timestamp = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var requests = envelopeIds.Chunk(_options.MaxDeleteIds).Select(chunk => new Request { Delete = MailboxRequests.Delete(owner, timestamp, chunk) }).ToList();
        return await SendToEachAsync(owner, requests, Response.KindOneofCase.Delete, cancellationToken);
    }

    /// <summary>Publishes the owner's policy (hashes of the tokens of accepted senders); returns the nodes that hold it afterwards.</summary>
    public async Task<int> SetPolicyAsync(IdentityKey owner, ulong sequence, IReadOnlyList<byte[]> tokenHashes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(tokenHashes);
        if (tokenHashes.Count > _options.MaxPolicyTokens || tokenHashes.Any(h => h is null || h.Length != MailboxRequests.TokenHashLength))
        {
            throw new ArgumentException($"a policy holds at most {_options.MaxPolicyTokens} token hashes of {MailboxRequests.TokenHashLength} bytes", nameof(tokenHashes));
        }
        var request = new Request { SetPolicy = MailboxRequests.Policy(owner, sequence, tokenHashes) };
        return await SendToEachAsync(owner, [request], Response.KindOneofCase.SetPolicy, cancellationToken);
    }

    /// <summary>
    /// Uploads one-time prekeys in disjoint slices, one per mailbox node, so no key can be handed out twice. Each node
    /// holds at most <see cref="MailboxOptions.MaxPrekeysPerMailbox"/>. Returns how many prekeys nodes accepted.
    /// </summary>
    public async Task<int> UploadOneTimePrekeysAsync(IdentityKey owner, IReadOnlyList<SignedOneTimePrekey> prekeys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentNullException.ThrowIfNull(prekeys);
        if (prekeys.Count == 0)
        {
            return 0;
        }
        var peers = await MailboxNodesAsync(MailboxAddress.Of(owner.PublicKey), cancellationToken);
        var slices = peers.Select((peer, i) => (Peer: peer, Slice: prekeys.Where((_, j) => j % peers.Count == i).Take(_options.MaxPrekeysPerMailbox).ToList()))
            .Where(s => s.Slice.Count > 0)
            .ToList();
        var accepted = await Bounded.ForEachAsync(slices, _options.MaxParallelRequests, async s =>
        {
            var request = new Request { UploadPrekeys = MailboxRequests.Prekeys(owner, s.Peer.Peer, NextUploadTimestamp(), s.Slice) };
            var answer = await TryExchangeAsync(_ownerNetwork, s.Peer, request, cancellationToken);
            return answer?.UploadPrekeys is { } result ? (int)Math.Min(result.Accepted, (uint)s.Slice.Count) : 0;
        });
        return accepted.Sum();
    }

    /// <summary>One of the account's one-time prekeys, verified against the account; null when no mailbox node has one left.</summary>
    public async Task<SignedOneTimePrekey?> ClaimOneTimePrekeyAsync(PublicKey account, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(account);
        var mailboxId = MailboxAddress.Of(account);
        var request = new Request { ClaimPrekey = new ClaimPrekeyRequest { MailboxId = ByteString.CopyFrom(mailboxId) } };
        foreach (var peer in await MailboxNodesAsync(mailboxId, cancellationToken))
        {
            if ((await TryExchangeAsync(_depositNetwork, peer, request, cancellationToken))?.ClaimPrekey?.Prekey is not { } proto)
            {
                continue;
            }
            var prekey = MailboxRequests.FromProto(proto);
            if (prekey.Verify(account))
            {
                return prekey;
            }
            _logger.LogWarning("{Peer} handed out a one-time prekey the account did not sign", peer.Peer);
        }
        return null;
    }

    /// <summary>The k closest nodes to the mailbox that answered the lookup, this node among them when it is that close and serves mailboxes.</summary>
    private async Task<IReadOnlyList<DhtPeer>> MailboxNodesAsync(byte[] mailboxId, CancellationToken cancellationToken)
    {
        var lookup = await _dht.FindClosestPeersAsync(mailboxId, cancellationToken);
        var nodes = lookup.Closest.AsEnumerable();
        if (_localService is not null)
        {
            var target = KadId.FromKey(mailboxId);
            nodes = nodes.Append(new DhtPeer(_dht.LocalPeer, []))
                .OrderBy(p => KadId.FromPeer(p.Peer), Comparer<KadId>.Create((a, b) => KadId.CompareDistance(target, a, b)));
        }
        return nodes.Take(_options.K).ToList();
    }

    private Task<Response> ExchangeAsync(IPeerNetwork network, DhtPeer peer, Request request, CancellationToken cancellationToken) =>
        _localService is not null && peer.Peer == _dht.LocalPeer
            ? _localService.HandleLocalAsync(request, network.LocalPeerId, cancellationToken)
            : MailboxWire.ExchangeAsync(network, peer.Peer, peer.Addresses, request, _options, _time, cancellationToken);

    private async Task<bool> FetchFromAsync(DhtPeer peer, IdentityKey owner, Dictionary<string, MailboxEnvelope> into, IReadOnlyList<ByteString> had, StrongBox<int> copies, CancellationToken cancellationToken)
    {
        var cursor = ByteString.Empty;
        for (var page = 0; page < MaxPagesPerNode; page++)
        {
            var fetch = MailboxRequests.Fetch(owner, _time.GetUtcNow().ToUnixTimeMilliseconds(), cursor);
            fetch.HaveIds.AddRange(had);
            var request = new Request { Fetch = fetch };
            if ((await TryExchangeAsync(_ownerNetwork, peer, request, cancellationToken))?.Fetch is not { } answer)
            {
                return false;
            }
            lock (into)
            {
                copies.Value += answer.Envelopes.Count;
                foreach (var envelope in answer.Envelopes.Where(e => e.EnvelopeId.Length == MailboxEnvelope.IdLength && e.Envelope.Length <= _options.MaxEnvelopeSize))
                {
                    into.TryAdd(Convert.ToHexString(envelope.EnvelopeId.Span), new MailboxEnvelope(
                        envelope.EnvelopeId.ToByteArray(),
                        envelope.Envelope.ToByteArray(),
                        DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(envelope.StoredAtUnixMs, 0, DateTimeOffset.MaxValue.ToUnixTimeMilliseconds()))));
                }
            }
            if (answer.NextCursor.IsEmpty || answer.NextCursor.Equals(cursor))
            {
                return true;
            }
            cursor = answer.NextCursor;
        }
        return true;
    }

    /// <summary>Sends the same owner-signed requests to every mailbox node; a node confirms when it accepted all of them.</summary>
    private async Task<int> SendToEachAsync(IdentityKey owner, IReadOnlyList<Request> requests, Response.KindOneofCase expected, CancellationToken cancellationToken)
    {
        var peers = await MailboxNodesAsync(MailboxAddress.Of(owner.PublicKey), cancellationToken);
        var confirmed = await Bounded.ForEachAsync(peers, _options.MaxParallelRequests, async peer =>
        {
            foreach (var request in requests)
            {
                if ((await TryExchangeAsync(_ownerNetwork, peer, request, cancellationToken))?.KindCase != expected)
                {
                    return false;
                }
            }
            return true;
        });
        return confirmed.Count(ok => ok);
    }

    /// <summary>The response, or null when the node was unreachable or refused (logged with its reason).</summary>
    private async Task<Response?> TryExchangeAsync(IPeerNetwork network, DhtPeer peer, Request request, CancellationToken cancellationToken)
    {
        try
        {
            var answer = await ExchangeAsync(network, peer, request, cancellationToken);
            if (answer.Error.Length > 0)
            {
                MailboxLog.RequestRefusedBy(_logger, peer.Peer, request.KindCase.ToString(), answer.Error);
                return null;
            }
            return answer;
        }
        catch (IOException e)
        {
            MailboxLog.RequestFailed(_logger, request.KindCase.ToString(), peer.Peer, e.Message);
            return null;
        }
    }

    /// <summary>Strictly increasing, so two uploads in one millisecond are not taken for a replay.</summary>
    private long NextUploadTimestamp()
    {
        lock (_uploadClock)
        {
            _lastUploadMs = Math.Max(_lastUploadMs + 1, _time.GetUtcNow().ToUnixTimeMilliseconds());
            return _lastUploadMs;
        }
    }
}
