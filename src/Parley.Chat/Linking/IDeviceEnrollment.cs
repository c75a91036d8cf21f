using Parley.Chat.Devices;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Core.Identity;

namespace Parley.Chat.Linking;

/// <summary>
/// How linking adds a device to the account's device list and takes back an addition that did not finish: the seam
/// between the linking ceremony and the account's device list (<see cref="AccountDevices"/>).
/// </summary>
public interface IDeviceEnrollment
{
    /// <summary>Certifies <paramref name="deviceKey"/> with the account key and lists it among the account's devices.</summary>
    Task<DeviceCertificate> EnrollAsync(PublicKey deviceKey, string deviceName, CancellationToken cancellationToken);

    /// <summary>Takes back an enrollment the account never reached.</summary>
    Task WithdrawAsync(PeerId device, CancellationToken cancellationToken);
}

/// <summary>
/// Enrollment into the account's device list (<see cref="AccountDevices.AddAsync"/>, which publishes it), with the
/// certificate and the device's name also kept in this device's store, where <c>parley device list</c> reads them.
/// </summary>
public sealed class StoredDeviceEnrollment(IChatStore store, AccountDevices devices) : IDeviceEnrollment
{
    public async Task<DeviceCertificate> EnrollAsync(PublicKey deviceKey, string deviceName, CancellationToken cancellationToken)
    {
        var certificate = await devices.AddAsync(deviceKey, deviceName, cancellationToken);
        await store.TransactAsync(tx =>
        {
            tx.PutDevice(deviceKey.ToProtobuf(), certificate.ToBytes(), certificate.IssuedAt);
            tx.PutSetting(DeviceNames.SettingOf(certificate.DeviceId), System.Text.Encoding.UTF8.GetBytes(deviceName));
            return true;
        }, cancellationToken);
        return certificate;
    }

    /// <summary>
    /// Forgets the stored certificate. The key stays in the published device list: removing it there would bar it for
    /// good (<see cref="AccountDevices.RemoveAsync"/>), and a retry from the same folder must work; listed, it holds no
    /// account key and, until messages are sent to every device, receives nothing.
    /// </summary>
    public Task WithdrawAsync(PeerId device, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(device);
        var key = device.TryExtractPublicKey() ?? throw new ArgumentException("a device id names an Ed25519 key", nameof(device));
        return store.TransactAsync(tx =>
        {
            tx.DeleteDevice(key.ToProtobuf());
            return true;
        }, cancellationToken);
    }
}

/// <summary>The names users give their devices (shown by <c>parley device list</c>), kept as settings so a snapshot carries them.</summary>
public static class DeviceNames
{
    public const int MaxLength = 40;

    public static string SettingOf(PeerId device) => $"device-name/{device}";

    /// <summary>A name as given, made safe to show: control characters dropped, trimmed, at most <see cref="MaxLength"/> characters.</summary>
    public static string Clean(string? name)
    {
        var cleaned = new string((name ?? "").Where(c => !char.IsControl(c)).ToArray()).Trim();
        return cleaned.Length == 0 ? "unnamed device" : cleaned.Length > MaxLength ? cleaned[..MaxLength] : cleaned;
    }

    public static string? Of(IChatReader reader, PeerId device) =>
        reader.GetSetting(SettingOf(device)) is { } bytes ? System.Text.Encoding.UTF8.GetString(bytes) : null;
}
