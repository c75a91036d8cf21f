namespace Parley.Net.Noise;

/// <summary>
/// The noise handshake failed: a truncated or malformed message, a bad signature, an unexpected
/// peer id, a closed connection or a timeout. The insecure stream must not be used afterwards.
/// </summary>
public class NoiseHandshakeException : Exception
{
    public NoiseHandshakeException()
        : base("noise handshake failed")
    {
    }

    public NoiseHandshakeException(string message)
        : base(message)
    {
    }

    public NoiseHandshakeException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
