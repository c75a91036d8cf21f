namespace Parley.Net.Yamux;

/// <summary>The session has ended; <see cref="Exception.InnerException"/> is the session's close reason when known.</summary>
public class YamuxSessionClosedException : IOException
{
    public YamuxSessionClosedException()
        : base("The yamux session is closed.")
    {
    }

    public YamuxSessionClosedException(string message)
        : base(message)
    {
    }

    public YamuxSessionClosedException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>The remote peer violated the yamux protocol; the session is closed with GoAway(ProtocolError).</summary>
public sealed class YamuxProtocolException : IOException
{
    public YamuxProtocolException()
        : base("The remote peer violated the yamux protocol.")
    {
    }

    public YamuxProtocolException(string message)
        : base(message)
    {
    }

    public YamuxProtocolException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
