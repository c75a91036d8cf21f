namespace Parley.Chat.Mailbox;

/// <summary>What lets a deposit into a mailbox.</summary>
public abstract record DepositAuthorization
{
    private DepositAuthorization()
    {
    }

    /// <summary>A token the owner accepted: 32 bytes whose SHA-256 is in the owner's policy.</summary>
    public sealed record Token(byte[] Value) : DepositAuthorization
    {
        public const int Length = 32;
    }

    /// <summary>A proof-of-work stamp, solved by the client once per envelope; for senders the owner has not accepted.</summary>
    public sealed record Stamp : DepositAuthorization;
}

/// <summary>How a deposit went: <paramref name="Stored"/> counts nodes that answered Stored or Duplicate.</summary>
public sealed record DepositResult(int Stored, int Attempted, IReadOnlyList<string> Refusals);

public sealed record MailboxEnvelope(byte[] EnvelopeId, byte[] Envelope, DateTimeOffset StoredAt)
{
    /// <summary>Envelope ids are 16 bytes, chosen by the sender.</summary>
    public const int IdLength = 16;
}

/// <summary>Envelopes from every mailbox node that answered, deduplicated by envelope id.</summary>
/// <param name="CopiesReceived">Envelopes the nodes sent in all, duplicates included: close to <c>Envelopes.Count</c>
/// when the first node had everything.</param>
public sealed record MailboxFetchResult(IReadOnlyList<MailboxEnvelope> Envelopes, int NodesAnswered, int NodesAsked, int CopiesReceived);
