using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class PairwiseSessionsTests : AliceAndBobTest
{
    [Fact]
    public async Task A_session_started_from_published_keys_is_answered_by_the_recipient_and_spends_a_one_time_prekey()
    {
        var bobAsContact = await DiscoverBobAsync();
        var oneTimeBefore = await Bob.Store.ReadAsync(r => r.GetPrekeys(oneTime: true).Count, CancellationToken.None);
        var setup = await Alice.Core.Sessions.PrepareAsync(bobAsContact, CancellationToken.None);
        Assert.NotNull(setup);
        Assert.NotNull(setup.Prekey.OneTimePrekeyId);

        var content = new Content { Text = new Text { Body = "secret" } };
        await Alice.Store.TransactAsync(tx =>
        {
            Alice.Core.Sessions.Queue(tx, bobAsContact, content, null, setup);
            return true;
        }, CancellationToken.None);
        var envelope = await QueuedEnvelopeAsync();
        Assert.NotNull(envelope.Prekey);

        var opened = await Bob.Store.TransactAsync(
            tx => Bob.Core.Sessions.Decrypt(tx, envelope, Alice.Chat.Account.IdentityDhCertificate, World.Time.GetUtcNow()),
            CancellationToken.None);

        Assert.Equal("secret", opened.Text.Body);
        Assert.Equal(oneTimeBefore - 1, await Bob.Store.ReadAsync(r => r.GetPrekeys(oneTime: true).Count, CancellationToken.None));
        // Once a session exists there is nothing to prepare.
        Assert.Null(await Alice.Core.Sessions.PrepareAsync(bobAsContact, CancellationToken.None));
    }

    [Fact]
    public async Task A_tampered_ciphertext_is_refused_and_leaves_the_session_as_it_was()
    {
        var bobAsContact = await DiscoverBobAsync();
        var setup = await Alice.Core.Sessions.PrepareAsync(bobAsContact, CancellationToken.None);
        await Alice.Store.TransactAsync(tx =>
        {
            Alice.Core.Sessions.Queue(tx, bobAsContact, new Content { Text = new Text { Body = "x" } }, null, setup);
            return true;
        }, CancellationToken.None);
        var envelope = await QueuedEnvelopeAsync();
        var ratchet = envelope.Ratchet.ToByteArray();
        ratchet[^1] ^= 1;
        var tampered = envelope.Clone();
        tampered.Ratchet = ByteString.CopyFrom(ratchet);

        await Assert.ThrowsAsync<EnvelopeRefusedException>(() => Bob.Store.TransactAsync(
            tx => Bob.Core.Sessions.Decrypt(tx, tampered, Alice.Chat.Account.IdentityDhCertificate, World.Time.GetUtcNow()),
            CancellationToken.None));
        Assert.False(await Bob.Store.ReadAsync(r => r.HasSession(Alice.Chat.Account.Id), CancellationToken.None));
    }

    [Fact]
    public async Task A_control_without_a_session_is_not_queued()
    {
        var bobAsContact = await DiscoverBobAsync();
        var queued = await Alice.Store.TransactAsync(
            tx => Alice.Core.Sessions.QueueControl(tx, bobAsContact, new Content { ContactAccept = new ContactAccept() }),
            CancellationToken.None);
        Assert.False(queued);
        Assert.Equal(0, await Alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    private Task<ContactRecord> DiscoverBobAsync() => Alice.Core.Contacts.DiscoverAsync(Bob.HandleText, CancellationToken.None);

    private async Task<Envelope> QueuedEnvelopeAsync() =>
        Envelope.Parser.ParseFrom(Assert.Single(await Alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None)).Envelope);
}
