using Parley.Core.Identity;
using Parley.Dht.Records;

namespace Parley.Dht;

/// <summary>
/// Parley's record namespaces. A namespace is a key's first path segment, as in libp2p ("/pk/…", "/ipns/…"):
/// Parley's are "/parley-kv/&lt;owner peer id&gt;/&lt;name&gt;" (owner-signed key-value records, used by the CLI and
/// tests) and, from the standard DHT, "/pk/…". The chat layer adds "/parley/…" (presence, prekeys, name claims) with
/// Parley.Chat.Directory.ChatRecords.Register.
/// </summary>
public static class ParleyRecords
{
    public const string KeyValueNamespace = "parley-kv";

    public static RecordValidatorRegistry CreateValidators(TimeProvider time)
    {
        var registry = new RecordValidatorRegistry();
        registry.Register(KeyValueNamespace, new SignedRecordValidator(time));
        registry.Register("pk", new PublicKeyValidator());
        return registry;
    }

    /// <summary>The key of <paramref name="owner"/>'s key-value record called <paramref name="name"/>.</summary>
    public static string KeyValueKey(PeerId owner, string name)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return $"/{KeyValueNamespace}/{owner}/{name}";
    }
}
