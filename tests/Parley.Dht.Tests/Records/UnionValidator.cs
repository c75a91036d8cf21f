using System.Text;
using Parley.Dht.Records;

namespace Parley.Dht.Tests.Records;

/// <summary>
/// A merging namespace for tests: a value is distinct lowercase words joined by ','; the merge keeps the held words in
/// their order and appends new ones in the order they arrive.
/// </summary>
internal sealed class UnionValidator : IMergingRecordValidator
{
    public const string Namespace = "set";

    public static RecordKey Key(string name) => RecordKey.Create(Namespace, name);

    public static byte[] Value(params string[] words) => Encoding.UTF8.GetBytes(string.Join(',', words));

    public static string[] Words(ReadOnlySpan<byte> value) => Encoding.UTF8.GetString(value).Split(',');

    public void Validate(RecordKey key, ReadOnlySpan<byte> value)
    {
        var words = Words(value);
        if (words.Any(w => w.Length == 0 || !w.All(char.IsAsciiLetterLower)))
        {
            throw new RecordValidationException("not a list of lowercase words");
        }
        if (words.Distinct(StringComparer.Ordinal).Count() != words.Length)
        {
            throw new RecordValidationException("a word appears twice");
        }
    }

    /// <summary>The longest list, ties to the greatest bytes.</summary>
    public int Select(RecordKey key, IReadOnlyList<byte[]> values)
    {
        var best = 0;
        for (var i = 1; i < values.Count; i++)
        {
            var (count, bestCount) = (Words(values[i]).Length, Words(values[best]).Length);
            if (count > bestCount || (count == bestCount && values[i].AsSpan().SequenceCompareTo(values[best]) > 0))
            {
                best = i;
            }
        }
        return best;
    }

    public byte[] Merge(RecordKey key, byte[] existing, byte[] incoming)
    {
        var held = Words(existing);
        var added = Words(incoming).Where(w => !held.Contains(w, StringComparer.Ordinal)).ToArray();
        return added.Length == 0 ? existing : Value([.. held, .. added]);
    }
}
