namespace Parley.Dht.Records;

/// <summary>
/// Validation and selection for the records of one namespace (go-libp2p-record's <c>Validator</c>). Both methods are
/// pure: the same inputs give the same answer on every node, so the network converges on one best record.
/// </summary>
public interface IRecordValidator
{
    /// <summary>Checks <paramref name="value"/> as the record stored under <paramref name="key"/>.</summary>
    /// <exception cref="RecordValidationException">The record is invalid; the message says why.</exception>
    void Validate(RecordKey key, ReadOnlySpan<byte> value);

    /// <summary>The index of the best of <paramref name="values"/>, all of which are valid; ties go to the lowest index.</summary>
    int Select(RecordKey key, IReadOnlyList<byte[]> values);
}

/// <summary>
/// A validator whose records are merged rather than replaced (such as a set of claims many writers add to). The store
/// keeps the merge of what it holds and what arrives, and a get returns the merge of every copy it saw. Merge must be
/// pure, like <see cref="IRecordValidator.Select"/>: the same inputs give the same bytes on every node.
/// </summary>
public interface IMergingRecordValidator : IRecordValidator
{
    /// <summary>
    /// The record that combines <paramref name="existing"/> (held) with <paramref name="incoming"/> (arrived), both valid;
    /// the result must be valid too. Returning bytes equal to <paramref name="existing"/> means the incoming record adds nothing.
    /// </summary>
    byte[] Merge(RecordKey key, byte[] existing, byte[] incoming);
}
