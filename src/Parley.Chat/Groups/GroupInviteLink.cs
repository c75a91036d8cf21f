using System.Security.Cryptography;
using Parley.Core.Multiformats;

namespace Parley.Chat.Groups;

/// <summary>
/// A room's invite link: <c>parley://join/&lt;base32 group id&gt;/&lt;base32 link key&gt;/&lt;admin handle&gt;</c>, base32 as
/// RFC 4648 lowercase without padding, the handle as <c>name#tag</c> (<c>%23</c> is accepted for <c>#</c>, since a
/// URL parser would take <c>#</c> for a fragment). Whoever holds the link can ask to join; the admin handle says whom to ask.
/// </summary>
public sealed class GroupInviteLink
{
    public const string Prefix = "parley://join/";

    /// <summary>Bound on a link we agree to parse.</summary>
    public const int MaxLength = 256;

    private const int MaxNameLength = 30;
    private const int TagLength = 8;

    private readonly byte[] _linkKey;

    /// <exception cref="ArgumentException">A link key that is not 32 bytes, or a handle that is not name#tag.</exception>
    public GroupInviteLink(Id256 groupId, ReadOnlySpan<byte> linkKey, string adminHandle)
    {
        ArgumentNullException.ThrowIfNull(adminHandle);
        if (linkKey.Length != MembershipEntry.LinkKeySize)
        {
            throw new ArgumentException($"a link key is {MembershipEntry.LinkKeySize} bytes", nameof(linkKey));
        }
        if (!IsHandle(adminHandle))
        {
            throw new ArgumentException("the admin handle must be name#tag (a-z 0-9 - _, 1 to 30 characters; an 8-character base32 tag)", nameof(adminHandle));
        }
        GroupId = groupId;
        _linkKey = linkKey.ToArray();
        AdminHandle = adminHandle;
    }

    public Id256 GroupId { get; }

    public ReadOnlySpan<byte> LinkKey => _linkKey;

    public string AdminHandle { get; }

    public string Format() => $"{Prefix}{Base32.Encode(GroupId.Span)}/{Base32.Encode(_linkKey)}/{AdminHandle}";

    /// <exception cref="FormatException">Not a Parley invite link; the message says which part is wrong.</exception>
    public static GroupInviteLink Parse(string link)
    {
        ArgumentNullException.ThrowIfNull(link);
        if (link.Length > MaxLength)
        {
            throw new FormatException($"an invite link is at most {MaxLength} characters");
        }
        if (!link.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"an invite link starts with {Prefix}");
        }
        var parts = link[Prefix.Length..].Split('/');
        if (parts.Length != 3)
        {
            throw new FormatException("an invite link has three parts after the prefix: group id, link key, admin handle");
        }
        var groupId = Decode(parts[0], "group id");
        var linkKey = Decode(parts[1], "link key");
        var handle = parts[2].Replace("%23", "#", StringComparison.OrdinalIgnoreCase);
        if (!IsHandle(handle))
        {
            throw new FormatException("the admin handle in the link is not name#tag");
        }
        var parsed = new GroupInviteLink(Id256.FromBytes(groupId), linkKey, handle);
        CryptographicOperations.ZeroMemory(linkKey);
        return parsed;
    }

    public override string ToString() => $"invite link for room {GroupId.ToShortString()} via {AdminHandle}";

    private static byte[] Decode(string part, string what)
    {
        var bytes = Base32.Decode(part.ToLowerInvariant());
        return bytes.Length == Id256.Size ? bytes : throw new FormatException($"the {what} in the link is not 32 bytes");
    }

    private static bool IsHandle(string handle)
    {
        var hash = handle.IndexOf('#', StringComparison.Ordinal);
        if (hash is < 1 or > MaxNameLength || handle.Length - hash - 1 != TagLength)
        {
            return false;
        }
        var name = handle.AsSpan(0, hash);
        var tag = handle.AsSpan(hash + 1);
        foreach (var c in name)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' or '_'))
            {
                return false;
            }
        }
        foreach (var c in tag)
        {
            if (c is not ((>= 'a' and <= 'z') or (>= '2' and <= '7')))
            {
                return false;
            }
        }
        return true;
    }
}
