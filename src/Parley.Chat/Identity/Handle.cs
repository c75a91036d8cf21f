using System.Security.Cryptography;
using Parley.Core.Identity;
using Parley.Core.Multiformats;

namespace Parley.Chat.Identity;

/// <summary>
/// A readable handle, <c>name#tag</c>: a name anyone may claim, and a tag derived from the account key, which is what
/// tells two accounts of the same name apart. Names are ASCII only (a-z 0-9 - _), because other scripts have
/// look-alike letters and the tag is what users compare. Both parts are validated and normalized on construction.
/// </summary>
public readonly record struct Handle(string Name, string Tag)
{
    public const int MaxNameLength = 30;

    /// <summary>Characters in a tag: 40 bits in base32.</summary>
    public const int TagLength = 8;

    private const int TagBytes = 5;

    public string Name { get; } = NormalizeName(Name);

    public string Tag { get; } = NormalizeTag(Tag);

    /// <summary>The first 40 bits of SHA-256 over the libp2p protobuf form of the key, as 8 lowercase RFC 4648 base32 characters.</summary>
    public static string TagOf(PublicKey account)
    {
        ArgumentNullException.ThrowIfNull(account);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(account.ToProtobuf(), hash);
        return Base32.Encode(hash[..TagBytes]);
    }

    /// <summary>The name lower-cased; only ASCII letters are folded, so no other character can turn into an allowed one.</summary>
    /// <exception cref="FormatException">Empty, longer than 30 characters, or a character other than a-z 0-9 - _.</exception>
    public static string NormalizeName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0)
        {
            throw new FormatException("a name cannot be empty");
        }
        if (name.Length > MaxNameLength)
        {
            throw new FormatException($"a name is at most {MaxNameLength} characters; this one has {name.Length}");
        }
        return string.Create(name.Length, name, static (chars, name) =>
        {
            for (var i = 0; i < name.Length; i++)
            {
                var c = name[i];
                chars[i] = char.IsAsciiLetterUpper(c) ? (char)(c + ('a' - 'A')) : c;
                if (!char.IsAsciiLetterLower(chars[i]) && !char.IsAsciiDigit(c) && c is not ('-' or '_'))
                {
                    throw new FormatException($"a name may contain only letters a-z, digits, '-' and '_'; character {i + 1} is U+{(int)c:X4}");
                }
            }
        });
    }

    /// <summary>Parses "name#tag"; the name is normalized and the tag must be 8 base32 characters (either case).</summary>
    public static bool TryParse(string? text, out Handle handle)
    {
        handle = default;
        var hash = text?.IndexOf('#', StringComparison.Ordinal) ?? -1;
        if (hash < 0)
        {
            return false;
        }
        try
        {
            handle = new Handle(text![..hash], text[(hash + 1)..]);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <exception cref="FormatException">Not "name#tag", with the reason.</exception>
    public static Handle Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hash = text.IndexOf('#', StringComparison.Ordinal);
        if (hash < 0)
        {
            throw new FormatException("a handle is name#tag");
        }
        return new Handle(text[..hash], text[(hash + 1)..]);
    }

    /// <summary>True when <paramref name="account"/>'s tag is this handle's.</summary>
    public bool Matches(PublicKey account) => string.Equals(TagOf(account), Tag, StringComparison.Ordinal);

    public override string ToString() => $"{Name}#{Tag}";

    private static string NormalizeTag(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        if (tag.Length != TagLength)
        {
            throw new FormatException($"a tag is {TagLength} base32 characters; this one has {tag.Length}");
        }
        if (!tag.All(c => char.IsAsciiLetter(c) || c is >= '2' and <= '7'))
        {
            throw new FormatException("a tag may contain only the base32 characters a-z and 2-7");
        }
        // ASCII only by now, so the invariant lower-casing cannot produce anything else.
        return tag.ToLowerInvariant();
    }
}
