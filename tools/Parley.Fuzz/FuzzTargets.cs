using System.Security.Cryptography;
using System.Text.Json;
using Google.Protobuf;
using Parley.Chat.Crypto;
using Parley.Chat.Directory;
using Parley.Chat.Groups;
using Parley.Chat.Identity;
using Parley.Chat.Mailbox;
using Parley.Chat.Protos;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Dht;
using Parley.Net;
using Parley.Net.AutoNat;
using Parley.Net.HolePunch;
using Parley.Net.Host;
using Parley.Net.Multistream;
using Parley.Net.Noise;
using Parley.Net.Protocols;
using Parley.Net.Protos.Circuit;
using Parley.Net.Relay;
using Parley.Net.Yamux;
using Parley.Node.Api;
using Parley.Testing;

namespace Parley.Fuzz;

/// <summary>
/// One entry per decoder that reads bytes from the network or the local API. A target catches exactly the exceptions
/// its decoder documents for bad input; anything else that escapes (or a hang past <see cref="Patience"/>) is a bug.
/// Targets that serve a protocol feed the input to the real handler, registered on an in-memory host, as the bytes
/// one remote peer sent on one stream; the services behind them are made once per process.
/// </summary>
public static class FuzzTargets
{
    /// <summary>A handler must finish once its input ends; one still running after this is a hang.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    // Nothing instrumented may run before SharpFuzz has set up its coverage map, so no static field of this class
    // calls into Parley: the instrumented assemblies are first touched inside a target.
    private static DefaultCryptoProvider Crypto => DefaultCryptoProvider.Instance;
    private static readonly Lazy<Services> Shared = new(Services.Create);
    private static readonly Lazy<Libp2pHost> Host = new(() => new Libp2pHost(Services.Identity, new HostOptions { ListenAddresses = [] }));

    public static IReadOnlyDictionary<string, Func<byte[], Task>> All { get; } = new Dictionary<string, Func<byte[], Task>>
    {
        ["multistream"] = MultistreamAsync,
        ["noise"] = NoiseAsync,
        ["yamux"] = YamuxAsync,
        ["kad"] = input => Shared.Value.ServeAsync(DhtOptions.ParleyProtocolId, input),
        ["identify"] = input => Shared.Value.ServeAsync(IdentifyService.PushProtocolId, input),
        ["mailbox"] = input => Shared.Value.ServeAsync(MailboxOptions.DefaultProtocolId, input),
        ["envelope"] = EnvelopeAsync,
        ["membership"] = MembershipAsync,
        ["api-json"] = ApiJsonAsync,
        ["circuit"] = CircuitAsync,
        ["autonat"] = AutoNatAsync,
        ["dcutr"] = HolePunchAsync,
    };

    /// <summary>
    /// Circuit relay v2 on a host that never listens or dials out. The first byte picks the side: 0, one peer's hop
    /// request to the relay service (a fresh service, so no rate limit carries over from other inputs); 1, a relay's
    /// stop request, after which the same stream carries the relayed connection's Noise handshake; otherwise a relay's
    /// answer to our reservation request, as the client reads it (voucher checked).
    /// </summary>
    private static async Task CircuitAsync(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(Patience);
        var host = Host.Value;
        try
        {
            switch (input[0])
            {
                case 0:
                    using (var service = new RelayService(host))
                    {
                        await service.HandleHopAsync(StreamOf(input[1..], CircuitRelay.HopProtocolId, Services.Remote, Services.RemoteAddress), timeout.Token);
                    }
                    break;
                case 1:
                    await host.Relay.HandleStopAsync(StreamOf(input[1..], CircuitRelay.StopProtocolId, Services.Relay, Services.RelayAddress), timeout.Token);
                    break;
                default:
                    var answer = await CircuitRelay.ReadAsync(new InputStream(input[1..]), HopMessage.Parser, timeout.Token);
                    RelayClient.ReadReservation(Services.Relay, answer, Services.RelayAddress);
                    break;
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NoiseHandshakeException)
        {
        }
    }

    /// <summary>A dial request to the AutoNAT server as it reads it and chooses what to dial back (the dial is not made).</summary>
    private static async Task AutoNatAsync(byte[] input)
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            var bytes = await LengthPrefixed.ReadMessageAsync(new InputStream(input), AutoNatService.MaxMessageSize, timeout.Token);
            if (bytes is not null)
            {
                AutoNatService.DialBackTargets(Net.Protos.AutoNat.Message.Parser.ParseFrom(bytes), Services.Remote, Services.RemoteAddress, 16);
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidProtocolBufferException)
        {
        }
    }

    /// <summary>DCUtR messages (CONNECT, SYNC, …) as either side reads them, each one's addresses filtered to those it would dial.</summary>
    private static async Task HolePunchAsync(byte[] input)
    {
        using var timeout = new CancellationTokenSource(Patience);
        var stream = new InputStream(input);
        try
        {
            while (true)
            {
                HolePunchService.Dialable(await HolePunchService.ReadAsync(stream, timeout.Token));
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or InvalidProtocolBufferException)
        {
            // The stream ends with PeerConnectionException, an IOException.
        }
    }

    private static PeerStream StreamOf(byte[] input, string protocol, PeerId remote, Multiaddr remoteAddress) =>
        new(new InputStream(input), protocol, remote, remoteAddress, _ => Task.CompletedTask, () => { });

    /// <summary>The listener's side of multistream-select: the input is what the dialer sends.</summary>
    private static async Task MultistreamAsync(byte[] input)
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            await MultistreamSelect.HandleAsync(new InputStream(input), ["/noise", "/yamux/1.0.0", "/ipfs/id/1.0.0"], timeout.Token);
        }
        catch (Exception e) when (e is IOException or InvalidDataException)
        {
        }
    }

    /// <summary>
    /// The first byte picks the side: 0, the responder reading the initiator's messages; 1, the initiator reading the
    /// responder's; otherwise the rest is a handshake payload (libp2p's signed identity) as it arrives decrypted.
    /// </summary>
    private static async Task NoiseAsync(byte[] input)
    {
        if (input.Length == 0)
        {
            return;
        }
        using var timeout = new CancellationTokenSource(Patience);
        var rest = input[1..];
        try
        {
            switch (input[0])
            {
                case 0:
                    await (await NoiseSecurity.SecureInboundAsync(new InputStream(rest), Services.Identity, Crypto, null, timeout.Token)).DisposeAsync();
                    break;
                case 1:
                    await (await NoiseSecurity.SecureOutboundAsync(new InputStream(rest), Services.Identity, null, Crypto, null, timeout.Token)).DisposeAsync();
                    break;
                default:
                    NoiseSecurity.VerifyPayload(rest, Services.NoiseStaticKey, null, Crypto);
                    break;
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NoiseHandshakeException)
        {
        }
    }

    /// <summary>A yamux session fed the remote's frames: every stream the remote opens is read to its end.</summary>
    private static async Task YamuxAsync(byte[] input)
    {
        using var timeout = new CancellationTokenSource(Patience);
        await using var session = new YamuxSession(new InputStream(input), isClient: false, new YamuxOptions());
        session.Start();
        var readers = new List<Task>();
        try
        {
            while (true)
            {
                var stream = await session.AcceptStreamAsync(timeout.Token);
                readers.Add(DrainAsync(stream, timeout.Token));
            }
        }
        catch (IOException)
        {
            // The input ended or broke the protocol: the session is closed, which ends every stream.
        }
        await Task.WhenAll(readers);
    }

    private static async Task DrainAsync(YamuxStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, cancellationToken) > 0)
            {
            }
        }
        catch (IOException)
        {
        }
        await stream.DisposeAsync();
    }

    /// <summary>What the chat protocol and mailboxes carry: a ChatRequest whose envelope is checked and decoded as the
    /// receiver does before any session is involved; the same bytes as a sealed box for a fixed recipient.</summary>
    private static Task EnvelopeAsync(byte[] input)
    {
        try
        {
            var envelope = ChatRequest.Parser.ParseFrom(input).Envelope;
            if (envelope is not null)
            {
                DecodeEnvelope(envelope);
            }
        }
        catch (InvalidProtocolBufferException)
        {
        }
        try
        {
            SealedBox.Open(Crypto, Services.SealedBoxRecipient, input);
        }
        catch (SealedBoxException)
        {
        }
        return Task.CompletedTask;
    }

    private static void DecodeEnvelope(Envelope envelope)
    {
        try
        {
            if (envelope.GroupMessage.Length > 0)
            {
                GroupCiphertext.Parse(envelope.GroupMessage.Span);
                return;
            }
            IdentityDhCertificate.Parse(envelope.SenderIdentity.Span);
        }
        catch (Exception e) when (e is FormatException or InvalidSignatureException)
        {
        }
        try
        {
            var message = RatchetMessage.Parse(envelope.Ratchet.Span);
            RatchetHeader.Parse(message.Header);
        }
        catch (Exception e) when (e is FormatException or RatchetException)
        {
        }
    }

    private static Task MembershipAsync(byte[] input)
    {
        try
        {
            MembershipEntry.Parse(input, Crypto);
        }
        catch (MembershipException)
        {
        }
        return Task.CompletedTask;
    }

    private static readonly JsonSerializerOptions ApiJson = new(JsonSerializerDefaults.Web);

    private static readonly Type[] ApiBodies =
        [typeof(SendRequest), typeof(CreateGroupRequest), typeof(JoinGroupRequest), typeof(WhoRequest), typeof(RenameRequest), typeof(HistorySettingRequest), typeof(GroupSendRequest), typeof(ConnectRequest)];

    /// <summary>The first byte picks the body's type; the rest is its JSON, bound as ASP.NET Core binds it (web
    /// defaults), then read by the parsers the endpoints give its strings to.</summary>
    private static Task ApiJsonAsync(byte[] input)
    {
        if (input.Length == 0)
        {
            return Task.CompletedTask;
        }
        object? body;
        try
        {
            body = JsonSerializer.Deserialize(input.AsSpan(1), ApiBodies[input[0] % ApiBodies.Length], ApiJson);
        }
        catch (JsonException)
        {
            return Task.CompletedTask;
        }
        foreach (var text in body switch
        {
            SendRequest send => [send.To, send.Text],
            CreateGroupRequest create => [create.Name],
            JoinGroupRequest join => [join.Room],
            WhoRequest who => [who.Who],
            RenameRequest rename => [rename.Name],
            GroupSendRequest send => [send.Text],
            ConnectRequest connect => [connect.Address],
            _ => Array.Empty<string?>(),
        })
        {
            _ = Handle.TryParse(text, out _);
            _ = PeerId.TryParse(text, out _);
            _ = Multiaddr.TryParse(text, out _);
            try
            {
                GroupInviteLink.Parse(text!);
            }
            catch (Exception e) when (e is FormatException or ArgumentException)
            {
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>The services that serve protocols, on one in-memory host whose handlers are kept to be called directly.</summary>
    private sealed class Services
    {
        public static readonly IdentityKey Identity = IdentityKey.FromSeed(SHA256.HashData("parley-fuzz/identity"u8));
        public static readonly byte[] NoiseStaticKey = Crypto.X25519PublicKey(SHA256.HashData("parley-fuzz/noise-static"u8));
        public static readonly X25519KeyPair SealedBoxRecipient = X25519KeyPair.FromPrivateKey(Crypto, SHA256.HashData("parley-fuzz/sealed-box"u8));

        public static readonly PeerId Remote = IdentityKey.FromSeed(SHA256.HashData("parley-fuzz/remote"u8)).PeerId;

        /// <summary>Where the remote peer's connection comes from (a documentation address, never dialled).</summary>
        public static readonly Multiaddr RemoteAddress = Multiaddr.Parse("/ip4/203.0.113.7/tcp/4001");

        /// <summary>The relay that brings a connection or answers a reservation; its key signs the seeds' vouchers.</summary>
        public static readonly PeerId Relay = IdentityKey.FromSeed(SHA256.HashData("parley-fuzz/relay"u8)).PeerId;

        public static readonly Multiaddr RelayAddress = Multiaddr.Parse("/ip4/203.0.113.9/tcp/4001");

        private readonly HandlerCapture _network;

        private Services(HandlerCapture network) => _network = network;

        public static Services Create()
        {
            var network = new HandlerCapture(new InMemoryNetwork().CreateHost(Identity));
            var validators = ParleyRecords.CreateValidators(TimeProvider.System);
            ChatRecords.Register(validators, TimeProvider.System);
            var dht = new KademliaNode(new NetworkDhtMessenger(network, DhtOptions.ParleyProtocolId), validators);
            dht.Start();
            _ = new IdentifyService(network, Identity, "parley-fuzz", Patience);
            new MailboxService(network, dht, new EphemeralMailboxStore(), TimeProvider.System).Start();
            return new Services(network);
        }

        public async Task ServeAsync(string protocol, byte[] input)
        {
            using var timeout = new CancellationTokenSource(Patience);
            var stream = new PeerStream(new InputStream(input), protocol, Remote, null, _ => Task.CompletedTask, () => { });
            try
            {
                await _network.Handler(protocol)(stream, timeout.Token);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or InvalidProtocolBufferException)
            {
                // What a handler may throw on bad input: the host resets the stream and logs it.
            }
        }
    }
}
