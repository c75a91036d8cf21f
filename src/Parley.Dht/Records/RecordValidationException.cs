namespace Parley.Dht.Records;

/// <summary>A DHT record failed validation; <see cref="Exception.Message"/> says why, without echoing the record.</summary>
public sealed class RecordValidationException : Exception
{
    public RecordValidationException()
        : base("invalid record")
    {
    }

    public RecordValidationException(string reason)
        : base(reason)
    {
    }

    public RecordValidationException(string reason, Exception innerException)
        : base(reason, innerException)
    {
    }

    /// <summary>Why the record was rejected, fit for logs and <see cref="PutOutcome.Reason"/>.</summary>
    public string Reason => Message;
}
