using Parley.Chat.Crypto;
using Parley.Chat.Devices;
using Parley.Chat.Directory;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;

namespace Parley.Chat.Sessions;

/// <summary>
/// Before a send to a contact: brings their device list up to date (only for a contact known to have one) and starts a
/// session (X3DH from the device's own prekey record and a one-time prekey at its mailbox) with each of their devices,
/// and each of our other devices, that has none yet, so that the send's transaction can encrypt to every one of them
/// (docs/devices.md). For a single-device contact and account it reads two settings and does nothing else.
/// </summary>
internal sealed class DeviceSessions(ChatContext context, IUserDirectory directory, IMailboxes mailboxes, PairwiseSessions sessions, DeviceFanout fanout)
{
    public async Task PrepareAsync(ContactRecord contact, CancellationToken cancellationToken)
    {
        await fanout.RefreshAsync(contact.Account, force: false, cancellationToken);
        await PrepareAsync(r => [(contact, fanout.TargetsOf(r, contact.Account)), (fanout.Self(), fanout.OwnOtherDevices(r))], cancellationToken);
    }

    /// <summary>Only our other devices: before a note to them alone (what was read here, <see cref="DeviceSyncNotes"/>).</summary>
    public Task PrepareOwnAsync(CancellationToken cancellationToken) =>
        PrepareAsync(r => [(fanout.Self(), fanout.OwnOtherDevices(r))], cancellationToken);

    private async Task PrepareAsync(Func<IChatReader, (ContactRecord Peer, IReadOnlyList<DeviceTarget>? Targets)[]> peers, CancellationToken cancellationToken)
    {
        var (missing, ourDevice) = await context.Store.ReadAsync(r =>
        {
            var lacking = new List<(ContactRecord Peer, DeviceTarget Device)>();
            foreach (var (peer, targets) in peers(r))
            {
                // Without devices to check (the usual single-device case) the sessions, sealed at rest, stay unread.
                if (targets is { Count: > 0 })
                {
                    var existing = r.GetSessions(peer.Account);
                    lacking.AddRange(targets.Where(t => !existing.Any(t.Owns)).Select(t => (peer, t)));
                }
            }
            return (lacking, lacking.Count == 0 ? null : sessions.OurDeviceKey(r));
        }, cancellationToken);
        if (missing.Count == 0)
        {
            return;
        }
        var started = new List<(ContactRecord Peer, DeviceTarget Device, SessionSetup Setup)>();
        foreach (var (peer, device) in missing)
        {
            if (await StartAsync(peer, device, ourDevice, cancellationToken) is { } setup)
            {
                started.Add((peer, device, setup));
            }
        }
        await context.Store.TransactAsync(tx =>
        {
            foreach (var (peer, device, setup) in started.Where(s => !tx.GetSessions(s.Peer.Account).Any(s.Device.Owns)))
            {
                sessions.Adopt(tx, peer, setup, device.Device);
            }
            return true;
        }, cancellationToken);
    }

    /// <summary>X3DH with one device from its own prekey record; null (logged) when it has none or they do not hold.</summary>
    private async Task<SessionSetup?> StartAsync(ContactRecord peer, DeviceTarget device, Core.Identity.PublicKey? ourDevice, CancellationToken cancellationToken)
    {
        try
        {
            var bundle = await directory.GetDevicePrekeysAsync(peer.Account, device.Device, cancellationToken);
            if (bundle is null)
            {
                ChatLog.DeviceSessionFailed(context.Logger, device.Device, "no prekey record");
                return null;
            }
            if (!bundle.Identity.DhKey.AsSpan().SequenceEqual(peer.IdentityDhKey))
            {
                ChatLog.DeviceSessionFailed(context.Logger, device.Device, "its identity key differs from the account's");
                return null;
            }
            SignedOneTimePrekey? oneTime = null;
            try
            {
                // The first device's one-time prekeys wait at the account mailbox, the others' at their own.
                oneTime = await mailboxes.ClaimOneTimePrekeyAsync(device.IsFirst ? peer.AccountKey : device.Key, cancellationToken);
            }
            catch (IOException e)
            {
                ChatLog.NoOneTimePrekey(context.Logger, e.Message);
            }
            return sessions.Start(peer, bundle.SignedPrekeyId, bundle.SignedPrekey, oneTime?.Id, oneTime?.PublicKey, ourDevice);
        }
        catch (Exception e) when (e is IOException or RatchetException)
        {
            ChatLog.DeviceSessionFailed(context.Logger, device.Device, e.Message);
            return null;
        }
    }
}
