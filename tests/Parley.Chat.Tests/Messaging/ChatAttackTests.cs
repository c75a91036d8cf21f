using Google.Protobuf;
using Parley.Chat.Messaging;
using Parley.Chat.Protos;
using Parley.Net;
using Parley.Testing;

namespace Parley.Chat.Tests.Messaging;

/// <summary>Envelopes altered, replayed or forged on the way: each is refused with a reason, and nothing is stored or shown.</summary>
public sealed class ChatAttackTests : IAsyncLifetime
{
    private ChatTestNetwork _network = null!;
    private ChatUser _alice = null!;
    private ChatUser _bob = null!;
    private InMemoryHost _attacker = null!;

    public async Task InitializeAsync()
    {
        _network = await ChatTestNetwork.StartAsync(12);
        _alice = await _network.AddUserAsync("alice");
        _bob = await _network.AddUserAsync("bob");
        _attacker = _network.Dht.Network.CreateHost();
    }

    public async Task DisposeAsync()
    {
        await _attacker.DisposeAsync();
        await _network.DisposeAsync();
    }

    [Fact]
    public async Task Tampered_ciphertext_is_refused_and_the_real_envelope_still_arrives()
    {
        var envelope = await QueueFromAliceAsync("the real text");
        var tampered = envelope.Clone();
        var ratchet = tampered.Ratchet.ToByteArray();
        ratchet[^1] ^= 1;
        tampered.Ratchet = ByteString.CopyFrom(ratchet);

        var refused = await DeliverAsync(tampered);
        Assert.Equal(ChatResponse.Types.Status.Refused, refused.Status);
        Assert.Contains("decrypt", refused.Reason, StringComparison.Ordinal);
        Assert.Empty(await _bob.Chat.GetUnreadAsync(CancellationToken.None));

        Assert.Equal(ChatResponse.Types.Status.Accepted, (await DeliverAsync(envelope)).Status);
        Assert.Equal("the real text", Assert.Single(await _bob.Chat.GetUnreadAsync(CancellationToken.None)).Text);
    }

    [Fact]
    public async Task A_replayed_envelope_is_a_duplicate_and_a_replay_under_a_new_id_is_refused()
    {
        var envelope = await QueueFromAliceAsync("once");
        Assert.Equal(ChatResponse.Types.Status.Accepted, (await DeliverAsync(envelope)).Status);
        Assert.Equal(ChatResponse.Types.Status.Duplicate, (await DeliverAsync(envelope)).Status);

        var renamed = envelope.Clone();
        renamed.EnvelopeId = ByteString.CopyFrom(Enumerable.Repeat((byte)7, 16).ToArray());
        var replay = await DeliverAsync(renamed);
        Assert.Equal(ChatResponse.Types.Status.Refused, replay.Status);

        Assert.Single(await _bob.Chat.GetUnreadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_forged_sender_identity_is_refused()
    {
        var envelope = await QueueFromAliceAsync("from alice");
        var forged = envelope.Clone();
        var identity = forged.SenderIdentity.ToByteArray();
        identity[^1] ^= 1;
        forged.SenderIdentity = ByteString.CopyFrom(identity);
        var response = await DeliverAsync(forged);
        Assert.Equal(ChatResponse.Types.Status.Refused, response.Status);
        Assert.Contains("identity", response.Reason, StringComparison.Ordinal);
        Assert.Empty(await _bob.Chat.GetContactsAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Garbage_and_oversized_requests_close_the_stream_without_harm()
    {
        await using (var stream = await _attacker.OpenStreamAsync(_bob.Host.LocalPeerId, [ChatOptions.ChatProtocolId], CancellationToken.None))
        {
            await LengthPrefixed.WriteMessageAsync(stream, new byte[] { 0xff, 0xff, 0xff }, CancellationToken.None);
            var answer = ChatResponse.Parser.ParseFrom(await LengthPrefixed.ReadMessageAsync(stream, 4096, CancellationToken.None));
            Assert.Equal(ChatResponse.Types.Status.Refused, answer.Status);
        }
        await using (var stream = await _attacker.OpenStreamAsync(_bob.Host.LocalPeerId, [ChatOptions.ChatProtocolId], CancellationToken.None))
        {
            // A length prefix claiming 100 MB: refused before anything that size is allocated.
            await stream.WriteAsync(new byte[] { 0x80, 0xc2, 0xd7, 0x2f }, CancellationToken.None);
            await stream.FlushAsync(CancellationToken.None);
            byte[]? reply = null;
            try
            {
                reply = await LengthPrefixed.ReadMessageAsync(stream, 4096, CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                // The stream was reset: the expected answer to a request that size.
            }
            Assert.Null(reply);
        }
        // Bob still works for a well-behaved sender.
        var envelope = await QueueFromAliceAsync("still here?");
        Assert.Equal(ChatResponse.Types.Status.Accepted, (await DeliverAsync(envelope)).Status);
    }

    [Theory]
    // The envelope claims 0x7fffffff bytes, alone or holding a field that claims 1.5 GiB: on these Google.Protobuf
    // 3.25's limit overflowed and it threw IndexOutOfRange- or ArgumentOutOfRangeException instead of refusing them.
    [InlineData("0affffffff07")]
    [InlineData("0affffffff07" + "c23e8080808006")]
    public async Task A_request_with_an_impossible_nested_length_is_refused_as_malformed(string hex)
    {
        await using var stream = await _attacker.OpenStreamAsync(_bob.Host.LocalPeerId, [ChatOptions.ChatProtocolId], CancellationToken.None);
        await LengthPrefixed.WriteMessageAsync(stream, Convert.FromHexString(hex), CancellationToken.None);
        var response = ChatResponse.Parser.ParseFrom(await LengthPrefixed.ReadMessageAsync(stream, 4096, CancellationToken.None));

        Assert.Equal(ChatResponse.Types.Status.Refused, response.Status);
        Assert.StartsWith("malformed request", response.Reason, StringComparison.Ordinal);
        var envelope = await QueueFromAliceAsync("still here?");
        Assert.Equal(ChatResponse.Types.Status.Accepted, (await DeliverAsync(envelope)).Status);
    }

    /// <summary>Has alice encrypt a message to bob and takes the envelope out of her outbox before it is sent.</summary>
    private async Task<Envelope> QueueFromAliceAsync(string text)
    {
        var sent = await _alice.Chat.SendAsync(_bob.Chat.Handle.ToString(), text, CancellationToken.None);
        var item = await _alice.Store.TransactAsync(tx =>
        {
            var queued = tx.GetOutbox(DateTimeOffset.MaxValue, 100).Single(i => i.MessageId is not null && i.MessageId.AsSpan().SequenceEqual(sent.Id));
            tx.DeleteOutbox(queued.EnvelopeId);
            return queued;
        }, CancellationToken.None);
        return Envelope.Parser.ParseFrom(item.Envelope);
    }

    private async Task<ChatResponse> DeliverAsync(Envelope envelope)
    {
        await using var stream = await _attacker.OpenStreamAsync(_bob.Host.LocalPeerId, [ChatOptions.ChatProtocolId], CancellationToken.None);
        await LengthPrefixed.WriteMessageAsync(stream, new ChatRequest { Envelope = envelope }.ToByteArray(), CancellationToken.None);
        return ChatResponse.Parser.ParseFrom(await LengthPrefixed.ReadMessageAsync(stream, 4096, CancellationToken.None));
    }
}
