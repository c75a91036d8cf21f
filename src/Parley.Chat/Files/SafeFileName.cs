using System.Globalization;
using System.Text;

namespace Parley.Chat.Files;

/// <summary>
/// Turns the name a sender gave a file into one that is safe to show and to save: no folder part (so no path
/// traversal), no control or bidirectional-formatting characters (which can disguise "gpj.exe" as "exe.jpg"), none of
/// the characters file systems reserve, no leading dot (no hidden files) and at most <see cref="MaxBytes"/> UTF-8 bytes
/// with the extension kept. Saving never overwrites: <see cref="Candidates"/> gives "name (1).ext", "name (2).ext"….
/// </summary>
public static class SafeFileName
{
    public const int MaxBytes = 120;
    public const string Fallback = "file";

    private const int MaxExtensionLength = 16;
    private const string Reserved = "/\\:*?\"<>|";

    private static readonly HashSet<string> DeviceNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    };

    /// <summary>The safe form of <paramref name="name"/>; never empty.</summary>
    public static string Clean(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return Fallback;
        }
        // Only the last part of a path: "../../.ssh/authorized_keys" is "authorized_keys".
        var last = name[(name.LastIndexOfAny(['/', '\\']) + 1)..];
        var builder = new StringBuilder(last.Length);
        foreach (var rune in last.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (category is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator)
            {
                continue;
            }
            if (rune.IsAscii && Reserved.Contains((char)rune.Value, StringComparison.Ordinal))
            {
                builder.Append('_');
            }
            else if (Rune.IsWhiteSpace(rune))
            {
                builder.Append(' ');
            }
            else
            {
                builder.Append(rune.ToString());
            }
        }
        var cleaned = builder.ToString().Trim(' ', '.');
        while (cleaned.Contains("  ", StringComparison.Ordinal))
        {
            cleaned = cleaned.Replace("  ", " ", StringComparison.Ordinal);
        }
        if (cleaned.Length == 0)
        {
            return Fallback;
        }
        var (stem, extension) = Split(cleaned);
        if (DeviceNames.Contains(stem))
        {
            stem = "_" + stem;
        }
        return Fit(stem, extension, "");
    }

    /// <summary>The names to try in turn for a new file: the clean name, then with " (1)", " (2)"… before the extension.</summary>
    public static IEnumerable<string> Candidates(string cleanName)
    {
        var (stem, extension) = Split(cleanName);
        yield return cleanName;
        for (var i = 1; ; i++)
        {
            yield return Fit(stem, extension, string.Create(CultureInfo.InvariantCulture, $" ({i})"));
        }
    }

    private static (string Stem, string Extension) Split(string name)
    {
        var dot = name.LastIndexOf('.');
        return dot > 0 && name.Length - dot <= MaxExtensionLength ? (name[..dot], name[dot..]) : (name, "");
    }

    /// <summary>Cuts the stem (at a character boundary) until stem + suffix + extension fits <see cref="MaxBytes"/>.</summary>
    private static string Fit(string stem, string extension, string suffix)
    {
        var budget = MaxBytes - Encoding.UTF8.GetByteCount(extension) - Encoding.UTF8.GetByteCount(suffix);
        if (Encoding.UTF8.GetByteCount(stem) > budget)
        {
            var runes = stem.EnumerateRunes().ToList();
            var used = 0;
            var kept = new StringBuilder();
            foreach (var rune in runes)
            {
                used += rune.Utf8SequenceLength;
                if (used > budget)
                {
                    break;
                }
                kept.Append(rune.ToString());
            }
            stem = kept.ToString().TrimEnd(' ', '.');
            if (stem.Length == 0)
            {
                stem = Fallback;
            }
        }
        return stem + suffix + extension;
    }
}
