using Parley.Dht.Records;

namespace Parley.Chat.Directory;

/// <summary>The chat layer's DHT namespace, "parley": presence, prekey bundles and name claims.</summary>
public static class ChatRecords
{
    public const string Namespace = "parley";

    /// <summary>Registers the "parley" namespace's validator (<see cref="DirectoryRecordValidator"/>).</summary>
    public static void Register(RecordValidatorRegistry registry, TimeProvider time, DirectoryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.Register(Namespace, new DirectoryRecordValidator(time, options));
    }
}
