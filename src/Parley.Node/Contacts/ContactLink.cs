using Parley.Chat.Crypto;
using Parley.Chat.Identity;
using Parley.Core.Identity;

namespace Parley.Node.Contacts;

/// <summary>
/// A contact link (docs/contact-links.md): <c>parley://contact/v1/&lt;name&gt;/&lt;tag&gt;?sn=&lt;30 digits&gt;</c>. The
/// handle says whom to look up; <c>sn</c> is the owner's half of every safety number anyone computes with them (the
/// 30-digit fingerprint of their account key), so whoever opens the link can check that the key the directory hands out
/// for that handle is the owner's, with about 100 bits of assurance where the 40-bit tag alone gives 40.
/// </summary>
public sealed record ContactLink(Handle Handle, string Fingerprint)
{
    public const string Prefix = "parley://contact/";
    public const string Version = "v1";
    public const int FingerprintDigits = 30;

    /// <summary>Bound on a link's text before anything is parsed (a v1 link is at most 90 characters).</summary>
    public const int MaxLength = 256;

    /// <summary>The link of the account with <paramref name="handle"/> and <paramref name="accountKey"/>.</summary>
    public static ContactLink Of(Handle handle, PublicKey accountKey) => new(handle, FingerprintOf(accountKey));

    /// <summary>
    /// The account's half of a safety number: the safety number is both parties' 30-digit fingerprints, so that of an
    /// account with itself is its own fingerprint twice.
    /// </summary>
    public static string FingerprintOf(PublicKey accountKey)
    {
        ArgumentNullException.ThrowIfNull(accountKey);
        var key = accountKey.ToProtobuf();
        var id = accountKey.ToPeerId().Bytes;
        return SafetyNumber.Compute(key, id, key, id)[..FingerprintDigits];
    }

    /// <summary>True when <paramref name="accountKey"/> is the key this link was made for.</summary>
    public bool Matches(PublicKey accountKey) => string.Equals(FingerprintOf(accountKey), Fingerprint, StringComparison.Ordinal);

    public override string ToString() => $"{Prefix}{Version}/{Handle.Name}/{Handle.Tag}?sn={Fingerprint}";

    /// <summary>Parses a link as shared (surrounding whitespace is ignored; the scheme and names in any case).</summary>
    /// <exception cref="FormatException">Not a contact link, or a damaged one; the message says what is wrong.</exception>
    public static ContactLink Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        if (text.Length > MaxLength)
        {
            throw new FormatException($"a contact link is at most {MaxLength} characters; this text has {text.Length}");
        }
        if (!text.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"a contact link starts with {Prefix}");
        }
        var query = text.IndexOf('?', StringComparison.Ordinal);
        var path = (query < 0 ? text[Prefix.Length..] : text[Prefix.Length..query]).Split('/');
        if (path[0] != Version)
        {
            throw new FormatException(path[0].StartsWith('v') && path.Length == 3
                ? $"this contact link is of version {path[0]}, which this Parley does not know; update Parley to open it"
                : $"a contact link reads {Prefix}{Version}/<name>/<tag>?sn=<safety number digits>");
        }
        if (path.Length != 3)
        {
            throw new FormatException($"a contact link reads {Prefix}{Version}/<name>/<tag>?sn=<safety number digits>");
        }
        var handle = new Handle(path[1], path[2]);
        // Other parameters are ignored, so that a later v1 may add optional ones.
        var fingerprint = (query < 0 ? [] : text[(query + 1)..].Split('&'))
            .Where(p => p.StartsWith("sn=", StringComparison.Ordinal))
            .Select(p => p[3..])
            .FirstOrDefault() ?? throw new FormatException("the contact link has no safety number (sn=); ask for the whole link");
        if (fingerprint.Length != FingerprintDigits || !fingerprint.All(char.IsAsciiDigit))
        {
            throw new FormatException($"the safety number in a contact link is {FingerprintDigits} digits; this one is damaged");
        }
        return new ContactLink(handle, fingerprint);
    }

    /// <summary>The link's QR code: rows of modules, '1' dark, with the quiet zone of 4 modules around it.</summary>
    public IReadOnlyList<string> QrRows() => QrRendering.Rows(ToString());

    /// <summary>The QR code in Unicode half blocks, two rows of modules per line, light modules drawn (print it light on dark).</summary>
    public string QrText() => QrRendering.Text(ToString());
}
