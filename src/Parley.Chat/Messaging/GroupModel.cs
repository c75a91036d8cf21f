using Parley.Chat.Groups;
using Parley.Chat.Identity;
using Parley.Core.Identity;

namespace Parley.Chat.Messaging;

/// <summary>A member (or someone asking or invited) as a room shows them: the handle, with the tag from their key.</summary>
public sealed record GroupMemberInfo(Handle Handle, PublicKey Account, bool IsAdmin)
{
    /// <summary>The name an entry gave (a handle "name#tag" or a bare name) with the tag recomputed from the key, so a
    /// name cannot impersonate another account.</summary>
    public static GroupMemberInfo Of(string displayName, PublicKey account, bool isAdmin)
    {
        var name = displayName.Split('#')[0];
        try
        {
            name = Handle.NormalizeName(name);
        }
        catch (FormatException)
        {
            name = "unknown";
        }
        return new GroupMemberInfo(new Handle(name, Handle.TagOf(account)), account, isAdmin);
    }
}

/// <summary>A room as the user sees it.</summary>
public sealed record GroupInfo(
    Id256 Id,
    string Name,
    GroupStatus Status,
    bool IsAdmin,
    bool HistoryEnabled,
    ulong Epoch,
    IReadOnlyList<GroupMemberInfo> Members,
    IReadOnlyList<GroupMemberInfo> Requests,
    IReadOnlyList<GroupMemberInfo> Invited,
    IReadOnlyList<string> Audit,
    string? InviteLink)
{
    /// <summary>The room id in base32, as commands take it.</summary>
    public string IdText => Core.Multiformats.Base32.Encode(Id.Span);
}

/// <summary>A room message arrived or one of ours changed its delivery counts.</summary>
public sealed class GroupMessageEventArgs(GroupMessageRecord message, GroupInfo group) : EventArgs
{
    public GroupMessageRecord Message { get; } = message;

    public GroupInfo Group { get; } = group;
}

/// <summary>A room was created, joined, or changed membership.</summary>
public sealed class GroupEventArgs(GroupInfo group) : EventArgs
{
    public GroupInfo Group { get; } = group;
}

/// <summary>A room's messages in display order, and what is missing from them.</summary>
public sealed record GroupHistory(IReadOnlyList<GroupMessageRecord> Messages, IReadOnlyList<MessageGap> Gaps);
