using Parley.Chat.Identity;
using Parley.Core.Identity;

namespace Parley.Chat.Directory;

/// <summary>The DHT keys of the directory records, all in the <see cref="ChatRecords.Namespace"/> namespace.</summary>
public static class DirectoryKeys
{
    public const string PresenceKind = "presence";
    public const string PrekeysKind = "prekeys";
    public const string NameKind = "name";

    /// <summary>"/parley/presence/&lt;account id&gt;"</summary>
    public static string Presence(PeerId account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return $"/{ChatRecords.Namespace}/{PresenceKind}/{account}";
    }

    /// <summary>"/parley/prekeys/&lt;account id&gt;"</summary>
    public static string Prekeys(PeerId account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return $"/{ChatRecords.Namespace}/{PrekeysKind}/{account}";
    }

    /// <summary>"/parley/name/&lt;name&gt;"; the name is normalized (a normalized name is unchanged).</summary>
    /// <exception cref="FormatException">Not a valid name.</exception>
    public static string Name(string normalizedName) => $"/{ChatRecords.Namespace}/{NameKind}/{Handle.NormalizeName(normalizedName)}";
}
