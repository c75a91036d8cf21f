using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Parley.Chat.Actions;
using Parley.Chat.Conversations;
using Parley.Chat.Devices;
using Parley.Chat.Files;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Chat.Publishing;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Linking;

/// <summary>A room as handed over: its record (our sending chain removed) and its membership entries as signed.</summary>
public sealed record SnapshotRoom(GroupRecord Group, IReadOnlyList<byte[]> Entries);

public sealed record SnapshotSetting(string Name, byte[] Value);

/// <summary>One part of an account snapshot; each part is at most <see cref="AccountSnapshot.MaxPartBytes"/> as JSON.</summary>
public sealed record SnapshotPart(
    IReadOnlyList<ContactRecord> Contacts,
    IReadOnlyList<SnapshotRoom> Rooms,
    IReadOnlyList<SnapshotSetting> Settings,
    IReadOnlyList<byte[]> Devices,
    IReadOnlyList<MessageRecord> Messages,
    IReadOnlyList<GroupMessageRecord> RoomMessages)
{
    public static SnapshotPart Empty { get; } = new([], [], [], [], [], []);
}

/// <summary>
/// The account's state a new device receives (docs/linking.md): contacts with their keys, states and mailbox tokens;
/// rooms with their membership logs and the keys to read them; the user's settings; the other devices' certificates;
/// and the last <see cref="HistoryPerConversation"/> messages of every conversation and room. Not the ratchet sessions,
/// prekeys or outbox, which belong to one device. Read in one consistent view; imported in one transaction.
/// </summary>
public static partial class AccountSnapshot
{
    /// <summary>Messages (and, in rooms, actions) kept per conversation and per room.</summary>
    public const int HistoryPerConversation = 1_000;

    public const int MaxPartBytes = 1 << 20;

    private const int ItemsPerPart = 400;

    private static readonly JsonTypeInfo<SnapshotPart> SnapshotPartJson = (JsonTypeInfo<SnapshotPart>)CreateJsonOptions().GetTypeInfo(typeof(SnapshotPart));

    /// <summary>The snapshot of the store's account, split into JSON parts of at most <see cref="MaxPartBytes"/>.</summary>
    public static Task<IReadOnlyList<byte[]>> ExportAsync(IChatStore store, PeerId self, ICryptoProvider crypto, int history, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        return store.ReadAsync<IReadOnlyList<byte[]>>(reader => Export(reader, self, crypto, history), cancellationToken);
    }

    /// <summary>Imports a snapshot into <paramref name="tx"/>, which already holds the account.</summary>
    /// <exception cref="FormatException">A part is not a snapshot part, or a room entry is damaged.</exception>
    public static void Import(IChatTransaction tx, IEnumerable<byte[]> parts, ICryptoProvider crypto)
    {
        ArgumentNullException.ThrowIfNull(tx);
        ArgumentNullException.ThrowIfNull(parts);
        foreach (var bytes in parts)
        {
            var part = Parse(bytes);
            foreach (var device in part.Devices)
            {
                var certificate = Identity.DeviceCertificate.Parse(device);
                tx.PutDevice(certificate.Device.ToProtobuf(), device, certificate.IssuedAt);
            }
            foreach (var contact in part.Contacts)
            {
                tx.PutContact(contact);
            }
            foreach (var setting in part.Settings)
            {
                tx.PutSetting(setting.Name, setting.Value);
            }
            foreach (var room in part.Rooms)
            {
                tx.PutGroup(room.Group);
                foreach (var entry in room.Entries)
                {
                    tx.AddGroupEntry(room.Group.Id, MembershipEntry.Parse(entry, crypto).Id.Span.ToArray(), entry);
                }
            }
            foreach (var message in part.Messages)
            {
                if (tx.InsertMessage(message))
                {
                    tx.AdvanceConversation(message.ConversationId, message.Direction == MessageDirection.Incoming ? message.Sender : null, message.Lamport, message.Id);
                }
            }
            foreach (var message in part.RoomMessages)
            {
                tx.InsertGroupMessage(message);
            }
        }
    }

    /// <summary>How many contacts, rooms and messages the parts hold (for the user and the tests).</summary>
    public static (int Contacts, int Rooms, int Messages) Count(IEnumerable<byte[]> parts)
    {
        int contacts = 0, rooms = 0, messages = 0;
        foreach (var part in parts.Select(Parse))
        {
            contacts += part.Contacts.Count;
            rooms += part.Rooms.Count;
            messages += part.Messages.Count + part.RoomMessages.Count;
        }
        return (contacts, rooms, messages);
    }

    private static SnapshotPart Parse(byte[] bytes)
    {
        if (bytes.Length > MaxPartBytes)
        {
            throw new FormatException($"a snapshot part is at most {MaxPartBytes} bytes");
        }
        try
        {
            return JsonSerializer.Deserialize(bytes, SnapshotPartJson) ?? throw new FormatException("an empty snapshot part");
        }
        catch (JsonException e)
        {
            throw new FormatException($"not a snapshot part: {e.Message}", e);
        }
    }

    private static List<byte[]> Export(IChatReader reader, PeerId self, ICryptoProvider crypto, int history)
    {
        var contacts = reader.GetContacts();
        var settings = new List<SnapshotSetting>();
        foreach (var name in new[] { LiveStatus.SharePresenceSetting, LiveStatus.ShareTypingSetting, FileCatalog.LimitSetting, DirectoryPublisher.PolicySequenceSetting, AccountDevices.ListSetting }
            .Concat(contacts.Select(c => DirectConversations.RequestSentSetting(c.Account)))
            .Concat(reader.GetDeviceCertificates().Select(c => DeviceNames.SettingOf(Identity.DeviceCertificate.Parse(c).DeviceId))))
        {
            if (reader.GetSetting(name) is { } value)
            {
                settings.Add(new SnapshotSetting(name, value));
            }
        }
        var rooms = reader.GetGroups().Select(g => new SnapshotRoom(WithoutSendingChain(g, crypto), reader.GetGroupEntries(g.Id))).ToList();
        var parts = new List<byte[]>();
        Add(parts, SnapshotPart.Empty with { Contacts = contacts, Settings = settings, Devices = reader.GetDeviceCertificates() });
        foreach (var room in rooms)
        {
            Add(parts, SnapshotPart.Empty with { Rooms = [room] });
        }
        foreach (var contact in contacts)
        {
            var conversation = ConversationIds.Direct(self, contact.Account);
            var texts = reader.GetMessages(conversation, history);
            var actions = texts.Count == 0 ? [] : reader.GetActionsSince(conversation, texts[0].Lamport, history);
            foreach (var batch in texts.Concat(actions).Chunk(ItemsPerPart))
            {
                Add(parts, SnapshotPart.Empty with { Messages = batch });
            }
        }
        foreach (var room in rooms)
        {
            foreach (var batch in reader.GetGroupTimeline(room.Group.Id, history).Chunk(ItemsPerPart))
            {
                Add(parts, SnapshotPart.Empty with { RoomMessages = batch });
            }
        }
        return parts;
    }

    /// <summary>Adds a part, halving it until each half fits (a part of one item that does not fit is refused).</summary>
    private static void Add(List<byte[]> parts, SnapshotPart part)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(part, SnapshotPartJson);
        if (bytes.Length <= MaxPartBytes)
        {
            parts.Add(bytes);
            return;
        }
        if (part.Messages.Count > 1 || part.RoomMessages.Count > 1)
        {
            Add(parts, part with { Messages = part.Messages.Take(part.Messages.Count / 2).ToList(), RoomMessages = part.RoomMessages.Take(part.RoomMessages.Count / 2).ToList() });
            Add(parts, part with { Contacts = [], Rooms = [], Settings = [], Devices = [], Messages = part.Messages.Skip(part.Messages.Count / 2).ToList(), RoomMessages = part.RoomMessages.Skip(part.RoomMessages.Count / 2).ToList() });
            return;
        }
        if (part.Contacts.Count > 1)
        {
            Add(parts, part with { Contacts = part.Contacts.Take(part.Contacts.Count / 2).ToList() });
            Add(parts, SnapshotPart.Empty with { Contacts = part.Contacts.Skip(part.Contacts.Count / 2).ToList() });
            return;
        }
        throw new InvalidOperationException($"one item of the account is larger than a snapshot part ({bytes.Length} bytes)");
    }

    private static GroupRecord WithoutSendingChain(GroupRecord group, ICryptoProvider crypto)
    {
        if (group.Session is null)
        {
            return group;
        }
        var session = GroupSession.Deserialize(crypto, group.Session);
        session.ForgetSendingChain();
        return group with { Session = session.Serialize() };
    }

    private static JsonSerializerOptions CreateJsonOptions()
    {
        var options = new JsonSerializerOptions(SnapshotJson.Default.Options) { TypeInfoResolver = SnapshotJson.Default.WithAddedModifier(DropComputedProperties) };
        options.MakeReadOnly();
        return options;
    }

    /// <summary>Only what a record is built from travels: a property computed from others (a contact's handle) does not.</summary>
    private static void DropComputedProperties(JsonTypeInfo info)
    {
        if (info.Kind != JsonTypeInfoKind.Object)
        {
            return;
        }
        for (var i = info.Properties.Count - 1; i >= 0; i--)
        {
            if (info.Properties[i].Set is null && info.Properties[i].AssociatedParameter is null)
            {
                info.Properties.RemoveAt(i);
            }
        }
    }

    [JsonSourceGenerationOptions(Converters = [typeof(PeerIdConverter), typeof(PublicKeyConverter)], UseStringEnumConverter = true, MaxDepth = 16)]
    [JsonSerializable(typeof(SnapshotPart))]
    private sealed partial class SnapshotJson : JsonSerializerContext;

    private sealed class PeerIdConverter : JsonConverter<PeerId>
    {
        public override PeerId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            PeerId.TryParse(reader.GetString(), out var peer) ? peer : throw new JsonException("not a peer id");

        public override void Write(Utf8JsonWriter writer, PeerId value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }

    private sealed class PublicKeyConverter : JsonConverter<PublicKey>
    {
        public override PublicKey Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            try
            {
                return PublicKey.FromProtobuf(reader.GetBytesFromBase64());
            }
            catch (FormatException e)
            {
                throw new JsonException($"not a public key: {e.Message}", e);
            }
        }

        public override void Write(Utf8JsonWriter writer, PublicKey value, JsonSerializerOptions options) => writer.WriteBase64StringValue(value.ToProtobuf());
    }
}
