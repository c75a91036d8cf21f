using System.Security.Cryptography;
using Google.Protobuf;
using Parley.Chat.Identity;
using Parley.Chat.Linking.Protos;
using Parley.Chat.Messaging;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net;

namespace Parley.Chat.Linking;

/// <summary>What linking brought: the account and how much of its state.</summary>
public sealed record LinkResult(PeerId Account, string Name, int Contacts, int Rooms, int Messages);

/// <summary>
/// The new device's side of linking (docs/linking.md): reaches the device the code names (its addresses, else where
/// <paramref name="findAddresses"/> says it is), proves it holds the code, shows the verification code, receives the
/// account and its snapshot and imports them in one transaction, and only then says so.
/// </summary>
public static class LinkClient
{
    /// <param name="findAddresses">Looks the existing device up (the DHT) when none of the code's addresses answers; may be null.</param>
    /// <param name="showVerificationCode">Called with the six digits once the existing device accepted the code.</param>
    /// <exception cref="LinkException">Refused (the message says why), unreachable, or broken off; nothing was stored.</exception>
    public static async Task<LinkResult> LinkAsync(
        IPeerNetwork network,
        IChatStore store,
        LinkCode code,
        string deviceName,
        Func<PeerId, CancellationToken, Task<IReadOnlyList<Multiaddr>>>? findAddresses,
        Action<string> showVerificationCode,
        TimeProvider time,
        ICryptoProvider crypto,
        LinkOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(code);
        ArgumentNullException.ThrowIfNull(showVerificationCode);
        if (code.IsExpired(time.GetUtcNow()))
        {
            throw new LinkException($"this link code expired at {code.ExpiresAt:HH:mm} UTC; make a new one on the existing device");
        }
        if (code.Device == network.LocalPeerId)
        {
            throw new LinkException("this link code was made on this device; use it on the new one");
        }
        if (await store.ReadAsync(r => r.GetAccount(), cancellationToken) is not null)
        {
            throw new LinkException("this data folder already has an account; link a new device from an empty data folder");
        }
        await ConnectAsync(network, code, findAddresses, cancellationToken);
        PeerStream stream;
        try
        {
            stream = await network.OpenStreamAsync(code.Device, [LinkProtocol.ProtocolId], cancellationToken);
        }
        catch (Exception e) when (e is IOException or PeerConnectionException or InvalidOperationException)
        {
            throw new LinkException($"the existing device does not take links ({e.Message}); is its node running with your account?", e);
        }
        await using (stream)
        {
            return await RunAsync(stream, network.LocalPeerId, store, code, deviceName, showVerificationCode, crypto, options, cancellationToken);
        }
    }

    private static async Task<LinkResult> RunAsync(PeerStream stream, PeerId self, IChatStore store, LinkCode code, string deviceName, Action<string> showVerificationCode, ICryptoProvider crypto, LinkOptions options, CancellationToken cancellationToken)
    {
        var secret = code.Secret;
        await LinkProtocol.WriteAsync(stream, new LinkRequest { Proof = ByteString.CopyFrom(LinkProtocol.Proof(crypto, secret, code.Device, self)), DeviceName = DeviceNames.Clean(deviceName) }, options.FrameTimeout, cancellationToken);
        var first = await ReadFrameAsync(stream, options.FrameTimeout, "the existing device to check the code", cancellationToken);
        if (first.KindCase != LinkFrame.KindOneofCase.Awaiting)
        {
            throw new LinkException("the existing device answered out of order");
        }
        showVerificationCode(LinkProtocol.VerificationCode(crypto, secret, code.Device, self));
        var accountFrame = await ReadFrameAsync(stream, options.ConfirmTimeout + options.FrameTimeout, "the confirmation on the existing device", cancellationToken);
        if (accountFrame.KindCase != LinkFrame.KindOneofCase.Account)
        {
            throw new LinkException("the existing device answered out of order");
        }
        var linked = accountFrame.Account;
        using var digest = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        digest.AppendData(linked.ToByteArray());
        var (account, certificate) = Check(linked, self, crypto);
        var parts = new List<byte[]>();
        long total = linked.CalculateSize();
        while (true)
        {
            var frame = await ReadFrameAsync(stream, options.FrameTimeout, "the account's snapshot", cancellationToken);
            if (frame.KindCase == LinkFrame.KindOneofCase.End)
            {
                if (frame.End.Parts != parts.Count || !CryptographicOperations.FixedTimeEquals(frame.End.Digest.Span, digest.GetHashAndReset()))
                {
                    throw new LinkException("the snapshot arrived damaged (its digest does not match); try again with a new code");
                }
                break;
            }
            if (frame.KindCase != LinkFrame.KindOneofCase.SnapshotPart)
            {
                throw new LinkException("the existing device answered out of order");
            }
            total += frame.SnapshotPart.Length;
            if (total > options.MaxSnapshotBytes)
            {
                throw new LinkException($"the snapshot is larger than {options.MaxSnapshotBytes >> 20} MiB");
            }
            var part = frame.SnapshotPart.ToByteArray();
            digest.AppendData(part);
            parts.Add(part);
        }
        try
        {
            await store.TransactAsync(tx =>
            {
                if (tx.GetAccount() is not null)
                {
                    throw new ChatException("this data folder got an account meanwhile");
                }
                tx.PutAccount(new AccountRecord(linked.AccountSeed.ToByteArray(), linked.IdentityDhPrivateKey.ToByteArray(), linked.Name,
                    linked.HasNameProofOfWork ? linked.NameProofOfWork : null, DateTimeOffset.FromUnixTimeMilliseconds(linked.CreatedAtUnixMs)));
                AccountSnapshot.Import(tx, parts, crypto);
                tx.PutDevice(certificate.Device.ToProtobuf(), certificate.ToBytes(), certificate.IssuedAt);
                tx.PutSetting(DeviceNames.SettingOf(self), System.Text.Encoding.UTF8.GetBytes(DeviceNames.Clean(deviceName)));
                return true;
            }, cancellationToken);
        }
        catch (Exception e) when (e is FormatException or ChatException or InvalidSignatureException or IOException)
        {
            await TryWriteAsync(stream, new LinkImported { Imported = false, Error = e.Message }, options, cancellationToken);
            throw new LinkException($"the account could not be stored here: {e.Message}", e);
        }
        // Committed: this device is the account now, whether or not the existing device hears it.
        await TryWriteAsync(stream, new LinkImported { Imported = true }, options, cancellationToken);
        var (contacts, rooms, messages) = AccountSnapshot.Count(parts);
        return new LinkResult(account.Id, linked.Name, contacts, rooms, messages);
    }

    private static (Account Account, DeviceCertificate Certificate) Check(LinkAccount linked, PeerId self, ICryptoProvider crypto)
    {
        try
        {
            var account = Account.FromSecrets(linked.AccountSeed.Span, linked.IdentityDhPrivateKey.Span, crypto);
            var certificate = DeviceCertificate.Parse(linked.DeviceCertificate.Span);
            if (!certificate.Account.Equals(account.PublicKey) || certificate.DeviceId != self)
            {
                throw new LinkException("the existing device sent a certificate for another account or device");
            }
            Handle.NormalizeName(linked.Name);
            return (account, certificate);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidSignatureException)
        {
            throw new LinkException($"the existing device sent a damaged account: {e.Message}", e);
        }
    }

    private static async Task<LinkFrame> ReadFrameAsync(PeerStream stream, TimeSpan timeout, string waitingFor, CancellationToken cancellationToken)
    {
        var frame = await LinkProtocol.ReadAsync(stream, LinkFrame.Parser, LinkProtocol.MaxFrameBytes, timeout, waitingFor, cancellationToken);
        if (frame.KindCase == LinkFrame.KindOneofCase.Refused)
        {
            throw new LinkException($"the existing device refused: {frame.Refused}");
        }
        return frame;
    }

    private static async Task TryWriteAsync(PeerStream stream, LinkImported answer, LinkOptions options, CancellationToken cancellationToken)
    {
        try
        {
            await LinkProtocol.WriteAsync(stream, answer, options.FrameTimeout, cancellationToken);
            await stream.CloseWriteAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The answer is a courtesy: the existing device keeps the enrollment once it sent everything.
        }
    }

    private static async Task ConnectAsync(IPeerNetwork network, LinkCode code, Func<PeerId, CancellationToken, Task<IReadOnlyList<Multiaddr>>>? findAddresses, CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        if (await TryAnyAsync(network, code.Device, code.Addresses, failures, cancellationToken))
        {
            return;
        }
        if (findAddresses is not null)
        {
            try
            {
                var found = await findAddresses(code.Device, cancellationToken);
                if (await TryAnyAsync(network, code.Device, found.Except(code.Addresses).ToList(), failures, cancellationToken))
                {
                    return;
                }
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                failures.Add($"looking it up in the DHT: {e.Message}");
            }
        }
        throw new LinkException($"cannot reach the existing device {code.Device}: {(failures.Count == 0 ? "no address is known for it" : string.Join("; ", failures.Take(4)))}. Is its node running (parley up or parley node)?");
    }

    /// <summary>Dials the addresses all at once (direct ones answer first; a relayed one is the fallback); true on the first connection.</summary>
    private static async Task<bool> TryAnyAsync(IPeerNetwork network, PeerId device, IReadOnlyList<Multiaddr> addresses, List<string> failures, CancellationToken cancellationToken)
    {
        if (network.ConnectedPeers.Contains(device))
        {
            return true;
        }
        var dials = addresses.Select(async address =>
        {
            try
            {
                return await network.ConnectAsync(address.WithPeerId(device), cancellationToken) == device;
            }
            catch (Exception e) when (e is PeerConnectionException or IOException or System.Net.Sockets.SocketException)
            {
                lock (failures)
                {
                    failures.Add($"{address}: {e.Message}");
                }
                return false;
            }
        }).ToList();
        while (dials.Count > 0)
        {
            var done = await Task.WhenAny(dials);
            dials.Remove(done);
            if (await done)
            {
                return true;
            }
        }
        return false;
    }
}
