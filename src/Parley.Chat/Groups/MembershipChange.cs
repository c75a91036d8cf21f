using Parley.Core.Identity;

namespace Parley.Chat.Groups;

/// <summary>
/// The content of a membership entry an author wants to add, before the log supplies parents and clock and the
/// author signs (<see cref="MembershipLog.Append"/>). Create comes from <see cref="MembershipLog.Create"/> and Request
/// from <see cref="MembershipEntry.SignRequest"/>, because both need keys that only those callers hold.
/// </summary>
public sealed record MembershipChange
{
    internal MembershipChange(MembershipKind kind) => Kind = kind;

    public MembershipKind Kind { get; }

    public PublicKey? Target { get; internal init; }

    public string? MemberName { get; internal init; }

    public string? RoomName { get; internal init; }

    public bool? History { get; internal init; }

    /// <param name="displayName">How the invitee is shown until it joins (usually its handle).</param>
    public static MembershipChange Invite(PublicKey account, string displayName) =>
        new(MembershipKind.Invite) { Target = account, MemberName = displayName };

    /// <param name="displayName">The joiner's own display name; null keeps the one the invitation gave.</param>
    public static MembershipChange Join(string? displayName = null) => new(MembershipKind.Join) { MemberName = displayName };

    public static MembershipChange Approve(PublicKey requester) => new(MembershipKind.Approve) { Target = requester };

    public static MembershipChange Deny(PublicKey requester) => new(MembershipKind.Deny) { Target = requester };

    public static MembershipChange Remove(PublicKey account) => new(MembershipKind.Remove) { Target = account };

    public static MembershipChange Leave() => new(MembershipKind.Leave);

    public static MembershipChange Promote(PublicKey member) => new(MembershipKind.Promote) { Target = member };

    public static MembershipChange Demote(PublicKey admin) => new(MembershipKind.Demote) { Target = admin };

    public static MembershipChange Rename(string roomName) => new(MembershipKind.Rename) { RoomName = roomName };

    public static MembershipChange SetHistory(bool enabled) => new(MembershipKind.SetHistory) { History = enabled };

    /// <summary>The author's account removed the device with this key: a new epoch.</summary>
    public static MembershipChange RemoveDevice(PublicKey device) => new(MembershipKind.RemoveDevice) { Target = device };

    internal static MembershipChange Create(string creatorName, string roomName, bool history) =>
        new(MembershipKind.Create) { MemberName = creatorName, RoomName = roomName, History = history };

    internal static MembershipChange Request(string displayName) => new(MembershipKind.Request) { MemberName = displayName };
}
