using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Parley.Chat.Identity;
using Parley.Chat.Linking.Protos;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Linking;

public enum LinkOfferState
{
    /// <summary>The code is shown; no device has proved it holds it yet.</summary>
    Waiting,

    /// <summary>A device proved it holds the code: the user compares the verification codes and confirms.</summary>
    Confirming,

    /// <summary>Confirmed: the account and its snapshot are on their way.</summary>
    Transferring,

    /// <summary>The new device committed the account.</summary>
    Linked,

    /// <summary>Declined, expired, too many wrong attempts, or the transfer broke off (<see cref="LinkOffer.Error"/>).</summary>
    Failed,
}

/// <summary>One link code made on this device and how its use is going. Used once, whatever the outcome.</summary>
public sealed class LinkOffer
{
    private readonly TaskCompletionSource<bool> _decision = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal LinkOffer(LinkCode code) => Code = code;

    public LinkCode Code { get; }

    public LinkOfferState State { get; private set; }

    /// <summary>The six digits to compare, once a device proved it holds the code.</summary>
    public string? VerificationCode { get; private set; }

    public string? DeviceName { get; private set; }

    public PeerId? Device { get; private set; }

    public string? Error { get; private set; }

    internal int WrongAttempts { get; set; }

    internal Task<bool> Decision => _decision.Task;

    /// <summary>The user's answer to "does the new device show the same code?"; false declines. Ignored unless confirming.</summary>
    public bool Decide(bool accept) => State == LinkOfferState.Confirming && _decision.TrySetResult(accept);

    internal void Claim(PeerId device, string name, string verificationCode)
    {
        Device = device;
        DeviceName = name;
        VerificationCode = verificationCode;
        State = LinkOfferState.Confirming;
    }

    internal void MoveTo(LinkOfferState state, string? error = null)
    {
        State = state;
        Error = error;
        _decision.TrySetResult(false);
    }
}

/// <summary>
/// The existing device's side of linking (<c>/parley/link/1.0.0</c>, docs/linking.md): makes one-time codes, checks
/// the proof a new device sends, waits for the user's confirmation, then enrolls the device and hands over the account
/// key, the identity DH key and a snapshot of the account. One offer is open at a time; a new one replaces it.
/// </summary>
public sealed class DeviceLinker : IDisposable
{
    private const int RememberedOffers = 8;

    private readonly IPeerNetwork _network;
    private readonly IChatStore _store;
    private readonly Account _account;
    private readonly IDeviceEnrollment _enrollment;
    private readonly TimeProvider _time;
    private readonly ICryptoProvider _crypto;
    private readonly LinkOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly List<LinkOffer> _offers = [];
    private readonly Queue<DateTimeOffset> _recentRequests = new();

    public DeviceLinker(IPeerNetwork network, IChatStore store, Account account, IDeviceEnrollment enrollment, TimeProvider time, ICryptoProvider crypto, LinkOptions options, ILogger logger)
    {
        _network = network;
        _store = store;
        _account = account;
        _enrollment = enrollment;
        _time = time;
        _crypto = crypto;
        _options = options;
        _logger = logger;
        network.SetStreamHandler(LinkProtocol.ProtocolId, HandleAsync);
    }

    /// <summary>The offer made last, in whatever state it is.</summary>
    public LinkOffer? Current
    {
        get
        {
            lock (_lock)
            {
                return _offers.Count == 0 ? null : _offers[^1];
            }
        }
    }

    /// <summary>A new one-time code naming this device and <paramref name="addresses"/>; an offer still waiting is withdrawn.</summary>
    public LinkOffer CreateOffer(IReadOnlyList<Multiaddr> addresses)
    {
        var secret = new byte[LinkCode.SecretLength];
        _crypto.RandomBytes(secret);
        // Relayed addresses last: a direct connection is tried first anyway, and the code keeps at most 8.
        var ordered = addresses.Where(a => !a.IsCircuit).Take(LinkCode.MaxAddresses - Math.Min(2, addresses.Count(a => a.IsCircuit)))
            .Concat(addresses.Where(a => a.IsCircuit).Take(2)).ToList();
        var offer = new LinkOffer(new LinkCode(secret, _time.GetUtcNow() + _options.OfferLifetime, _network.LocalPeerId, ordered));
        lock (_lock)
        {
            if (_offers.Count > 0 && _offers[^1].State == LinkOfferState.Waiting)
            {
                _offers[^1].MoveTo(LinkOfferState.Failed, "replaced by a newer link code");
            }
            _offers.Add(offer);
            if (_offers.Count > RememberedOffers)
            {
                _offers.RemoveAt(0);
            }
        }
        return offer;
    }

    public void Dispose() => _network.RemoveStreamHandler(LinkProtocol.ProtocolId);

    private async Task HandleAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        var joining = stream.RemotePeer;
        LinkOffer? offer = null;
        try
        {
            offer = await ClaimAsync(stream, joining, cancellationToken);
            if (offer is null)
            {
                return;
            }
            await TransferAsync(stream, offer, joining, cancellationToken);
        }
        catch (LinkException e)
        {
            LinkLog.Failed(_logger, joining, e.Message);
            offer?.MoveTo(LinkOfferState.Failed, e.Message);
            await RefuseAsync(stream, e.Message, cancellationToken);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            LinkLog.Failed(_logger, joining, e.Message);
            offer?.MoveTo(LinkOfferState.Failed, $"the link broke off: {e.Message}");
        }
    }

    /// <summary>Reads the request and finds the offer it proves; null when refused (the refusal is sent).</summary>
    private async Task<LinkOffer?> ClaimAsync(PeerStream stream, PeerId joining, CancellationToken cancellationToken)
    {
        if (!TakeRequestSlot())
        {
            await RefuseAsync(stream, "too many link attempts on this device; wait a minute and try again", cancellationToken);
            return null;
        }
        var request = await LinkProtocol.ReadAsync(stream, LinkRequest.Parser, LinkProtocol.MaxRequestBytes, _options.FrameTimeout, "the link request", cancellationToken);
        var self = _network.LocalPeerId;
        if (joining.TryExtractPublicKey() is null)
        {
            await RefuseAsync(stream, "a Parley device key is Ed25519", cancellationToken);
            return null;
        }
        var now = _time.GetUtcNow();
        string? refusal;
        LinkOffer? claimed = null;
        lock (_lock)
        {
            var matched = _offers.FirstOrDefault(o => LinkProtocol.ProofMatches(_crypto, o.Code.Secret, self, joining, request.Proof.Span));
            var current = _offers.Count == 0 ? null : _offers[^1];
            if (matched is null)
            {
                refusal = "wrong link code: it is not the code this device shows (check it, or make a new one with parley device link)";
                if (current is { State: LinkOfferState.Waiting } && ++current.WrongAttempts >= _options.MaxWrongAttempts)
                {
                    current.MoveTo(LinkOfferState.Failed, "too many wrong codes were tried; make a new one");
                }
            }
            else if (matched.State != LinkOfferState.Waiting)
            {
                refusal = matched.Error == "replaced by a newer link code"
                    ? "this link code was replaced by a newer one; use the code the device shows now"
                    : "this link code was already used; make a new one with parley device link";
            }
            else if (matched.Code.IsExpired(now))
            {
                matched.MoveTo(LinkOfferState.Failed, "the link code expired");
                refusal = $"this link code expired at {matched.Code.ExpiresAt:HH:mm} UTC; make a new one with parley device link";
            }
            else
            {
                refusal = null;
                claimed = matched;
                claimed.Claim(joining, DeviceNames.Clean(request.DeviceName), LinkProtocol.VerificationCode(_crypto, matched.Code.Secret, self, joining));
            }
        }
        if (refusal is not null)
        {
            LinkLog.Refused(_logger, joining, refusal);
            await RefuseAsync(stream, refusal, cancellationToken);
            return null;
        }
        await LinkProtocol.WriteAsync(stream, new LinkFrame { Awaiting = new LinkAwaiting() }, _options.FrameTimeout, cancellationToken);
        return claimed;
    }

    private async Task TransferAsync(PeerStream stream, LinkOffer offer, PeerId joining, CancellationToken cancellationToken)
    {
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            wait.CancelAfter(_options.ConfirmTimeout);
            bool accepted;
            try
            {
                accepted = await offer.Decision.WaitAsync(wait.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new LinkException("nobody confirmed the link on the existing device in time; make a new code and try again");
            }
            if (!accepted)
            {
                throw new LinkException(offer.State == LinkOfferState.Confirming ? "the link was declined on the existing device" : offer.Error ?? "the link was cancelled");
            }
        }
        offer.MoveTo(LinkOfferState.Transferring);
        var deviceKey = joining.TryExtractPublicKey()!;
        var record = await _store.ReadAsync(r => r.GetAccount(), cancellationToken) ?? throw new LinkException("this device has no account to hand over");
        // Enrolled first, so that the snapshot carries the device list that names the new device (not as the first).
        var certificate = await _enrollment.EnrollAsync(deviceKey, offer.DeviceName!, cancellationToken);
        var parts = await AccountSnapshot.ExportAsync(_store, _account.Id, _crypto, _options.HistoryPerConversation, cancellationToken);
        var endSent = false;
        try
        {
            var account = new LinkFrame
            {
                Account = new LinkAccount
                {
                    AccountSeed = ByteString.CopyFrom(record.AccountSeed),
                    IdentityDhPrivateKey = ByteString.CopyFrom(record.IdentityDhPrivateKey),
                    Name = record.Name,
                    CreatedAtUnixMs = record.CreatedAt.ToUnixTimeMilliseconds(),
                    DeviceCertificate = ByteString.CopyFrom(certificate.ToBytes()),
                },
            };
            if (record.NameProofOfWork is { } pow)
            {
                account.Account.NameProofOfWork = pow;
            }
            using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var accountBytes = account.Account.ToByteArray();
            digest.AppendData(accountBytes);
            await LinkProtocol.WriteAsync(stream, account, _options.FrameTimeout, cancellationToken);
            CryptographicOperations.ZeroMemory(accountBytes);
            foreach (var part in parts)
            {
                digest.AppendData(part);
                await LinkProtocol.WriteAsync(stream, new LinkFrame { SnapshotPart = ByteString.CopyFrom(part) }, _options.FrameTimeout, cancellationToken);
            }
            var end = new LinkFrame { End = new LinkEnd { Parts = (uint)parts.Count, Digest = ByteString.CopyFrom(digest.GetHashAndReset()) } };
            // From the moment the end goes out the new device may commit: the enrollment then stays, whatever follows.
            endSent = true;
            await LinkProtocol.WriteAsync(stream, end, _options.FrameTimeout, cancellationToken);
        }
        catch (Exception e) when (!endSent && e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            await WithdrawAsync(joining);
            throw new LinkException($"the transfer to the new device broke off: {e.Message}", e);
        }
        var answer = await LinkProtocol.ReadAsync(stream, LinkImported.Parser, LinkProtocol.MaxRequestBytes, _options.ImportTimeout, "the new device to store the account", cancellationToken);
        if (!answer.Imported)
        {
            await WithdrawAsync(joining);
            throw new LinkException($"the new device could not store the account: {answer.Error}");
        }
        offer.MoveTo(LinkOfferState.Linked);
        LinkLog.Linked(_logger, joining, parts.Count);
    }

    private async Task WithdrawAsync(PeerId device)
    {
        try
        {
            await _enrollment.WithdrawAsync(device, CancellationToken.None);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            LinkLog.Failed(_logger, device, $"could not withdraw the enrollment: {e.Message}");
        }
    }

    private async Task RefuseAsync(PeerStream stream, string reason, CancellationToken cancellationToken)
    {
        try
        {
            await LinkProtocol.WriteAsync(stream, new LinkFrame { Refused = reason }, _options.FrameTimeout, cancellationToken);
            await stream.CloseWriteAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            LinkLog.Failed(_logger, stream.RemotePeer, $"could not send the refusal: {e.Message}");
        }
    }

    private bool TakeRequestSlot()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            while (_recentRequests.Count > 0 && now - _recentRequests.Peek() > TimeSpan.FromMinutes(1))
            {
                _recentRequests.Dequeue();
            }
            if (_recentRequests.Count >= _options.MaxRequestsPerMinute)
            {
                return false;
            }
            _recentRequests.Enqueue(now);
            return true;
        }
    }
}

internal static partial class LinkLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "link request from {Peer} refused: {Reason}")]
    public static partial void Refused(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "linking with {Peer} failed: {Reason}")]
    public static partial void Failed(ILogger logger, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "linked device {Peer} ({Parts} snapshot parts)")]
    public static partial void Linked(ILogger logger, PeerId peer, int parts);
}
