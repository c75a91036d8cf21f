using Parley.Chat.Crypto;
using Parley.Chat.Delivery;
using Parley.Chat.Directory;
using Parley.Chat.Identity;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Chat.Publishing;
using Parley.Chat.Sessions;
using Parley.Core.Identity;

namespace Parley.Chat.Contacts;

/// <summary>
/// The people we know (docs/messaging.md): finding one by handle, name or id, adding someone found in the directory,
/// accepting and blocking, and making sure everyone a room writes to is at least a room peer with a way to start a
/// session. Every contact change that gives or takes a mailbox token updates the mailbox policy.
/// </summary>
internal sealed class ContactBook(ChatContext context, IUserDirectory directory, PairwiseSessions sessions, Outbox outbox, DirectoryPublisher publisher, DeviceSessions deviceSessions)
{
    /// <summary>The name of someone we heard from before anything told us their name (a room control from a stranger).</summary>
    public const string UnknownName = "unknown";

    /// <summary>The contact <paramref name="who"/> names (a handle, an account id, or a name only one contact has); reads only the candidates, since sending to a known contact is the hot path.</summary>
    /// <exception cref="ChatException">The name fits several contacts.</exception>
    public static ContactRecord? Find(IChatReader reader, string who)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(who);
        who = who.Trim();
        if (Handle.TryParse(who, out var handle))
        {
            return reader.GetContactsNamed(handle.Name).FirstOrDefault(c => c.Handle == handle);
        }
        if (PeerId.TryParse(who, out var id))
        {
            return reader.GetContact(id);
        }
        var named = reader.GetContactsNamed(who);
        return named.Count switch
        {
            0 => null,
            1 => named[0],
            _ => throw new ChatException($"several contacts are called {who}: {string.Join(", ", named.Select(c => c.Handle))}; say which"),
        };
    }

    /// <exception cref="ChatException">No such contact, or the name fits several.</exception>
    public async Task<ContactRecord> GetAsync(string who, CancellationToken cancellationToken) =>
        await context.Store.ReadAsync(r => Find(r, who), cancellationToken) ?? throw new ChatException($"'{who}' is not among your contacts or requests");

    public Task<IReadOnlyList<HandleMatch>> FindInDirectoryAsync(string nameOrHandle, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(nameOrHandle);
        return directory.FindAsync(nameOrHandle.Trim(), cancellationToken);
    }

    /// <summary>Finds a user in the directory and adds them as a contact we are asking to talk to.</summary>
    public async Task<ContactRecord> DiscoverAsync(string recipient, CancellationToken cancellationToken) =>
        (await DiscoverAsync(recipient, prepareSession: false, cancellationToken)).Contact;

    /// <summary>
    /// As <see cref="DiscoverAsync(string, CancellationToken)"/>; with <paramref name="prepareSession"/> it also starts
    /// the session for the first message to someone new to us (Setup is null when they were known already): the prekeys
    /// that found them serve X3DH, and the one-time prekey is claimed while the mailbox policy is published, instead of
    /// one directory round after another (each a DHT lookup: the first message to a stranger waits for all of them).
    /// </summary>
    public async Task<(ContactRecord Contact, SessionSetup? Setup)> DiscoverAsync(string recipient, bool prepareSession, CancellationToken cancellationToken)
    {
        var matches = await FindInDirectoryAsync(recipient, cancellationToken);
        var match = matches.Count switch
        {
            0 => throw new ChatException($"nobody called {recipient} was found in the directory"),
            1 => matches[0],
            _ => throw new ChatException($"several users are called {recipient}: {string.Join(", ", matches.Select(m => m.Handle))}; say which"),
        };
        if (match.Account.Equals(context.Account.PublicKey))
        {
            throw new ChatException("that is you");
        }
        var bundle = await directory.GetPrekeysAsync(match.Account.ToPeerId(), cancellationToken)
            ?? throw new ChatException($"{match.Handle} has no keys in the directory; they may not have been online for a week");
        var contact = new ContactRecord(
            match.Account.ToPeerId(), match.Account, bundle.Identity.DhKey, match.Handle.Name, ContactState.Requested,
            TheirMailboxToken: null, OurMailboxToken: context.RandomBytes(ChatContext.MailboxTokenLength), context.Now);
        var (added, isNew) = await context.Store.TransactAsync(tx =>
        {
            if (tx.GetContact(contact.Account) is { } existing)
            {
                return (existing, false);
            }
            tx.PutContact(contact);
            return (contact, true);
        }, cancellationToken);
        // Their replies may come to our mailbox with the token our request carries: published before the request is queued.
        var policy = publisher.PublishMailboxPolicyAsync(cancellationToken);
        var setup = prepareSession && isNew ? sessions.PrepareAsync(added, bundle, cancellationToken) : Task.FromResult<SessionSetup?>(null);
        await Task.WhenAll(policy, setup);
        context.Events.OnContactChanged(added);
        return (added, await setup);
    }

    /// <summary>Accepts a contact request: their waiting messages become chat, and they may reach our mailbox without proof of work.</summary>
    public async Task<ContactRecord> AcceptAsync(ContactRecord contact, CancellationToken cancellationToken)
    {
        var accepted = await context.Store.TransactAsync(tx =>
        {
            var current = tx.GetContact(contact.Account) ?? contact;
            var updated = current with { State = ContactState.Accepted, OurMailboxToken = current.OurMailboxToken ?? context.RandomBytes(ChatContext.MailboxTokenLength) };
            tx.PutContact(updated);
            return updated;
        }, cancellationToken);
        // The mailbox nodes learn the new token before the contact can use it.
        await publisher.PublishMailboxPolicyAsync(cancellationToken);
        await deviceSessions.PrepareAsync(accepted, cancellationToken);
        var setup = await sessions.PrepareAsync(accepted, cancellationToken);
        await context.Store.TransactAsync(tx =>
        {
            var accept = new Content { ContactAccept = new ContactAccept { MailboxToken = Google.Protobuf.ByteString.CopyFrom(accepted.OurMailboxToken) } };
            sessions.Queue(tx, accepted, accept, null, setup);
            return true;
        }, cancellationToken);
        context.Events.OnContactChanged(accepted);
        outbox.Wake();
        return accepted;
    }

    /// <summary>Someone known from a room becomes someone we ask to talk to 1:1, as with anyone new.</summary>
    public async Task<ContactRecord> AskAsync(ContactRecord contact, CancellationToken cancellationToken)
    {
        var asked = contact with { State = ContactState.Requested };
        await context.Store.TransactAsync(tx =>
        {
            tx.PutContact(asked);
            return true;
        }, cancellationToken);
        return asked;
    }

    /// <summary>Blocks a contact: nothing more from them is shown or acknowledged, and a waiting request is deleted.</summary>
    public async Task<ContactRecord> BlockAsync(ContactRecord contact, CancellationToken cancellationToken)
    {
        var blocked = contact with { State = ContactState.Blocked, OurMailboxToken = null };
        await context.Store.TransactAsync(tx =>
        {
            tx.PutContact(blocked);
            if (contact.State == ContactState.Pending)
            {
                tx.DeleteMessages(ConversationIds.Direct(context.Account.Id, contact.Account));
            }
            foreach (var item in tx.GetOutbox(DateTimeOffset.MaxValue, int.MaxValue).Where(i => i.Recipient == contact.Account))
            {
                tx.DeleteOutbox(item.EnvelopeId);
            }
            return true;
        }, cancellationToken);
        await publisher.PublishMailboxPolicyAsync(cancellationToken);
        context.Events.OnContactChanged(blocked);
        return blocked;
    }

    /// <summary>Signal-style safety number for comparing keys with a contact out of band.</summary>
    public string SafetyNumber(ContactRecord contact) =>
        Crypto.SafetyNumber.Compute(context.Account.PublicKey.ToProtobuf(), context.Account.Id.Bytes, contact.AccountKey.ToProtobuf(), contact.Account.Bytes);

    /// <summary>Someone to invite: a contact, or a single match in the directory.</summary>
    public async Task<(PublicKey Account, string Display)> ResolvePersonAsync(string who, CancellationToken cancellationToken)
    {
        if (await context.Store.ReadAsync(r => Find(r, who), cancellationToken) is { } contact)
        {
            return (contact.AccountKey, contact.Handle.ToString());
        }
        var matches = await FindInDirectoryAsync(who, cancellationToken);
        return matches.Count switch
        {
            1 => (matches[0].Account, matches[0].Handle.ToString()),
            0 => throw new ChatException($"nobody called {who} was found"),
            _ => throw new ChatException($"several users are called {who}: {string.Join(", ", matches.Select(m => m.Handle))}; say which"),
        };
    }

    /// <summary>
    /// Makes sure every account we are about to write to is a contact (a room peer if it was not one) and that a
    /// pairwise session can be started: the network part, done before any transaction. Accounts that cannot be
    /// reached (no keys in the directory) are left out with a warning. A room peer gets a mailbox token here, since
    /// the pairwise session will carry it.
    /// </summary>
    public async Task<Dictionary<PeerId, SessionSetup?>> PreparePeersAsync(IEnumerable<(PublicKey Account, string DisplayName)> peers, CancellationToken cancellationToken)
    {
        var setups = new Dictionary<PeerId, SessionSetup?>();
        var added = false;
        var others = peers.DistinctBy(p => p.Account).Where(p => !p.Account.Equals(context.Account.PublicKey)).ToList();
        // One read finds who is ready: in a large room nearly everyone is, and this runs after every change.
        var known = await context.Store.ReadAsync(
            r => others.Select(p => r.GetContact(p.Account.ToPeerId())).Select(c => (Contact: c, Ready: c is not null && r.HasSession(c.Account))).ToList(),
            cancellationToken);
        for (var i = 0; i < others.Count; i++)
        {
            var (account, display) = others[i];
            var (contact, ready) = known[i];
            if (contact is { State: ContactState.GroupPeer, Name: UnknownName } && GroupMemberInfo.Of(display, account, false).Handle.Name is not UnknownName and var name)
            {
                // Stored before the room told us the name (older versions kept it unknown): named now.
                contact = contact with { Name = name };
                await context.Store.TransactAsync(
                    tx =>
                    {
                        tx.PutContact(tx.GetContact(account.ToPeerId())! with { Name = name });
                        return true;
                    },
                    cancellationToken);
            }
            if (ready)
            {
                setups[contact!.Account] = null;
                continue;
            }
            try
            {
                if (contact is null || contact.OurMailboxToken is null && contact.State == ContactState.GroupPeer)
                {
                    var peer = contact ?? await FindRoomPeerAsync(account, display, cancellationToken);
                    contact = await context.Store.TransactAsync(tx => PutRoomPeer(tx, peer, withToken: true), cancellationToken);
                    added = true;
                }
                setups[contact.Account] = await sessions.PrepareAsync(contact, cancellationToken);
            }
            catch (Exception e) when (e is ChatException or IOException)
            {
                ChatLog.MemberUnreachable(context.Logger, account.ToPeerId(), e.Message);
            }
        }
        if (added)
        {
            await publisher.PublishMailboxPolicyAsync(cancellationToken);
        }
        return setups;
    }

    /// <summary>
    /// Makes sure every account a room message goes to is a contact, without starting a session: a copy of a room
    /// message needs only where the member is and the key its mailbox takes. Such a room peer has no mailbox token of
    /// ours (no pairwise session would carry it), so the mailbox policy does not change. Accounts that cannot be found
    /// are left out with a warning.
    /// </summary>
    public async Task PrepareContactsAsync(IEnumerable<(PublicKey Account, string DisplayName)> peers, CancellationToken cancellationToken)
    {
        var others = peers.DistinctBy(p => p.Account).Where(p => !p.Account.Equals(context.Account.PublicKey)).ToList();
        var missing = await context.Store.ReadAsync(r => others.Where(p => r.GetContact(p.Account.ToPeerId()) is null).ToList(), cancellationToken);
        foreach (var (account, display) in missing)
        {
            try
            {
                var peer = await FindRoomPeerAsync(account, display, cancellationToken);
                await context.Store.TransactAsync(tx => PutRoomPeer(tx, peer, withToken: false), cancellationToken);
            }
            catch (Exception e) when (e is ChatException or IOException)
            {
                ChatLog.MemberUnreachable(context.Logger, account.ToPeerId(), e.Message);
            }
        }
    }

    private async Task<ContactRecord> FindRoomPeerAsync(PublicKey account, string display, CancellationToken cancellationToken)
    {
        var bundle = await directory.GetPrekeysAsync(account.ToPeerId(), cancellationToken)
            ?? throw new ChatException($"{display} has no keys in the directory");
        return new ContactRecord(
            account.ToPeerId(), account, bundle.Identity.DhKey, GroupMemberInfo.Of(display, account, false).Handle.Name, ContactState.GroupPeer,
            null, null, context.Now);
    }

    /// <summary>Stores a room peer unless a contact appeared meanwhile; a room peer gets a token of ours when <paramref name="withToken"/> and it has none.</summary>
    private ContactRecord PutRoomPeer(IChatTransaction tx, ContactRecord peer, bool withToken)
    {
        var existing = tx.GetContact(peer.Account);
        var needsToken = withToken && (existing ?? peer) is { OurMailboxToken: null, State: ContactState.GroupPeer };
        if (existing is not null && !needsToken)
        {
            return existing;
        }
        var contact = existing ?? peer;
        if (needsToken)
        {
            contact = contact with { OurMailboxToken = context.RandomBytes(ChatContext.MailboxTokenLength) };
        }
        tx.PutContact(contact);
        return contact;
    }
}
