using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Parley.Core.Crypto;
using Parley.Core.Identity;
using Parley.Net.Host;
using Parley.Net.Multistream;
using Parley.Net.Noise;
using Parley.Net.Protocols;
using Parley.Net.Protos.Noise;
using Parley.Net.Yamux;

namespace Parley.Net.Tests.Host;

/// <summary>Hostile and broken peers against a running node: each is refused or closed, and a well-behaved peer is served throughout.</summary>
[Collection(nameof(MeasuresMemoryOrTiming))]
public sealed class BadInputTests : IAsyncLifetime
{
    private const string NeverReadsProtocol = "/parley/test/never-reads/1.0.0";
    private readonly HostFixture _fixture = new();
    private Libp2pHost _server = null!;
    private Libp2pHost _goodClient = null!;

    public async Task InitializeAsync()
    {
        _server = await _fixture.StartAsync(new HostOptions { HandshakeTimeout = TimeSpan.FromSeconds(2) });
        _server.SetStreamHandler(NeverReadsProtocol, (_, ct) => Task.Delay(Timeout.Infinite, ct));
        _goodClient = await _fixture.StartAsync();
    }

    public async Task DisposeAsync() => await _fixture.DisposeAsync();

    [Fact]
    public async Task Random_bytes_instead_of_multistream_are_refused()
    {
        using var socket = await ConnectRawAsync();
        await socket.SendAsync(RandomNumberGenerator.GetBytes(4096));
        await AssertClosedByServerAsync(socket);
        await AssertServerStillServesAsync();
    }

    [Fact]
    public async Task Truncated_noise_handshake_is_dropped()
    {
        using var socket = await ConnectRawAsync();
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await MultistreamSelect.SelectAsync(stream, [NoiseSecurity.ProtocolId], CancellationToken.None);
        await stream.WriteAsync(new byte[] { 0x00, 0x20, 1, 2, 3, 4, 5 });
        socket.Shutdown(SocketShutdown.Send);
        await AssertClosedByServerAsync(socket);
        await AssertServerStillServesAsync();
    }

    [Fact]
    public async Task Stalled_noise_handshake_hits_the_handshake_timeout()
    {
        using var socket = await ConnectRawAsync();
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await MultistreamSelect.SelectAsync(stream, [NoiseSecurity.ProtocolId], CancellationToken.None);
        await stream.WriteAsync(new byte[] { 0x00, 0x20, 1, 2, 3 });
        await AssertClosedByServerAsync(socket);
        await AssertServerStillServesAsync();
    }

    [Fact]
    public async Task Noise_payload_signed_by_the_wrong_key_is_refused()
    {
        using var socket = await ConnectRawAsync();
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await MultistreamSelect.SelectAsync(stream, [NoiseSecurity.ProtocolId], CancellationToken.None);
        var crypto = DefaultCryptoProvider.Instance;
        var (staticPrivate, staticPublic) = crypto.GenerateX25519KeyPair();
        using var handshake = new HandshakeState(crypto, initiator: true, ReadOnlySpan<byte>.Empty, staticPrivate);
        await WriteNoiseFrameAsync(stream, handshake.WriteMessage(ReadOnlySpan<byte>.Empty));
        handshake.ReadMessage(await ReadNoiseFrameAsync(stream));
        var claimed = IdentityKey.Generate();
        var signer = IdentityKey.Generate();
        var payload = new NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(claimed.PublicKey.ToProtobuf()),
            IdentitySig = ByteString.CopyFrom(signer.Sign([.. Encoding.ASCII.GetBytes("noise-libp2p-static-key:"), .. staticPublic])),
        };
        await WriteNoiseFrameAsync(stream, handshake.WriteMessage(payload.ToByteArray()));
        await AssertClosedByServerAsync(socket);
        Assert.DoesNotContain(claimed.PeerId, _server.ConnectedPeers);
        await AssertServerStillServesAsync();
    }

    [Fact]
    public async Task Yamux_frame_claiming_one_gibibyte_closes_the_connection()
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        using var socket = await ConnectRawAsync();
        await using var raw = new NetworkStream(socket, ownsSocket: false);
        var channel = await UpgradeToSecureChannelAsync(raw);
        await MultistreamSelect.SelectAsync(channel.Stream, [YamuxOptions.ProtocolId], CancellationToken.None);
        // version 0, type Data, flags SYN, stream 1, length 1 GiB, then a little data.
        var header = Convert.FromHexString("00000001" + "00000001" + "40000000");
        await channel.Stream.WriteAsync(header);
        await channel.Stream.WriteAsync(new byte[1024]);
        await channel.Stream.FlushAsync();
        await AssertClosedAsync(channel.Stream);
        Assert.True(GC.GetTotalMemory(forceFullCollection: true) - before < 64L * 1024 * 1024, "the claimed size was allocated");
        await AssertServerStillServesAsync();
    }

    [Fact]
    public async Task A_stream_that_never_reads_holds_its_writer_at_the_flow_control_window()
    {
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await _goodClient.ConnectAsync(HostFixture.AddressOf(_server), cts.Token);
        await using var stream = await _goodClient.OpenStreamAsync(_server.LocalPeerId, [NeverReadsProtocol], cts.Token);
        long written = 0;
        var chunk = new byte[16 * 1024];
        using var stopWriting = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
        var writer = Task.Run(async () =>
        {
            while (written < 256L * 1024 * 1024)
            {
                await stream.WriteAsync(chunk, stopWriting.Token);
                Interlocked.Add(ref written, chunk.Length);
            }
        });
        await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(2), cts.Token));
        Assert.False(writer.IsCompleted, "the writer was never held back");
        // The window (256 KiB) plus what the loopback socket buffers hold, nowhere near what was offered.
        Assert.True(Interlocked.Read(ref written) < 32L * 1024 * 1024, $"{written} bytes got through a stream nobody reads");
        // Other streams on the same connection are not blocked by it.
        await PingProtocol.PingAsync(_goodClient, _server.LocalPeerId, cts.Token);
        stream.Reset();
        await stopWriting.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => writer);
    }

    [Fact]
    public async Task A_thousand_idle_connections_do_not_starve_a_good_peer()
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var idle = new List<Socket>();
        try
        {
            // From a second loopback address, so the per-address handshake limit is what protects the good peer.
            var attacker = new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0);
            for (var i = 0; i < 1000; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(attacker);
                idle.Add(socket);
                await socket.ConnectAsync(_server.ListenAddresses[0].TryGetTcpEndPoint(out var endPoint) ? endPoint! : throw new InvalidOperationException());
            }
            await AssertServerStillServesAsync();
            Assert.True(_server.ConnectionCount <= 1, $"{_server.ConnectionCount} connections held");
            Assert.True(GC.GetTotalMemory(forceFullCollection: true) - before < 64L * 1024 * 1024, "memory grew without bound");
        }
        finally
        {
            foreach (var socket in idle)
            {
                socket.Dispose();
            }
        }
        await AssertServerStillServesAsync();
    }

    private async Task<Socket> ConnectRawAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        Assert.True(_server.ListenAddresses[0].TryGetTcpEndPoint(out var endPoint));
        await socket.ConnectAsync(endPoint!);
        return socket;
    }

    private async Task<SecureChannel> UpgradeToSecureChannelAsync(Stream raw)
    {
        await MultistreamSelect.SelectAsync(raw, [NoiseSecurity.ProtocolId], CancellationToken.None);
        return await NoiseSecurity.SecureOutboundAsync(raw, IdentityKey.Generate(), _server.LocalPeerId, DefaultCryptoProvider.Instance, null, CancellationToken.None);
    }

    private async Task AssertServerStillServesAsync()
    {
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        await _goodClient.ConnectAsync(HostFixture.AddressOf(_server), cts.Token);
        await PingProtocol.PingAsync(_goodClient, _server.LocalPeerId, cts.Token);
    }

    private static async Task AssertClosedByServerAsync(Socket socket)
    {
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // Reset by the server: closed as well.
        }
    }

    /// <summary>The server closes: reads end (0 bytes or a reset) within the timeout, after at most some bytes it had queued.</summary>
    private static async Task AssertClosedAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(HostFixture.Timeout);
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
        }
        catch (IOException)
        {
            // Reset by the server: closed as well.
        }
    }

    private static async Task WriteNoiseFrameAsync(Stream stream, byte[] message)
    {
        var frame = new byte[2 + message.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)message.Length);
        message.CopyTo(frame, 2);
        await stream.WriteAsync(frame);
    }

    private static async Task<byte[]> ReadNoiseFrameAsync(Stream stream)
    {
        var length = new byte[2];
        await stream.ReadExactlyAsync(length);
        var message = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
        await stream.ReadExactlyAsync(message);
        return message;
    }
}
