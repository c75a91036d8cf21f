using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Parley.Chat.Crypto;
using Parley.Chat.Identity;
using Parley.Core.Crypto;

namespace Parley.Chat.Messaging;

/// <summary>What every part of one user's chat core shares: who we are, the store, time, randomness and options.</summary>
internal sealed class ChatContext(Account account, string name, IChatStore store, TimeProvider time, ICryptoProvider crypto, ChatOptions options, ILogger logger)
{
    public const int MessageIdLength = 16;
    public const int EnvelopeIdLength = 16;
    public const int MailboxTokenLength = 32;
    public const int SessionIdLength = 8;

    public Account Account { get; } = account;

    /// <summary>Our normalized name, as claimed in the directory.</summary>
    public string Name { get; } = name;

    public Handle Handle { get; } = new(name, account.Tag);

    public IChatStore Store { get; } = store;

    public TimeProvider Time { get; } = time;

    public ICryptoProvider Crypto { get; } = crypto;

    public ChatOptions Options { get; } = options;

    public ILogger Logger { get; } = logger;

    public ChatEventHub Events { get; } = new(logger);

    /// <summary>Our certified identity DH key, carried by every pairwise envelope.</summary>
    public byte[] SenderIdentity { get; } = account.IdentityDhCertificate.ToBytes();

    public X25519KeyPair IdentityKeyPair => new(Account.IdentityDhPrivateKey, Account.IdentityDhPublicKey);

    public DateTimeOffset Now => Time.GetUtcNow();

    public byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Crypto.RandomBytes(bytes);
        return bytes;
    }

    public static byte[] SessionIdOf(ReadOnlySpan<byte> ephemeralKey) => SHA256.HashData(ephemeralKey)[..SessionIdLength];

    public static int Utf8Length(string text) => Encoding.UTF8.GetByteCount(text);

    /// <summary>Checks a text the user wants to send.</summary>
    /// <exception cref="ChatException">Empty, or longer than <see cref="ChatOptions.MaxTextBytes"/>.</exception>
    public void CheckOutgoingText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ChatException("an empty message is not sent");
        }
        if (Utf8Length(text) > Options.MaxTextBytes)
        {
            throw new ChatException($"the message is {Utf8Length(text)} bytes; at most {Options.MaxTextBytes} fit");
        }
    }
}
