using Google.Protobuf;
using Parley.Chat.Groups;
using Parley.Chat.Messaging;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Rooms;

/// <summary>One room as held in memory: its record, membership log, sender keys and timeline.</summary>
internal sealed class Room(GroupRecord record, MembershipLog log, GroupSession session, GroupTimeline timeline)
{
    public GroupRecord Record { get; set; } = record;

    public MembershipLog Log { get; } = log;

    public GroupSession Session { get; } = session;

    public GroupTimeline Timeline { get; } = timeline;

    /// <summary>Entries this member appended that the next save stores.</summary>
    public List<MembershipEntry> PendingEntries { get; } = [];

    public Id256 Id => Log.GroupId;

    /// <summary>False for a room we asked to join and have not been let into yet: no entries, so no state.</summary>
    public bool HasLog => Log.Count > 0;

    /// <summary>Sender keys that came before the welcome that lets us read them; handled once it arrives.</summary>
    public List<(ContactRecord From, ByteString Distribution)> EarlyDistributions { get; } = [];

    public string IdText => Base32.Encode(Id.Span);

    /// <summary>Members' directory records an admin passes on with the keys, and to whom they went (in memory only:
    /// a member who misses them looks the records up in the directory).</summary>
    public Dictionary<PublicKey, Protos.GroupMemberRecords> MemberRecords { get; } = [];

    public HashSet<(PublicKey Owner, PublicKey Recipient)> RecordsPassedOn { get; } = [];

    /// <summary>The entries our other devices got from this one (in memory only: after a restart they get the whole log again).</summary>
    public HashSet<Id256> SentToOwnDevices { get; } = [];

    /// <summary>Other members' chains for our other devices, held until those have the room's log (in memory only).</summary>
    public List<ByteString> KeysForOwnDevices { get; } = [];

    /// <summary>Other members' messages to pass on to our other devices their senders left out, held until those have
    /// the room's log (in memory only).</summary>
    public List<(byte[] Ciphertext, HashSet<PeerId> Devices)> MessagesForOwnDevices { get; } = [];

    public (int LogCount, GroupInfo Info)? CachedInfo { get; set; }
}
