using System.Text;
using Google.Protobuf;
using Parley.Chat.Groups.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// One signed entry of a room's membership log (docs/groups.md section 1). It is always well formed: it comes from
/// <see cref="Parse"/> (which checks every field but not the signature: <see cref="MembershipLog.Add(MembershipEntry)"/>
/// does) or from signing. The id is SHA-256 of the signed encoding (<see cref="SignedPayload"/>), so a replayed entry
/// has the same id whatever its signature bytes.
/// </summary>
public sealed class MembershipEntry
{
    /// <summary>Bound on an encoded entry.</summary>
    public const int MaxEncodedLength = 4096;

    /// <summary>Bound on the heads one entry names.</summary>
    public const int MaxParents = 32;

    /// <summary>Bounds on display names, in UTF-8 bytes.</summary>
    public const int MaxMemberNameBytes = 128;

    public const int MaxRoomNameBytes = 256;

    internal const int LinkKeySize = 32;

    private const int SignatureSize = 64;
    private static readonly byte[] EntryDomain = "parley-group-entry:"u8.ToArray();
    private static readonly byte[] LinkKeyDomain = "parley-group-link-key:"u8.ToArray();
    private static readonly byte[] RequestDomain = "parley-group-request:"u8.ToArray();

    private MembershipEntry(
        Id256 groupId,
        IReadOnlyList<Id256> parents,
        ulong lamport,
        PublicKey author,
        MembershipChange change,
        byte[]? linkKeyHash,
        byte[]? linkProof,
        long timestampMs)
    {
        GroupId = groupId;
        Parents = parents;
        Lamport = lamport;
        Author = author;
        Kind = change.Kind;
        Target = change.Target;
        MemberName = change.MemberName;
        RoomName = change.RoomName;
        History = change.History;
        LinkKeyHash = linkKeyHash;
        LinkProof = linkProof;
        TimestampMs = timestampMs;
        SignedPayload = Encode();
    }

    public Id256 GroupId { get; }

    /// <summary>The heads the author saw, ascending; empty only for Create.</summary>
    public IReadOnlyList<Id256> Parents { get; }

    public ulong Lamport { get; }

    public PublicKey Author { get; }

    public MembershipKind Kind { get; }

    public PublicKey? Target { get; }

    public string? MemberName { get; }

    public string? RoomName { get; }

    public bool? History { get; }

    /// <summary>Create only: SHA-256 of "parley-group-link-key:" ‖ link key.</summary>
    public byte[]? LinkKeyHash { get; }

    /// <summary>Request only: HMAC-SHA256(link key, "parley-group-request:" ‖ len ‖ group id ‖ len ‖ requester key).</summary>
    public byte[]? LinkProof { get; }

    /// <summary>The author's clock (informational: ordering never uses it).</summary>
    public long TimestampMs { get; }

    public byte[] Signature { get; private set; } = [];

    public Id256 Id { get; private set; }

    /// <summary>The bytes the author signs and whose SHA-256 is <see cref="Id"/>.</summary>
    internal byte[] SignedPayload { get; }

    /// <summary>Signs a Request for a room the requester knows only by its link. The parents and Lamport clock are the
    /// room's current heads and next clock (<see cref="MembershipLog.NextParents"/>, <see cref="MembershipLog.NextLamport"/>),
    /// which the admin named in the link tells the requester.</summary>
    /// <exception cref="ArgumentException">A field is out of bounds.</exception>
    public static MembershipEntry SignRequest(
        ICryptoProvider crypto,
        IdentityKey requester,
        GroupInviteLink link,
        string displayName,
        IReadOnlyList<Id256> parents,
        ulong lamport,
        long timestampMs)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(link);
        var proof = ComputeLinkProof(crypto, link.LinkKey, link.GroupId, requester.PublicKey);
        return Sign(crypto, requester, link.GroupId, parents, lamport, MembershipChange.Request(displayName), null, proof, timestampMs);
    }

    /// <exception cref="ArgumentException">A field is missing, not allowed for the kind, or out of bounds.</exception>
    internal static MembershipEntry Sign(
        ICryptoProvider crypto,
        IdentityKey author,
        Id256 groupId,
        IReadOnlyList<Id256> parents,
        ulong lamport,
        MembershipChange change,
        byte[]? linkKeyHash,
        byte[]? linkProof,
        long timestampMs)
    {
        ArgumentNullException.ThrowIfNull(change);
        var sorted = parents.Distinct().Order().ToArray();
        MembershipEntry entry;
        try
        {
            CheckShape(change, sorted, lamport, linkKeyHash, linkProof, timestampMs);
            entry = new MembershipEntry(groupId, sorted, lamport, author.PublicKey, change, linkKeyHash, linkProof, timestampMs);
        }
        catch (FormatException e)
        {
            throw new ArgumentException(e.Message, nameof(change), e);
        }
        entry.Signature = author.Sign(entry.SignedPayload);
        entry.Id = ComputeId(crypto, entry.SignedPayload);
        if (entry.ToBytes().Length > MaxEncodedLength)
        {
            throw new ArgumentException($"the entry encodes to more than {MaxEncodedLength} bytes", nameof(change));
        }
        return entry;
    }

    public byte[] ToBytes()
    {
        var proto = new MembershipEntryProto
        {
            GroupId = ByteString.CopyFrom(GroupId.Span),
            Lamport = Lamport,
            Author = ByteString.CopyFrom(Author.ToProtobuf()),
            Kind = (MembershipKindProto)Kind,
            Target = Target is null ? ByteString.Empty : ByteString.CopyFrom(Target.ToProtobuf()),
            MemberName = MemberName ?? "",
            RoomName = RoomName ?? "",
            LinkKeyHash = LinkKeyHash is null ? ByteString.Empty : ByteString.CopyFrom(LinkKeyHash),
            LinkProof = LinkProof is null ? ByteString.Empty : ByteString.CopyFrom(LinkProof),
            TimestampMs = TimestampMs,
            Signature = ByteString.CopyFrom(Signature),
        };
        foreach (var parent in Parents)
        {
            proto.Parents.Add(ByteString.CopyFrom(parent.Span));
        }
        if (History is { } history)
        {
            proto.History = history;
        }
        return proto.ToByteArray();
    }

    /// <summary>Parses and checks every field; the signature is checked by the log.</summary>
    /// <exception cref="MembershipException">With <see cref="MembershipFailure.Oversized"/> or <see cref="MembershipFailure.Malformed"/>.</exception>
    public static MembershipEntry Parse(ReadOnlySpan<byte> bytes, ICryptoProvider crypto)
    {
        ArgumentNullException.ThrowIfNull(crypto);
        if (bytes.Length > MaxEncodedLength)
        {
            throw new MembershipException(MembershipFailure.Oversized, $"an entry of {bytes.Length} bytes exceeds the maximum {MaxEncodedLength}");
        }
        try
        {
            return ParseChecked(MembershipEntryProto.Parser.ParseFrom(bytes), crypto);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new MembershipException(MembershipFailure.Malformed, "the entry is not a valid protobuf", e);
        }
        catch (FormatException e)
        {
            throw new MembershipException(MembershipFailure.Malformed, e.Message, e);
        }
    }

    internal bool VerifySignature(ICryptoProvider crypto) => crypto.Ed25519Verify(Author.Raw, SignedPayload, Signature);

    internal static byte[] ComputeLinkKeyHash(ICryptoProvider crypto, ReadOnlySpan<byte> linkKey)
    {
        var hash = new byte[32];
        crypto.Sha256(new CanonicalWriter(LinkKeyDomain).Raw(linkKey).ToArray(), hash);
        return hash;
    }

    internal static byte[] ComputeLinkProof(ICryptoProvider crypto, ReadOnlySpan<byte> linkKey, Id256 groupId, PublicKey requester)
    {
        var proof = new byte[32];
        crypto.HmacSha256(linkKey, new CanonicalWriter(RequestDomain).Bytes(groupId.Span).Bytes(requester.ToProtobuf()).ToArray(), proof);
        return proof;
    }

    public override string ToString() => $"{Kind} {Id.ToShortString()} by {Author.ToPeerId()} at {Lamport}";

    private static MembershipEntry ParseChecked(MembershipEntryProto proto, ICryptoProvider crypto)
    {
        if (!Enum.IsDefined((MembershipKind)proto.Kind))
        {
            throw new FormatException($"unknown entry kind {(int)proto.Kind}");
        }
        var kind = (MembershipKind)proto.Kind;
        if (proto.Parents.Count > MaxParents)
        {
            throw new FormatException($"an entry names at most {MaxParents} parents, this one {proto.Parents.Count}");
        }
        var parents = proto.Parents.Select(p => Id256.FromBytes(p.Span)).ToArray();
        for (var i = 1; i < parents.Length; i++)
        {
            if (parents[i - 1] >= parents[i])
            {
                throw new FormatException("parents must be ascending without duplicates");
            }
        }
        var change = new MembershipChange(kind)
        {
            Target = proto.Target.IsEmpty ? null : PublicKey.FromProtobuf(proto.Target.Span),
            MemberName = proto.MemberName.Length == 0 ? null : proto.MemberName,
            RoomName = proto.RoomName.Length == 0 ? null : proto.RoomName,
            History = proto.HasHistory ? proto.History : null,
        };
        byte[]? linkKeyHash = proto.LinkKeyHash.IsEmpty ? null : proto.LinkKeyHash.ToByteArray();
        byte[]? linkProof = proto.LinkProof.IsEmpty ? null : proto.LinkProof.ToByteArray();
        CheckShape(change, parents, proto.Lamport, linkKeyHash, linkProof, proto.TimestampMs);
        if (proto.Signature.Length != SignatureSize)
        {
            throw new FormatException($"a signature is {SignatureSize} bytes, got {proto.Signature.Length}");
        }
        var entry = new MembershipEntry(
            Id256.FromBytes(proto.GroupId.Span),
            parents,
            proto.Lamport,
            PublicKey.FromProtobuf(proto.Author.Span),
            change,
            linkKeyHash,
            linkProof,
            proto.TimestampMs)
        {
            Signature = proto.Signature.ToByteArray(),
        };
        entry.Id = ComputeId(crypto, entry.SignedPayload);
        return entry;
    }

    /// <summary>The fields each kind needs and allows.</summary>
    private static void CheckShape(MembershipChange change, Id256[] parents, ulong lamport, byte[]? linkKeyHash, byte[]? linkProof, long timestampMs)
    {
        var kind = change.Kind;
        if (kind == MembershipKind.Create)
        {
            if (parents.Length != 0 || lamport != 1)
            {
                throw new FormatException("Create has no parents and Lamport clock 1");
            }
        }
        else if (parents.Length == 0 || lamport < 2)
        {
            throw new FormatException($"{kind} needs parents and a Lamport clock of at least 2");
        }
        if (timestampMs < 0)
        {
            throw new FormatException("the timestamp is negative");
        }
        var needsTarget = kind is MembershipKind.Invite or MembershipKind.Approve or MembershipKind.Deny or MembershipKind.Remove
            or MembershipKind.Promote or MembershipKind.Demote or MembershipKind.RemoveDevice;
        Require(change.Target is not null, needsTarget, "a target", kind);
        var nameRequired = kind is MembershipKind.Create or MembershipKind.Invite or MembershipKind.Request;
        if (kind != MembershipKind.Join)
        {
            Require(change.MemberName is not null, nameRequired, "a member name", kind);
        }
        CheckName(change.MemberName, MaxMemberNameBytes, "member name");
        Require(change.RoomName is not null, kind is MembershipKind.Create or MembershipKind.Rename, "a room name", kind);
        CheckName(change.RoomName, MaxRoomNameBytes, "room name");
        Require(change.History is not null, kind is MembershipKind.Create or MembershipKind.SetHistory, "a history setting", kind);
        Require(linkKeyHash is not null, kind == MembershipKind.Create, "a link key hash", kind);
        Require(linkProof is not null, kind == MembershipKind.Request, "a link proof", kind);
        if (linkKeyHash is { Length: not 32 } || linkProof is { Length: not 32 })
        {
            throw new FormatException("link key hashes and link proofs are 32 bytes");
        }
    }

    private static void Require(bool present, bool needed, string what, MembershipKind kind)
    {
        if (present != needed)
        {
            throw new FormatException(needed ? $"{kind} needs {what}" : $"{kind} does not carry {what}");
        }
    }

    private static void CheckName(string? name, int maxBytes, string what)
    {
        if (name is null)
        {
            return;
        }
        if (name.Length == 0 || Encoding.UTF8.GetByteCount(name) > maxBytes)
        {
            throw new FormatException($"a {what} is 1 to {maxBytes} UTF-8 bytes");
        }
        if (name.Any(char.IsControl) || string.IsNullOrWhiteSpace(name))
        {
            throw new FormatException($"a {what} has visible characters and no control characters");
        }
    }

    private byte[] Encode() => new CanonicalWriter(EntryDomain)
        .Bytes(GroupId.Span)
        .Ids(Parents)
        .UInt64(Lamport)
        .Bytes(Author.ToProtobuf())
        .Byte((byte)Kind)
        .Bytes(Target?.ToProtobuf() ?? [])
        .Text(MemberName)
        .Text(RoomName)
        .Byte(History switch { null => 0, false => 1, true => 2 })
        .Bytes(LinkKeyHash ?? [])
        .Bytes(LinkProof ?? [])
        .Int64(TimestampMs)
        .ToArray();

    private static Id256 ComputeId(ICryptoProvider crypto, byte[] payload)
    {
        Span<byte> hash = stackalloc byte[32];
        crypto.Sha256(payload, hash);
        return Id256.FromBytes(hash);
    }
}
