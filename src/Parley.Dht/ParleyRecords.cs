using Parley.Core.Identity;
using Parley.Dht.Records;

namespace Parley.Dht;

/// <summary>
/// The record namespaces of the DHT layer. A namespace is a key's first path segment, as in libp2p ("/pk/…",
/// "/ipns/…"). Two are Parley's own, and easy to mix up:
/// <list type="bullet">
/// <item>"/parley-kv/&lt;owner peer id&gt;/&lt;name&gt;": <b>user records</b>, owner-signed key-value records anyone may
/// publish (the CLI's <c>dht put</c>, tests); <see cref="UserRecordsNamespace"/>.</item>
/// <item>"/parley/…": the <b>directory</b> of the chat layer (presence, prekeys, name claims), registered by
/// Parley.Chat.Directory.ChatRecords.Register.</item>
/// </list>
/// And from the standard DHT, "/pk/&lt;peer id&gt;" (public keys).
/// </summary>
public static class ParleyRecords
{
    /// <summary>Owner-signed user records; not the chat directory ("parley").</summary>
    public const string UserRecordsNamespace = "parley-kv";

    public static RecordValidatorRegistry CreateValidators(TimeProvider time)
    {
        var registry = new RecordValidatorRegistry();
        registry.Register(UserRecordsNamespace, new SignedRecordValidator(time));
        registry.Register(PublicKeyValidator.Namespace, new PublicKeyValidator());
        return registry;
    }

    /// <summary>The key of <paramref name="owner"/>'s user record called <paramref name="name"/>.</summary>
    public static RecordKey UserRecordKey(PeerId owner, string name)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentException.ThrowIfNullOrEmpty(name);
        return RecordKey.Create(UserRecordsNamespace, $"{owner}/{name}");
    }
}
