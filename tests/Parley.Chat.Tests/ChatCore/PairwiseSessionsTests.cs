using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;

namespace Parley.Chat.Tests.ChatCore;

public sealed class PairwiseSessionsTests : IAsyncLifetime
{
    private readonly FakeChatWorld _world = new();
    private FakeChatUser _alice = null!;
    private FakeChatUser _bob = null!;

    public async Task InitializeAsync()
    {
        _alice = await _world.AddUserAsync("alice");
        _bob = await _world.AddUserAsync("bob");
    }

    public async Task DisposeAsync() => await _world.DisposeAsync();

    [Fact]
    public async Task A_session_started_from_published_keys_is_answered_by_the_recipient_and_spends_a_one_time_prekey()
    {
        var bobAsContact = await DiscoverBobAsync();
        var oneTimeBefore = await _bob.Store.ReadAsync(r => r.GetPrekeys(oneTime: true).Count, CancellationToken.None);
        var setup = await _alice.Core.Sessions.PrepareAsync(bobAsContact, CancellationToken.None);
        Assert.NotNull(setup);
        Assert.NotNull(setup.Prekey.OneTimePrekeyId);

        var content = new Content { Text = new Text { Body = "secret" } };
        await _alice.Store.TransactAsync(tx =>
        {
            _alice.Core.Sessions.Queue(tx, bobAsContact, content, null, setup);
            return true;
        }, CancellationToken.None);
        var envelope = await QueuedEnvelopeAsync();
        Assert.NotNull(envelope.Prekey);

        var opened = await _bob.Store.TransactAsync(
            tx => _bob.Core.Sessions.Decrypt(tx, envelope, _alice.Chat.Account.IdentityDhCertificate, _world.Time.GetUtcNow()),
            CancellationToken.None);

        Assert.Equal("secret", opened.Text.Body);
        Assert.Equal(oneTimeBefore - 1, await _bob.Store.ReadAsync(r => r.GetPrekeys(oneTime: true).Count, CancellationToken.None));
        // Once a session exists there is nothing to prepare.
        Assert.Null(await _alice.Core.Sessions.PrepareAsync(bobAsContact, CancellationToken.None));
    }

    [Fact]
    public async Task A_tampered_ciphertext_is_refused_and_leaves_the_session_as_it_was()
    {
        var bobAsContact = await DiscoverBobAsync();
        var setup = await _alice.Core.Sessions.PrepareAsync(bobAsContact, CancellationToken.None);
        await _alice.Store.TransactAsync(tx =>
        {
            _alice.Core.Sessions.Queue(tx, bobAsContact, new Content { Text = new Text { Body = "x" } }, null, setup);
            return true;
        }, CancellationToken.None);
        var envelope = await QueuedEnvelopeAsync();
        var ratchet = envelope.Ratchet.ToByteArray();
        ratchet[^1] ^= 1;
        var tampered = envelope.Clone();
        tampered.Ratchet = ByteString.CopyFrom(ratchet);

        await Assert.ThrowsAsync<EnvelopeRefusedException>(() => _bob.Store.TransactAsync(
            tx => _bob.Core.Sessions.Decrypt(tx, tampered, _alice.Chat.Account.IdentityDhCertificate, _world.Time.GetUtcNow()),
            CancellationToken.None));
        Assert.False(await _bob.Store.ReadAsync(r => r.HasSession(_alice.Chat.Account.Id), CancellationToken.None));
    }

    [Fact]
    public async Task A_control_without_a_session_is_not_queued()
    {
        var bobAsContact = await DiscoverBobAsync();
        var queued = await _alice.Store.TransactAsync(
            tx => _alice.Core.Sessions.QueueControl(tx, bobAsContact, new Content { ContactAccept = new ContactAccept() }),
            CancellationToken.None);
        Assert.False(queued);
        Assert.Equal(0, await _alice.Chat.CountOutboxAsync(CancellationToken.None));
    }

    private Task<ContactRecord> DiscoverBobAsync() => _alice.Core.Contacts.DiscoverAsync(_bob.HandleText, CancellationToken.None);

    private async Task<Envelope> QueuedEnvelopeAsync() =>
        Envelope.Parser.ParseFrom(Assert.Single(await _alice.Store.ReadAsync(r => r.GetOutbox(DateTimeOffset.MaxValue, 10), CancellationToken.None)).Envelope);
}
