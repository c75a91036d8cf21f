using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Core.Identity;

namespace Parley.Chat.Linking;

/// <summary>
/// How linking adds a device to the account's device list and takes back an addition that did not finish. The seam
/// between the linking ceremony and the account's device list (issue 15): <see cref="StoredDeviceEnrollment"/> now;
/// the multi-device core's <c>AccountDevices</c> when it lands.
/// </summary>
public interface IDeviceEnrollment
{
    /// <summary>Certifies <paramref name="deviceKey"/> with the account key and lists it among the account's devices.</summary>
    Task<DeviceCertificate> EnrollAsync(PublicKey deviceKey, string deviceName, CancellationToken cancellationToken);

    /// <summary>Takes a device off the list again: its enrollment was made but the account never reached it.</summary>
    Task WithdrawAsync(PeerId device, CancellationToken cancellationToken);
}

/// <summary>
/// The enrollment that main has: the account key signs a <see cref="DeviceCertificate"/>, stored with the device's name
/// in the chat store, where the presence record (which carries the account's device certificates) finds it.
/// </summary>
public sealed class StoredDeviceEnrollment(IChatStore store, Account account, TimeProvider time) : IDeviceEnrollment
{
    public async Task<DeviceCertificate> EnrollAsync(PublicKey deviceKey, string deviceName, CancellationToken cancellationToken)
    {
        var certificate = account.CertifyDevice(deviceKey, time.GetUtcNow());
        await store.TransactAsync(tx =>
        {
            tx.PutDevice(deviceKey.ToProtobuf(), certificate.ToBytes(), certificate.IssuedAt);
            tx.PutSetting(DeviceNames.SettingOf(certificate.DeviceId), System.Text.Encoding.UTF8.GetBytes(deviceName));
            return true;
        }, cancellationToken);
        return certificate;
    }

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
