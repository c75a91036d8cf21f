using System.Text.Json;
using System.Text.Json.Serialization;
using Parley.Core.Identity;
using Parley.Core.IO;
using Parley.Core.Multiformats;

namespace Parley.Dht;

/// <summary>
/// The routing table saved in the data folder, so a restarted node rejoins through the peers it knew instead of
/// needing a bootstrap address. Written to a temporary file and renamed, so a crash never leaves half a file; 0600.
/// </summary>
public static partial class RoutingTableFile
{
    public const string FileName = "routing-table.json";

    /// <summary>A file larger than this is not ours; refuse rather than parse it.</summary>
    private const long MaxFileSize = 16 * 1024 * 1024;

    public static async Task SaveAsync(string path, IEnumerable<DhtPeer> peers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var entries = peers.Select(p => new Entry(p.Peer.ToString(), p.Addresses.Select(a => a.ToString()).ToList())).ToList();
        await OwnerOnly.WriteAtomicallyAsync(path, (stream, ct) => JsonSerializer.SerializeAsync(stream, entries, EntriesJson.Default.ListEntry, ct), overwrite: true, cancellationToken);
    }

    /// <summary>The saved peers; an absent file is an empty list, and unreadable entries are skipped.</summary>
    /// <exception cref="InvalidDataException">The file exists but is not a saved routing table.</exception>
    public static async Task<IReadOnlyList<DhtPeer>> LoadAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            return [];
        }
        if (new FileInfo(path).Length > MaxFileSize)
        {
            throw new InvalidDataException($"{path} is larger than a routing table can be");
        }
        List<Entry>? entries;
        try
        {
            await using var stream = File.OpenRead(path);
            entries = await JsonSerializer.DeserializeAsync(stream, EntriesJson.Default.ListEntry, cancellationToken);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not a saved routing table: {e.Message}", e);
        }
        var peers = new List<DhtPeer>();
        foreach (var entry in entries ?? [])
        {
            if (!PeerId.TryParse(entry.Peer, out var peer))
            {
                continue;
            }
            var addresses = (entry.Addresses ?? []).Select(a => Multiaddr.TryParse(a, out var parsed) ? parsed : null).OfType<Multiaddr>().ToList();
            if (addresses.Count > 0)
            {
                peers.Add(new DhtPeer(peer!, addresses));
            }
        }
        return peers;
    }

    private sealed record Entry(string Peer, List<string>? Addresses);

    [JsonSerializable(typeof(List<Entry>))]
    private sealed partial class EntriesJson : JsonSerializerContext;
}
