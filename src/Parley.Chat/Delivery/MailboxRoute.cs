using Parley.Chat.Crypto;
using Parley.Chat.Mailbox;
using Parley.Chat.Messaging;

namespace Parley.Chat.Delivery;

/// <summary>
/// Delivery to an offline recipient: the envelope sealed to their identity key and deposited in their mailbox, with
/// the token they gave us or, before they accepted us, a proof-of-work stamp. An envelope for one linked device goes to
/// the mailbox owned by that device's key (docs/devices.md); a device that has not heard of our token yet (ours, for a
/// sync copy, always) is paid with a stamp.
/// </summary>
internal sealed class MailboxRoute(ChatContext context, IMailboxes mailboxes)
{
    /// <summary>How many mailbox places took the envelope; a failure of the network, or an envelope too big for a mailbox, counts as none.</summary>
    public async Task<DepositResult> DepositAsync(ContactRecord contact, OutboxItem item, CancellationToken cancellationToken)
    {
        DepositResult result;
        try
        {
            var sealedEnvelope = SealedBox.Seal(context.Crypto, contact.IdentityDhKey, item.Envelope);
            var owner = item.Device is { } device ? device.TryExtractPublicKey() ?? throw new ArgumentException("a device id without its key") : contact.AccountKey;
            DepositAuthorization authorization = contact.TheirMailboxToken is { } token ? new DepositAuthorization.Token(token) : new DepositAuthorization.Stamp();
            result = await mailboxes.DepositAsync(owner, item.EnvelopeId, sealedEnvelope, authorization, cancellationToken);
            if (result.Stored == 0 && item.Device is not null && authorization is DepositAuthorization.Token)
            {
                result = await mailboxes.DepositAsync(owner, item.EnvelopeId, sealedEnvelope, new DepositAuthorization.Stamp(), cancellationToken);
            }
        }
        // An envelope bigger than a mailbox takes (ArgumentException) is refused as a failure of the network is: it
        // waits in the outbox for a direct route instead of holding up every other envelope.
        catch (Exception e) when (e is IOException or TimeoutException or ArgumentException)
        {
            ChatLog.DepositFailed(context.Logger, e.Message);
            result = new DepositResult(0, 0, [e.Message]);
        }
        if (result.Stored == 0)
        {
            ChatLog.NoMailboxTookEnvelope(context.Logger, result.Attempted, string.Join("; ", result.Refusals.Take(3)));
        }
        else if (result.Refusals.Count > 0)
        {
            ChatLog.MailboxRefusals(context.Logger, contact.Account, string.Join("; ", result.Refusals));
        }
        return result;
    }
}
