using System.Globalization;

namespace Parley.Testing.Simulation;

/// <summary>
/// Writes comma-separated rows (RFC 4180 quoting, '\n' line ends) to a writer it does not own. Numbers, times and
/// other formattable values are written with the invariant culture (date-times round-trip, "O"), so the output is
/// the same on every machine.
/// </summary>
public sealed class CsvWriter(TextWriter writer)
{
    private static readonly char[] CharactersNeedingQuotes = [',', '"', '\n', '\r'];

    private readonly TextWriter _writer = writer ?? throw new ArgumentNullException(nameof(writer));

    public void WriteRow(params ReadOnlySpan<object?> fields)
    {
        for (var i = 0; i < fields.Length; i++)
        {
            if (i > 0)
            {
                _writer.Write(',');
            }
            _writer.Write(Escape(Format(fields[i])));
        }
        _writer.Write('\n');
    }

    /// <summary>Quotes a field when it holds a comma, quote or line break, doubling inner quotes.</summary>
    public static string Escape(string field)
    {
        ArgumentNullException.ThrowIfNull(field);
        return field.IndexOfAny(CharactersNeedingQuotes) < 0 ? field : $"\"{field.Replace("\"", "\"\"", StringComparison.Ordinal)}\"";
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        DateTimeOffset time => time.ToString("O", CultureInfo.InvariantCulture),
        DateTime time => time.ToString("O", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };
}
