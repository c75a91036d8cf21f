using System.Buffers.Binary;
using System.Security.Cryptography;
using Parley.Chat.Channels;
using Parley.Chat.Crypto;
using Parley.Chat.Devices;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;
using Parley.Core.Multiformats;

namespace Parley.Chat.Publishing;

/// <summary>
/// Keeps our account findable and reachable (docs/directory.md): presence (when the addresses change or it is due),
/// the signed prekey (rotated weekly) and its bundle, one-time prekeys at the mailboxes, the name claim, and the
/// mailbox policy (which senders' tokens need no stamp). Linked devices publish their certificates here too.
/// </summary>
internal sealed class DirectoryPublisher(ChatContext context, IUserDirectory directory, IMailboxes mailboxes, IPeerChannels channels, AccountDevices devices)
{
    private const string NextPrekeyIdSetting = "next-prekey-id";
    private const string UploadedOneTimeThroughSetting = "one-time-prekeys-uploaded-through";
    private const string PrekeysPublishedSetting = "prekeys-published-at";
    private const string NameRenewedSetting = "name-renewed-at";
    internal const string PolicySequenceSetting = "mailbox-policy-sequence";

    private IReadOnlyList<Multiaddr> _publishedAddresses = [];
    private DateTimeOffset _presencePublishedAt = DateTimeOffset.MinValue;
    private DateTimeOffset _policyPublishedAt = DateTimeOffset.MinValue;

    /// <summary>Publishes what is due; <paramref name="force"/> publishes everything now, as on start.</summary>
    public async Task<StartReport> PublishDueAsync(bool force, CancellationToken cancellationToken)
    {
        var presence = await Attempt("presence", () => PublishPresenceIfDueAsync(force, cancellationToken));
        var prekeys = await Attempt("prekeys", () => PublishPrekeysIfDueAsync(force, cancellationToken));
        if (force || presence > 0 || prekeys > 0)
        {
            // Another device may have linked or removed one meanwhile (this one, too); ours may know what the directory lost.
            await Attempt("device list", () => devices.RefreshAsync(cancellationToken));
        }
        await Attempt("one-time prekeys", () => ReplenishOneTimePrekeysAsync(cancellationToken));
        // The claim is the account's: renewed by the device that keeps the account records.
        var name = await devices.HoldsAccountRecordsAsync(cancellationToken) ? await Attempt("name", () => RenewNameIfDueAsync(force, cancellationToken)) : 0;
        // Mailbox nodes forget a policy 30 days after it was last sent, and new mailbox nodes need it too.
        if (force || context.Now - _policyPublishedAt >= context.Options.RenewInterval)
        {
            await Attempt("mailbox policy", () => PublishMailboxPolicyAsync(cancellationToken));
        }
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
            ChatLog.PublishFailed(context.Logger, what, e.Message);
            return 0;
        }
    }

    private async Task<int> PublishPresenceIfDueAsync(bool force, CancellationToken cancellationToken)
    {
        var addresses = channels.ListenAddresses;
        var now = context.Now;
        if (!context.Options.PublishPresence)
        {
            return 0;
        }
        if (!force && addresses.SequenceEqual(_publishedAddresses) && now - _presencePublishedAt < context.Options.PresenceRepublishInterval)
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
        var stored = 0;
        if (await devices.IsLinkedAsync(cancellationToken))
        {
            // A linked device's own record, which no other device overwrites (docs/devices.md).
            stored = await directory.PublishDevicePresenceAsync(context.Account, devices.ThisDevice, addresses, cancellationToken);
        }
        if (await devices.HoldsAccountRecordsAsync(cancellationToken))
        {
            var certificates = (await context.Store.ReadAsync(r => r.GetDeviceCertificates(), cancellationToken)).Select(b => DeviceCertificate.Parse(b)).ToList();
            stored = await directory.PublishPresenceAsync(context.Account, certificates, [new DeviceAddresses(channels.LocalDevice, addresses)], cancellationToken);
        }
        return stored;
    }

    /// <summary>This device's own presence and signed prekey records, published as soon as it is linked (or links another).</summary>
    public async Task PublishDeviceRecordsAsync(CancellationToken cancellationToken)
    {
        if (context.Options.PublishPresence)
        {
            await Attempt("device presence", () => directory.PublishDevicePresenceAsync(context.Account, devices.ThisDevice, channels.ListenAddresses, cancellationToken));
        }
        var current = (await context.Store.ReadAsync(r => r.GetPrekeys(oneTime: false), cancellationToken)).MaxBy(p => p.CreatedAt);
        if (current is not null)
        {
            await Attempt("device prekeys", () => directory.PublishDevicePrekeysAsync(context.Account, devices.ThisDevice.DeviceId, current.Id, current.PublicKey, cancellationToken));
        }
    }

    /// <summary>Tells the directory we are gone, so senders use the mailbox at once instead of dialling a dead address.</summary>
    public async Task PublishOfflineAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(3), context.Time);
        try
        {
            await PublishPresenceAsync([], timeout.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            ChatLog.OfflinePresenceFailed(context.Logger, e.Message);
        }
    }

    private async Task<int> PublishPrekeysIfDueAsync(bool force, CancellationToken cancellationToken)
    {
        var now = context.Now;
        var (current, rotated) = await context.Store.TransactAsync(tx =>
        {
            var signed = tx.GetPrekeys(oneTime: false);
            var newest = signed.MaxBy(p => p.CreatedAt);
            var rotate = newest is null || now - newest.CreatedAt >= context.Options.SignedPrekeyRotation;
            if (rotate)
            {
                var pair = X25519KeyPair.Generate(context.Crypto);
                newest = new PrekeyRecord(NextPrekeyId(tx), OneTime: false, pair.PrivateKey, pair.PublicKey, now);
                tx.PutPrekey(newest);
            }
            // Messages may still arrive for a retired prekey for a while; after the grace period they cannot.
            foreach (var old in signed.Where(p => p.Id != newest!.Id && now - p.CreatedAt > context.Options.SignedPrekeyRotation + context.Options.SignedPrekeyGrace))
            {
                tx.DeletePrekey(old.Id, oneTime: false);
            }
            return (newest!, rotate);
        }, cancellationToken);
        var published = await context.Store.ReadAsync(r => r.GetSetting(PrekeysPublishedSetting), cancellationToken);
        if (!force && !rotated && published is not null && now - FromSetting(published) < context.Options.RenewInterval)
        {
            return 0;
        }
        var stored = 0;
        if (await devices.IsLinkedAsync(cancellationToken))
        {
            stored = await directory.PublishDevicePrekeysAsync(context.Account, devices.ThisDevice.DeviceId, current.Id, current.PublicKey, cancellationToken);
        }
        if (await devices.HoldsAccountRecordsAsync(cancellationToken))
        {
            stored = await directory.PublishPrekeysAsync(context.Account, current.Id, current.PublicKey, cancellationToken);
        }
        await SaveTimeSettingAsync(PrekeysPublishedSetting, now, cancellationToken);
        return stored;
    }

    private async Task<int> ReplenishOneTimePrekeysAsync(CancellationToken cancellationToken)
    {
        var now = context.Now;
        var pending = await context.Store.TransactAsync(tx =>
        {
            var existing = tx.GetPrekeys(oneTime: true);
            var uploadedThrough = tx.GetSetting(UploadedOneTimeThroughSetting) is { } through ? BinaryPrimitives.ReadUInt32BigEndian(through) : 0u;
            if (existing.Count < context.Options.OneTimePrekeyBatch / 2)
            {
                for (var i = existing.Count; i < context.Options.OneTimePrekeyBatch; i++)
                {
                    var pair = X25519KeyPair.Generate(context.Crypto);
                    tx.PutPrekey(new PrekeyRecord(NextPrekeyId(tx), OneTime: true, pair.PrivateKey, pair.PublicKey, now));
                }
                existing = tx.GetPrekeys(oneTime: true);
            }
            return existing.Where(p => p.Id > uploadedThrough).ToList();
        }, cancellationToken);
        // Signed by the owner of the mailbox that hands them out, which is what a claimant checks them against.
        if (pending.Count == 0 || await devices.OwnMailboxAsync(cancellationToken) is not { } owner)
        {
            return 0;
        }
        var signed = pending.Select(p => SignedOneTimePrekey.Create(owner, p.Id, p.PublicKey)).ToList();
        var nodes = await mailboxes.UploadOneTimePrekeysAsync(owner, signed, cancellationToken);
        if (nodes > 0)
        {
            var through = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(through, pending.Max(p => p.Id));
            await context.Store.TransactAsync(tx =>
            {
                tx.PutSetting(UploadedOneTimeThroughSetting, through);
                return true;
            }, cancellationToken);
        }
        return nodes;
    }

    private async Task<int> RenewNameIfDueAsync(bool force, CancellationToken cancellationToken)
    {
        var now = context.Now;
        var (record, renewed) = await context.Store.ReadAsync(r => (r.GetAccount()!, r.GetSetting(NameRenewedSetting)), cancellationToken);
        if (!force && renewed is not null && now - FromSetting(renewed) < context.Options.RenewInterval)
        {
            return 0;
        }
        NameClaimResult result;
        if (record.NameProofOfWork is { } work)
        {
            result = await directory.RenewNameAsync(context.Account, record.Name, work, cancellationToken);
        }
        else
        {
            result = await directory.ClaimNameAsync(context.Account, record.Name, cancellationToken);
            await context.Store.TransactAsync(tx =>
            {
                tx.PutAccount(record with { NameProofOfWork = result.ProofOfWork });
                return true;
            }, cancellationToken);
        }
        await SaveTimeSettingAsync(NameRenewedSetting, now, cancellationToken);
        return result.Stored;
    }

    /// <summary>Tells our mailbox nodes which tokens (held by the contacts we accepted or asked) may deposit without proof of work.</summary>
    public async Task<int> PublishMailboxPolicyAsync(CancellationToken cancellationToken)
    {
        var (hashes, sequence) = await context.Store.TransactAsync(tx =>
        {
            var tokens = tx.GetContacts()
                .Where(c => c.State is ContactState.Accepted or ContactState.Requested or ContactState.GroupPeer && c.OurMailboxToken is not null)
                .Select(c => SHA256.HashData(c.OurMailboxToken!))
                .ToList();
            var previous = tx.GetSetting(PolicySequenceSetting) is { } bytes ? BinaryPrimitives.ReadUInt64BigEndian(bytes) : 0;
            var next = Math.Max(previous + 1, (ulong)context.Now.ToUnixTimeMilliseconds());
            var encoded = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(encoded, next);
            tx.PutSetting(PolicySequenceSetting, encoded);
            return (tokens, next);
        }, cancellationToken);
        if (await devices.OwnMailboxAsync(cancellationToken) is not { } owner)
        {
            return 0;
        }
        try
        {
            var stored = await mailboxes.SetPolicyAsync(owner, sequence, hashes, cancellationToken);
            if (stored > 0)
            {
                _policyPublishedAt = context.Now;
            }
            return stored;
        }
        catch (IOException e)
        {
            ChatLog.PolicyUpdateFailed(context.Logger, e.Message);
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
        await context.Store.TransactAsync(tx =>
        {
            tx.PutSetting(name, encoded);
            return true;
        }, cancellationToken);
    }

    private static DateTimeOffset FromSetting(byte[] value) => DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64BigEndian(value));
}
