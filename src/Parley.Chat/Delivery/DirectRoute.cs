using System.Collections.Concurrent;
using Parley.Chat.Channels;
using Parley.Chat.Directory;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Core.Identity;
using Parley.Net;

namespace Parley.Chat.Delivery;

/// <summary>
/// Delivery straight to the recipient's online devices: their presence from the directory (cached; a failed delivery
/// drops it), then every envelope offered on the peer channel to each device until one takes it. A relayed address in
/// the presence is dialled the same way, so NAT-aware delivery (direct, then relay) is a matter of the addresses and
/// of the channel below, not of this class.
/// </summary>
internal sealed class DirectRoute(ChatContext context, IUserDirectory directory, IPeerChannels channels)
{
    private readonly ConcurrentDictionary<PeerId, (Presence? Presence, DateTimeOffset LookedUpAt)> _presence = new();

    /// <summary>
    /// Offers every envelope to the recipient's online devices, pipelined on one channel per device (so a batch costs
    /// about one round trip, not one per envelope); an answer stays null when no device took the envelope.
    /// </summary>
    /// <param name="device">One device of a linked account (its own presence record, docs/devices.md); null: the account's presence.</param>
    public async Task<ChatResponse?[]> SendAsync(PeerId recipient, PeerId? device, IReadOnlyList<OutboxItem> items, CancellationToken cancellationToken)
    {
        var responses = new ChatResponse?[items.Count];
        var presence = device is null ? await LookUpPresenceAsync(recipient, cancellationToken) : await LookUpDevicePresenceAsync(recipient, device, cancellationToken);
        if (presence is null)
        {
            return responses;
        }
        foreach (var online in presence.Addresses.Where(a => a.Addresses.Count > 0))
        {
            var pending = Enumerable.Range(0, items.Count).Where(i => responses[i] is null).ToList();
            if (pending.Count == 0)
            {
                break;
            }
            var answers = await Task.WhenAll(pending.Select(i => TrySendAsync(online, Envelope.Parser.ParseFrom(items[i].Envelope), cancellationToken)));
            for (var k = 0; k < pending.Count; k++)
            {
                responses[pending[k]] = answers[k];
            }
        }
        return responses;
    }

    /// <summary>
    /// True when <paramref name="device"/> is a device of someone we delivered to or looked up lately (their presence
    /// is cached, at most <see cref="ChatOptions.PresenceCacheTime"/>): the node keeps connections to them when it
    /// trims, as it keeps its routing table's.
    /// </summary>
    public bool IsRecentDevice(PeerId device)
    {
        var since = context.Now - context.Options.PresenceCacheTime;
        return _presence.Values.Any(entry => entry.LookedUpAt > since && entry.Presence?.Addresses.Any(a => a.Device.Equals(device)) == true);
    }

    /// <summary>
    /// Offers one envelope that must not wait nor be kept (typing, presence) to the recipient's online devices; false
    /// when none took it. <paramref name="seal"/> encrypts it only once the recipient seems to be online, so that a
    /// note to someone away spends no message key.
    /// </summary>
    /// <param name="device">One device of a linked account (its own presence record); null: the account's presence.</param>
    public async Task<bool> SendNowAsync(PeerId recipient, PeerId? device, Func<Task<Envelope?>> seal, CancellationToken cancellationToken)
    {
        var presence = device is null ? await LookUpPresenceAsync(recipient, cancellationToken) : await LookUpDevicePresenceAsync(recipient, device, cancellationToken);
        if (presence is null || await seal() is not { } envelope)
        {
            return false;
        }
        foreach (var online in presence.Addresses.Where(a => a.Addresses.Count > 0))
        {
            if (await TrySendAsync(online, envelope, cancellationToken) is { Status: ChatResponse.Types.Status.Accepted or ChatResponse.Types.Status.Duplicate })
            {
                return true;
            }
        }
        Forget(device ?? recipient);
        return false;
    }

    /// <summary>A delivery to <paramref name="recipient"/> (an account, or one linked device) failed: look their presence up again next time.</summary>
    public void Forget(PeerId recipient) => _presence.TryRemove(recipient, out _);

    private async Task<ChatResponse?> TrySendAsync(DeviceAddresses device, Envelope envelope, CancellationToken cancellationToken)
    {
        try
        {
            return await channels.SendAsync(device.Device, device.Addresses, envelope, cancellationToken);
        }
        catch (Exception e) when (e is PeerConnectionException or IOException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            ChatLog.DirectDeliveryFailed(context.Logger, device.Device, e.Message);
            return null;
        }
    }

    /// <summary>Where an account's devices are, from the directory; cached, a failed delivery drops it (<see cref="Forget"/>).</summary>
    public Task<Presence?> LookUpPresenceAsync(PeerId account, CancellationToken cancellationToken) =>
        LookUpAsync(account, account, ct => directory.GetPresenceAsync(account, ct), cancellationToken);

    /// <summary>Where one linked device of an account is, from its own presence record; cached under the device's id.</summary>
    private Task<Presence?> LookUpDevicePresenceAsync(PeerId account, PeerId device, CancellationToken cancellationToken) =>
        LookUpAsync(device, account, ct => directory.GetDevicePresenceAsync(account, device, ct), cancellationToken);

    private async Task<Presence?> LookUpAsync(PeerId key, PeerId account, Func<CancellationToken, Task<Presence?>> lookUp, CancellationToken cancellationToken)
    {
        var now = context.Now;
        if (_presence.TryGetValue(key, out var cached)
            && now - cached.LookedUpAt < (cached.Presence is null ? context.Options.AbsentPresenceCacheTime : context.Options.PresenceCacheTime))
        {
            return cached.Presence;
        }
        Presence? presence = null;
        try
        {
            presence = await lookUp(cancellationToken);
        }
        catch (IOException e)
        {
            ChatLog.PresenceLookupFailed(context.Logger, account, e.Message);
        }
        _presence[key] = (presence, now);
        return presence;
    }
}
