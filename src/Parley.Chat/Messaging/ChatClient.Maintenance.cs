using System.Buffers.Binary;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Parley.Chat.Crypto;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Chat.Mailbox;
using Parley.Core.Multiformats;

namespace Parley.Chat.Messaging;

public sealed partial class ChatClient
{
    private const string NextPrekeyIdSetting = "next-prekey-id";
    private const string UploadedOneTimeThroughSetting = "one-time-prekeys-uploaded-through";
    private const string PrekeysPublishedSetting = "prekeys-published-at";
    private const string NameRenewedSetting = "name-renewed-at";
    private const string PolicySequenceSetting = "mailbox-policy-sequence";

    private IReadOnlyList<Multiaddr> _publishedAddresses = [];
    private DateTimeOffset _presencePublishedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _policyPublishedAt = DateTimeOffset.MinValue;

    /// <summary>
    /// Keeps the user's directory records and mailbox state current: presence (when addresses changed or it is due),
    /// the signed prekey (rotated weekly) and its bundle, one-time prekeys at the mailbox nodes, the name claim, and the
    /// mailbox policy. <paramref name="force"/> publishes everything now, as on start.
    /// </summary>
    public async Task<StartReport> RunMaintenanceOnceAsync(bool force, CancellationToken cancellationToken)
    {
        var presence = await Attempt("presence", () => PublishPresenceIfDueAsync(force, cancellationToken));
        var prekeys = await Attempt("prekeys", () => PublishPrekeysIfDueAsync(force, cancellationToken));
        await Attempt("one-time prekeys", () => ReplenishOneTimePrekeysAsync(cancellationToken));
        var name = await Attempt("name", () => RenewNameIfDueAsync(force, cancellationToken));
        // Mailbox nodes forget a policy 30 days after it was last sent, and new mailbox nodes need it too.
        if (force || _time.GetUtcNow() - _policyPublishedAt >= _options.RenewInterval)
        {
            await Attempt("mailbox policy", () => PublishMailboxPolicyAsync(cancellationToken));
        }
        await _store.TransactAsync(tx =>
        {
            tx.ForgetSeenEnvelopes(_time.GetUtcNow() - _options.OutboxLifetime - TimeSpan.FromDays(1));
            return true;
        }, cancellationToken);
        return new StartReport(presence, prekeys, name, 0, 0);
    }

    private async Task<int> Attempt(string what, Func<Task<int>> work)
    {
        try
        {
            return await work();
        }
        catch (Exception e) when (e is IOException or TimeoutException or Dht.Records.RecordValidationException)
        {
            _logger.LogWarning("could not publish {What}: {Reason}", what, e.Message);
            return 0;
        }
    }

    private async Task<int> PublishPresenceIfDueAsync(bool force, CancellationToken cancellationToken)
    {
        var addresses = _network.ListenAddresses;
        var now = _time.GetUtcNow();
        if (!_options.PublishPresence)
        {
            return 0;
        }
        if (!force && addresses.SequenceEqual(_publishedAddresses) && now - _presencePublishedAt < _options.PresenceRepublishInterval)
        {
            return 0;
        }
        var stored = await PublishPresenceAsync(addresses, cancellationToken);
        _publishedAddresses = addresses;
        _presencePublishedAt = now;
        return stored;
    }

    private async Task<int> PublishPresenceAsync(IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        var devices = (await _store.ReadAsync(r => r.GetDeviceCertificates(), cancellationToken)).Select(b => DeviceCertificate.Parse(b)).ToList();
        return await _directory.PublishPresenceAsync(Account, devices, [new DeviceAddresses(_network.LocalPeerId, addresses)], cancellationToken);
    }

    /// <summary>Tells the directory we are gone, so senders use the mailbox at once instead of dialling a dead address.</summary>
    private async Task PublishOfflineAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await PublishPresenceAsync([], timeout.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            _logger.LogDebug("could not publish offline presence: {Reason}", e.Message);
        }
    }

    private async Task<int> PublishPrekeysIfDueAsync(bool force, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var (current, rotated) = await _store.TransactAsync(tx =>
        {
            var signed = tx.GetPrekeys(oneTime: false);
            var newest = signed.MaxBy(p => p.CreatedAt);
            var rotate = newest is null || now - newest.CreatedAt >= _options.SignedPrekeyRotation;
            if (rotate)
            {
                var pair = X25519KeyPair.Generate(_crypto);
                newest = new PrekeyRecord(NextPrekeyId(tx), OneTime: false, pair.PrivateKey, pair.PublicKey, now);
                tx.PutPrekey(newest);
            }
            // Messages may still arrive for a retired prekey for a while; after the grace period they cannot.
            foreach (var old in signed.Where(p => p.Id != newest!.Id && now - p.CreatedAt > _options.SignedPrekeyRotation + _options.SignedPrekeyGrace))
            {
                tx.DeletePrekey(old.Id, oneTime: false);
            }
            return (newest!, rotate);
        }, cancellationToken);
        var published = await _store.ReadAsync(r => r.GetSetting(PrekeysPublishedSetting), cancellationToken);
        if (!force && !rotated && published is not null && now - FromSetting(published) < _options.RenewInterval)
        {
            return 0;
        }
        var stored = await _directory.PublishPrekeysAsync(Account, current.Id, current.PublicKey, cancellationToken);
        await SaveTimeSettingAsync(PrekeysPublishedSetting, now, cancellationToken);
        return stored;
    }

    private async Task<int> ReplenishOneTimePrekeysAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var pending = await _store.TransactAsync(tx =>
        {
            var existing = tx.GetPrekeys(oneTime: true);
            var uploadedThrough = tx.GetSetting(UploadedOneTimeThroughSetting) is { } through ? BinaryPrimitives.ReadUInt32BigEndian(through) : 0u;
            if (existing.Count < _options.OneTimePrekeyBatch / 2)
            {
                for (var i = existing.Count; i < _options.OneTimePrekeyBatch; i++)
                {
                    var pair = X25519KeyPair.Generate(_crypto);
                    tx.PutPrekey(new PrekeyRecord(NextPrekeyId(tx), OneTime: true, pair.PrivateKey, pair.PublicKey, now));
                }
                existing = tx.GetPrekeys(oneTime: true);
            }
            return existing.Where(p => p.Id > uploadedThrough).ToList();
        }, cancellationToken);
        if (pending.Count == 0)
        {
            return 0;
        }
        var signed = pending.Select(p => SignedOneTimePrekey.Create(Account.SigningKey, p.Id, p.PublicKey)).ToList();
        var nodes = await _mailbox.UploadOneTimePrekeysAsync(Account.SigningKey, signed, cancellationToken);
        if (nodes > 0)
        {
            var through = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(through, pending.Max(p => p.Id));
            await _store.TransactAsync(tx =>
            {
                tx.PutSetting(UploadedOneTimeThroughSetting, through);
                return true;
            }, cancellationToken);
        }
        return nodes;
    }

    private async Task<int> RenewNameIfDueAsync(bool force, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var (record, renewed) = await _store.ReadAsync(r => (r.GetAccount()!, r.GetSetting(NameRenewedSetting)), cancellationToken);
        if (!force && renewed is not null && now - FromSetting(renewed) < _options.RenewInterval)
        {
            return 0;
        }
        NameClaimResult result;
        if (record.NameProofOfWork is { } work)
        {
            result = await _directory.RenewNameAsync(Account, record.Name, work, cancellationToken);
        }
        else
        {
            result = await _directory.ClaimNameAsync(Account, record.Name, cancellationToken);
            await _store.TransactAsync(tx =>
            {
                tx.PutAccount(record with { NameProofOfWork = result.ProofOfWork });
                return true;
            }, cancellationToken);
        }
        await SaveTimeSettingAsync(NameRenewedSetting, now, cancellationToken);
        return result.Stored;
    }

    /// <summary>Tells our mailbox nodes which tokens (held by the contacts we accepted or asked) may deposit without proof of work.</summary>
    private async Task<int> PublishMailboxPolicyAsync(CancellationToken cancellationToken)
    {
        var (hashes, sequence) = await _store.TransactAsync(tx =>
        {
            var tokens = tx.GetContacts()
                .Where(c => c.State is ContactState.Accepted or ContactState.Requested or ContactState.GroupPeer && c.OurMailboxToken is not null)
                .Select(c => SHA256.HashData(c.OurMailboxToken!))
                .ToList();
            var previous = tx.GetSetting(PolicySequenceSetting) is { } bytes ? BinaryPrimitives.ReadUInt64BigEndian(bytes) : 0;
            var next = Math.Max(previous + 1, (ulong)_time.GetUtcNow().ToUnixTimeMilliseconds());
            var encoded = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(encoded, next);
            tx.PutSetting(PolicySequenceSetting, encoded);
            return (tokens, next);
        }, cancellationToken);
        try
        {
            var stored = await _mailbox.SetPolicyAsync(Account.SigningKey, sequence, hashes, cancellationToken);
            if (stored > 0)
            {
                _policyPublishedAt = _time.GetUtcNow();
            }
            return stored;
        }
        catch (IOException e)
        {
            _logger.LogWarning("could not update the mailbox policy (retried on the next start): {Reason}", e.Message);
            return 0;
        }
    }

    private static uint NextPrekeyId(IChatTransaction tx)
    {
        var next = tx.GetSetting(NextPrekeyIdSetting) is { } bytes ? BinaryPrimitives.ReadUInt32BigEndian(bytes) : 1u;
        var encoded = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(encoded, next + 1);
        tx.PutSetting(NextPrekeyIdSetting, encoded);
        return next;
    }

    private async Task SaveTimeSettingAsync(string name, DateTimeOffset time, CancellationToken cancellationToken)
    {
        var encoded = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(encoded, time.ToUnixTimeMilliseconds());
        await _store.TransactAsync(tx =>
        {
            tx.PutSetting(name, encoded);
            return true;
        }, cancellationToken);
    }

    private static DateTimeOffset FromSetting(byte[] value) => DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(value));
}
