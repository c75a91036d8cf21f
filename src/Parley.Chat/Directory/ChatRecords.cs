using Parley.Dht.Records;

namespace Parley.Chat.Directory;

/// <summary>
/// The chat layer's DHT namespace, "parley": the <b>directory</b> (presence, prekey bundles, name claims). Not to be
/// confused with "parley-kv", the user records of the DHT layer (<see cref="Dht.ParleyRecords.UserRecordsNamespace"/>).
/// </summary>
public static class ChatRecords
{
    /// <summary>The directory namespace.</summary>
    public const string Namespace = "parley";

    /// <summary>Registers the "parley" namespace's validator (<see cref="DirectoryRecordValidator"/>).</summary>
    public static void Register(RecordValidatorRegistry registry, TimeProvider time, DirectoryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.Register(Namespace, new DirectoryRecordValidator(time, options));
    }
}
