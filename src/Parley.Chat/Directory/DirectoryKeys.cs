using Parley.Chat.Identity;
using Parley.Core.Identity;
using Parley.Dht.Records;

namespace Parley.Chat.Directory;

/// <summary>The DHT keys of the directory records, all in the <see cref="ChatRecords.Namespace"/> namespace.</summary>
public static class DirectoryKeys
{
    public const string PresenceKind = "presence";
    public const string PrekeysKind = "prekeys";
    public const string NameKind = "name";
    public const string DevicesKind = "devices";

    /// <summary>"/parley/presence/&lt;account id&gt;"</summary>
    public static RecordKey Presence(PeerId account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return RecordKey.Create(ChatRecords.Namespace, $"{PresenceKind}/{account}");
    }

    /// <summary>"/parley/presence/&lt;account id&gt;/&lt;device id&gt;": one linked device's presence (docs/devices.md).</summary>
    public static RecordKey DevicePresence(PeerId account, PeerId device)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(device);
        return RecordKey.Create(ChatRecords.Namespace, $"{PresenceKind}/{account}/{device}");
    }

    /// <summary>"/parley/prekeys/&lt;account id&gt;/&lt;device id&gt;": one linked device's signed prekey.</summary>
    public static RecordKey DevicePrekeys(PeerId account, PeerId device)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(device);
        return RecordKey.Create(ChatRecords.Namespace, $"{PrekeysKind}/{account}/{device}");
    }

    /// <summary>"/parley/devices/&lt;account id&gt;": the account's device list.</summary>
    public static RecordKey Devices(PeerId account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return RecordKey.Create(ChatRecords.Namespace, $"{DevicesKind}/{account}");
    }

    /// <summary>"/parley/prekeys/&lt;account id&gt;"</summary>
    public static RecordKey Prekeys(PeerId account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return RecordKey.Create(ChatRecords.Namespace, $"{PrekeysKind}/{account}");
    }

    /// <summary>"/parley/name/&lt;name&gt;"; the name is normalized (a normalized name is unchanged).</summary>
    /// <exception cref="FormatException">Not a valid name.</exception>
    public static RecordKey Name(string normalizedName) => RecordKey.Create(ChatRecords.Namespace, $"{NameKind}/{Handle.NormalizeName(normalizedName)}");
}
