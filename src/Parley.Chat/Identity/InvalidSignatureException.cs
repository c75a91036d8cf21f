using System.Security.Cryptography;

namespace Parley.Chat.Identity;

/// <summary>A certificate or claim is well-formed but its signature does not verify: forged or tampered with.</summary>
public sealed class InvalidSignatureException : CryptographicException
{
    public InvalidSignatureException()
        : base("invalid signature")
    {
    }

    public InvalidSignatureException(string message)
        : base(message)
    {
    }

    public InvalidSignatureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
