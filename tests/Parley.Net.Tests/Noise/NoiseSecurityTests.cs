using System.Text;
using Google.Protobuf;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Net.Noise;
using Parley.Net.Protos.Noise;
using Parley.Testing;

namespace Parley.Net.Tests.Noise;

public sealed class NoiseSecurityTests
{
    private static readonly ICryptoProvider Crypto = DefaultCryptoProvider.Instance;
    private static readonly NoiseOptions Options = new() { HandshakeTimeout = TimeSpan.FromSeconds(10) };
    private static readonly NoiseOptions ShortTimeout = new() { HandshakeTimeout = TimeSpan.FromMilliseconds(200) };

    private readonly IdentityKey _client = IdentityKey.Generate();
    private readonly IdentityKey _server = IdentityKey.Generate();

    // Payloads the fuzzer found: a nested message length near int.MaxValue, on which Google.Protobuf 3.25 (its limit
    // overflowed) threw IndexOutOfRange-, ArgumentOutOfRange- and OutOfMemoryException instead of
    // InvalidProtocolBufferException. 3.36 refuses them as truncated.
    [Theory]
    [InlineData("22ffffffff67")]
    [InlineData("22ffffffff6722e9ffffff6767")]
    [InlineData("22ffffffff677dff000003e80a0a0ada090a0a0a0a0a0aefff000cffff670a24ffff66")]
    [InlineData("22ffffffff670a0a0a00000a0a0a0a0a0000100a0a0a0a0a0a0a0a67")]
    public void A_payload_with_an_impossible_nested_length_is_refused_as_malformed(string hex)
    {
        var crypto = DefaultCryptoProvider.Instance;
        var (_, noiseStatic) = crypto.GenerateX25519KeyPair();
        var error = Assert.Throws<NoiseHandshakeException>(() => NoiseSecurity.VerifyPayload(Convert.FromHexString(hex), noiseStatic, null, crypto));
        Assert.Contains("malformed", error.Message);
    }

    // Behind the same overflowed limit, Google.Protobuf 3.25 allocated an unknown field's claimed length (here 1.5 GiB)
    // before failing: a 12-byte payload could cost any peer that much memory.
    [Fact]
    public void A_payload_claiming_a_huge_field_is_refused_without_allocating_its_length()
    {
        var crypto = DefaultCryptoProvider.Instance;
        var (_, noiseStatic) = crypto.GenerateX25519KeyPair();
        var payload = Convert.FromHexString("22ffffffff07" + "2a8080808006");

        var before = GC.GetAllocatedBytesForCurrentThread();
        var error = Assert.Throws<NoiseHandshakeException>(() => NoiseSecurity.VerifyPayload(payload, noiseStatic, null, crypto));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Contains("malformed", error.Message);
        Assert.True(allocated < 1024 * 1024, $"parsing a 12-byte payload allocated {allocated} bytes");
    }

    [Fact]
    public async Task Each_side_learns_the_others_peer_id()
    {
        var (client, server) = await ConnectAsync(_server.PeerId);
        await using (client)
        await using (server)
        {
            Assert.Equal(_server.PeerId, client.RemotePeer);
            Assert.Equal(_server.PublicKey, client.RemoteKey);
            Assert.Equal(_client.PeerId, server.RemotePeer);
            Assert.Equal(_client.PublicKey, server.RemoteKey);
            Assert.Empty(client.RemoteStreamMuxers);
            Assert.Empty(server.RemoteStreamMuxers);
        }
    }

    [Fact]
    public async Task Without_an_expected_peer_any_authenticated_peer_is_accepted()
    {
        var (client, server) = await ConnectAsync(expectedServer: null);
        await using (client)
        await using (server)
        {
            Assert.Equal(_server.PeerId, client.RemotePeer);
        }
    }

    [Theory]
    [InlineData(5)]
    [InlineData(NoiseStream.MaxFramePlaintext)]
    [InlineData(NoiseStream.MaxFrameLength)]
    [InlineData(NoiseStream.MaxFrameLength + 1)]
    [InlineData(1 << 20)]
    public async Task Data_flows_both_ways_at_the_same_time(int size)
    {
        var (client, server) = await ConnectAsync(_server.PeerId);
        await using (client)
        await using (server)
        {
            var toServer = RandomBytes(size);
            var toClient = RandomBytes(size);
            var received = await Task.WhenAll(
                SendAsync(client.Stream, toServer),
                SendAsync(server.Stream, toClient),
                ReceiveAsync(server.Stream, size),
                ReceiveAsync(client.Stream, size));
            Assert.Equal(toServer, received[2]);
            Assert.Equal(toClient, received[3]);
        }
    }

    [Fact]
    public async Task Closing_one_side_reads_as_end_of_stream_on_the_other()
    {
        var (client, server) = await ConnectAsync(_server.PeerId);
        await using (server)
        {
            await client.Stream.WriteAsync("bye"u8.ToArray());
            await client.DisposeAsync();
            Assert.Equal("bye"u8.ToArray(), await ReceiveAsync(server.Stream, 3));
            Assert.Equal(0, await server.Stream.ReadAsync(new byte[10]));
        }
    }

    [Fact]
    public async Task A_peer_with_another_identity_than_expected_is_rejected()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = serverEnd;
        var impostor = IdentityKey.Generate().PeerId;
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, Options, CancellationToken.None);

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() =>
            NoiseSecurity.SecureOutboundAsync(clientEnd, _client, impostor, Crypto, Options, CancellationToken.None));
        Assert.Contains(impostor.ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains(_server.PeerId.ToString(), error.Message, StringComparison.Ordinal);

        clientEnd.Dispose();
        await Assert.ThrowsAsync<NoiseHandshakeException>(() => serverTask);
    }

    public static TheoryData<string, string> ForgedPayloads() => new()
    {
        { "signed by another key", "signature" },
        { "signature over another static key", "signature" },
        { "no signature", "signature" },
        { "secp256k1 identity key", "identity key" },
        { "garbage identity key", "identity key" },
        { "not a protobuf", "malformed" },
    };

    [Theory]
    [MemberData(nameof(ForgedPayloads))]
    public async Task A_responder_payload_that_does_not_prove_its_identity_is_rejected(string forgery, string reason)
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = serverEnd;
        var clientTask = NoiseSecurity.SecureOutboundAsync(clientEnd, _client, expectedRemote: null, Crypto, Options, CancellationToken.None);

        using var responder = NoiseTestPeers.NewHandshake(initiator: false);
        responder.ReadMessage(await NoiseTestPeers.ReadFrameAsync(serverEnd));
        await NoiseTestPeers.WriteFrameAsync(serverEnd, responder.WriteMessage(ForgedPayload(forgery, responder.LocalStaticPublicKey.ToArray())));

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => clientTask);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        clientEnd.Dispose();
    }

    [Fact]
    public async Task An_initiator_payload_signed_by_another_key_is_rejected()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = clientEnd;
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, Options, CancellationToken.None);

        using var initiator = NoiseTestPeers.NewHandshake(initiator: true);
        await NoiseTestPeers.WriteFrameAsync(clientEnd, initiator.WriteMessage([]));
        initiator.ReadMessage(await NoiseTestPeers.ReadFrameAsync(clientEnd));
        await NoiseTestPeers.WriteFrameAsync(clientEnd, initiator.WriteMessage(ForgedPayload("signed by another key", initiator.LocalStaticPublicKey.ToArray())));

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => serverTask);
        Assert.Contains("signature", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Our_payload_is_the_spec_protobuf_with_a_valid_signature_and_no_extensions()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = serverEnd;
        var clientTask = NoiseSecurity.SecureOutboundAsync(clientEnd, _client, expectedRemote: null, Crypto, Options, CancellationToken.None);

        using var responder = NoiseTestPeers.NewHandshake(initiator: false);
        var first = await NoiseTestPeers.ReadFrameAsync(serverEnd);
        Assert.Equal(32, first.Length);
        Assert.Empty(responder.ReadMessage(first));
        await NoiseTestPeers.WriteFrameAsync(serverEnd, responder.WriteMessage(SignedPayload(_server, responder.LocalStaticPublicKey.ToArray())));
        var encoded = responder.ReadMessage(await NoiseTestPeers.ReadFrameAsync(serverEnd));

        // Field 1 (identity_key, 36 bytes) then field 2 (identity_sig, 64 bytes), nothing else.
        Assert.Equal(2 + 36 + 2 + 64, encoded.Length);
        Assert.Equal(new byte[] { 0x0a, 36 }, encoded[..2]);
        Assert.Equal(_client.PublicKey.ToProtobuf(), encoded[2..38]);
        Assert.Equal(new byte[] { 0x12, 64 }, encoded[38..40]);
        Assert.True(_client.PublicKey.Verify(StaticKeyMessage(responder.RemoteStaticPublicKey.ToArray()), encoded.AsSpan(40)));
        await using var channel = await clientTask;
    }

    [Fact]
    public async Task Advertised_stream_muxers_are_exposed_and_other_extensions_ignored()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = serverEnd;
        var clientTask = NoiseSecurity.SecureOutboundAsync(clientEnd, _client, _server.PeerId, Crypto, Options, CancellationToken.None);

        using var responder = NoiseTestPeers.NewHandshake(initiator: false);
        responder.ReadMessage(await NoiseTestPeers.ReadFrameAsync(serverEnd));
        var payload = NoiseHandshakePayload.Parser.ParseFrom(SignedPayload(_server, responder.LocalStaticPublicKey.ToArray()));
        payload.Extensions = new NoiseExtensions
        {
            StreamMuxers = { "/yamux/1.0.0", "/mplex/6.7.0" },
            WebtransportCerthashes = { ByteString.CopyFrom(RandomBytes(34)) },
        };
        await NoiseTestPeers.WriteFrameAsync(serverEnd, responder.WriteMessage(payload.ToByteArray()));

        await using var channel = await clientTask;
        Assert.Equal(["/yamux/1.0.0", "/mplex/6.7.0"], channel.RemoteStreamMuxers);
    }

    [Fact]
    public async Task The_responder_does_not_swallow_transport_data_sent_along_with_message_three()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = clientEnd;
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, Options, CancellationToken.None);

        using var initiator = NoiseTestPeers.NewHandshake(initiator: true);
        await NoiseTestPeers.WriteFrameAsync(clientEnd, initiator.WriteMessage([]));
        initiator.ReadMessage(await NoiseTestPeers.ReadFrameAsync(clientEnd));
        var third = NoiseTestPeers.Frame(initiator.WriteMessage(SignedPayload(_client, initiator.LocalStaticPublicKey.ToArray())));
        var (send, receive) = initiator.Split();
        using (send)
        using (receive)
        {
            var ciphertext = new byte[send.CiphertextLength(5)];
            send.EncryptWithAd([], "early"u8, ciphertext);
            await clientEnd.WriteAsync(third.Concat(NoiseTestPeers.Frame(ciphertext)).ToArray());
        }

        await using var server = await serverTask;
        Assert.Equal(_client.PeerId, server.RemotePeer);
        Assert.Equal("early"u8.ToArray(), await ReceiveAsync(server.Stream, 5));
    }

    public static TheoryData<string, byte[]> GarbageFirstMessages() => new()
    {
        { "random bytes", Enumerable.Range(0, 100).Select(i => (byte)(i * 37)).ToArray() },
        { "length larger than what follows", [0xff, 0xff, 1, 2, 3] },
        { "empty message", [0x00, 0x00] },
        { "payload after the ephemeral key", NoiseTestPeers.Frame(new byte[40]) },
        { "low-order ephemeral key", NoiseTestPeers.Frame(new byte[32]) },
        { "one byte", [0x42] },
    };

    [Theory]
    [MemberData(nameof(GarbageFirstMessages))]
    public async Task Garbage_as_the_first_message_fails_the_handshake(string description, byte[] garbage)
    {
        Assert.NotEmpty(description);
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, Options, CancellationToken.None);
        await clientEnd.WriteAsync(garbage);
        clientEnd.CompleteWrites();

        await Assert.ThrowsAsync<NoiseHandshakeException>(() => serverTask);
        clientEnd.Dispose();
    }

    [Fact]
    public async Task Garbage_as_the_third_message_fails_authentication()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = clientEnd;
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, Options, CancellationToken.None);
        using var initiator = NoiseTestPeers.NewHandshake(initiator: true);
        await NoiseTestPeers.WriteFrameAsync(clientEnd, initiator.WriteMessage([]));
        await NoiseTestPeers.ReadFrameAsync(clientEnd);
        await NoiseTestPeers.WriteFrameAsync(clientEnd, RandomBytes(200));

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => serverTask);
        Assert.Contains("authentication", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_responder_that_sends_half_of_message_two_and_closes_is_rejected()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        var clientTask = NoiseSecurity.SecureOutboundAsync(clientEnd, _client, _server.PeerId, Crypto, Options, CancellationToken.None);
        using var responder = NoiseTestPeers.NewHandshake(initiator: false);
        responder.ReadMessage(await NoiseTestPeers.ReadFrameAsync(serverEnd));
        var second = NoiseTestPeers.Frame(responder.WriteMessage(SignedPayload(_server, responder.LocalStaticPublicKey.ToArray())));
        await serverEnd.WriteAsync(second.AsMemory(0, second.Length / 2));
        serverEnd.Dispose();

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => clientTask);
        Assert.IsType<EndOfStreamException>(error.InnerException);
        clientEnd.Dispose();
    }

    [Fact]
    public async Task An_initiator_that_sends_half_a_message_and_stalls_hits_the_timeout()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = clientEnd;
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, ShortTimeout, CancellationToken.None);
        await clientEnd.WriteAsync(NoiseTestPeers.Frame(new byte[32]).AsMemory(0, 10));

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() => serverTask);
        Assert.Equal("handshake timed out", error.Message);
    }

    [Fact]
    public async Task A_responder_that_never_answers_hits_the_timeout()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = serverEnd;

        var error = await Assert.ThrowsAsync<NoiseHandshakeException>(() =>
            NoiseSecurity.SecureOutboundAsync(clientEnd, _client, _server.PeerId, Crypto, ShortTimeout, CancellationToken.None));
        Assert.Equal("handshake timed out", error.Message);
    }

    [Fact]
    public async Task Cancellation_by_the_caller_is_reported_as_cancellation()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        using var _ = serverEnd;
        using var cancellation = new CancellationTokenSource();
        var clientTask = NoiseSecurity.SecureOutboundAsync(clientEnd, _client, _server.PeerId, Crypto, Options, cancellation.Token);
        await NoiseTestPeers.ReadFrameAsync(serverEnd);
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => clientTask);
    }

    [Fact]
    public async Task A_forged_transport_frame_fails_authentication()
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, Options, CancellationToken.None);
        await using var client = await NoiseSecurity.SecureOutboundAsync(clientEnd, _client, _server.PeerId, Crypto, Options, CancellationToken.None);
        await using var server = await serverTask;

        await client.Stream.WriteAsync("genuine"u8.ToArray());
        await clientEnd.WriteAsync(NoiseTestPeers.Frame(RandomBytes(40)));

        Assert.Equal("genuine"u8.ToArray(), await ReceiveAsync(server.Stream, 7));
        var error = await Assert.ThrowsAsync<IOException>(() => server.Stream.ReadAsync(new byte[100]).AsTask());
        Assert.Equal("noise frame failed authentication", error.Message);
    }

    [Fact]
    public async Task Invalid_arguments_are_rejected_before_any_io()
    {
        using var stream = new MemoryStream();
        await Assert.ThrowsAsync<ArgumentNullException>(() => NoiseSecurity.SecureInboundAsync(null!, _server, Crypto, null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentNullException>(() => NoiseSecurity.SecureOutboundAsync(stream, null!, null, Crypto, null, CancellationToken.None));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            NoiseSecurity.SecureInboundAsync(stream, _server, Crypto, new NoiseOptions { HandshakeTimeout = TimeSpan.Zero }, CancellationToken.None));
        Assert.Equal(0, stream.Length);
    }

    private async Task<(SecureChannel Client, SecureChannel Server)> ConnectAsync(PeerId? expectedServer)
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        var serverTask = NoiseSecurity.SecureInboundAsync(serverEnd, _server, Crypto, Options, CancellationToken.None);
        var client = await NoiseSecurity.SecureOutboundAsync(clientEnd, _client, expectedServer, Crypto, Options, CancellationToken.None);
        return (client, await serverTask);
    }

    private byte[] ForgedPayload(string forgery, byte[] staticKey)
    {
        var other = IdentityKey.Generate();
        var payload = forgery switch
        {
            "signed by another key" => Payload(_server.PublicKey.ToProtobuf(), other.Sign(StaticKeyMessage(staticKey))),
            "signature over another static key" => Payload(_server.PublicKey.ToProtobuf(), _server.Sign(StaticKeyMessage(RandomBytes(32)))),
            "no signature" => Payload(_server.PublicKey.ToProtobuf(), []),
            "secp256k1 identity key" => Payload([0x08, 0x02, 0x12, 33, .. RandomBytes(33)], _server.Sign(StaticKeyMessage(staticKey))),
            "garbage identity key" => Payload(RandomBytes(36), _server.Sign(StaticKeyMessage(staticKey))),
            "not a protobuf" => null,
            _ => throw new ArgumentOutOfRangeException(nameof(forgery)),
        };
        return payload?.ToByteArray() ?? [0xff, 0xff, 0xff, 0xff, 0x0f];
    }

    private static byte[] SignedPayload(IdentityKey identity, byte[] staticKey) =>
        Payload(identity.PublicKey.ToProtobuf(), identity.Sign(StaticKeyMessage(staticKey))).ToByteArray();

    private static NoiseHandshakePayload Payload(byte[] identityKey, byte[] signature) => new()
    {
        IdentityKey = ByteString.CopyFrom(identityKey),
        IdentitySig = ByteString.CopyFrom(signature),
    };

    private static byte[] StaticKeyMessage(byte[] staticKey) => [.. Encoding.UTF8.GetBytes("noise-libp2p-static-key:"), .. staticKey];

    private static async Task<byte[]> SendAsync(Stream stream, byte[] data)
    {
        await stream.WriteAsync(data);
        await stream.FlushAsync();
        return data;
    }

    private static async Task<byte[]> ReceiveAsync(Stream stream, int size)
    {
        var buffer = new byte[size];
        await stream.ReadExactlyAsync(buffer);
        return buffer;
    }

    private static byte[] RandomBytes(int length)
    {
        var bytes = new byte[length];
        Random.Shared.NextBytes(bytes);
        return bytes;
    }
}
