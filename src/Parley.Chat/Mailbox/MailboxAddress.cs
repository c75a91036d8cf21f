using System.Security.Cryptography;
using Parley.Core.Identity;

namespace Parley.Chat.Mailbox;

/// <summary>Where an account's mailbox lives: the k DHT nodes closest to this id hold its envelopes.</summary>
public static class MailboxAddress
{
    public const int Length = 32;

    private static readonly byte[] Prefix = "parley/mailbox/"u8.ToArray();

    /// <summary>SHA-256("parley/mailbox/" ‖ account public key in libp2p protobuf form).</summary>
    public static byte[] Of(PublicKey account)
    {
        ArgumentNullException.ThrowIfNull(account);
        byte[] input = [.. Prefix, .. account.ToProtobuf()];
        return SHA256.HashData(input);
    }
}
