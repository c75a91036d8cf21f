using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Host;

namespace Parley.Net.Tests.Host;

/// <summary>Starts hosts on 127.0.0.1 port 0 and disposes them all at the end of a test.</summary>
public sealed class HostFixture : IAsyncDisposable
{
    public const string EchoProtocol = "/parley/echo/1.0.0";

    private readonly List<Libp2pHost> _hosts = [];

    public static TimeSpan Timeout => TimeSpan.FromSeconds(20);

    public async Task<Libp2pHost> StartAsync(HostOptions? options = null, IdentityKey? identity = null)
    {
        options ??= new HostOptions();
        var host = new Libp2pHost(identity ?? IdentityKey.Generate(), new HostOptions
        {
            ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
            AgentVersion = options.AgentVersion,
            MaxConnections = options.MaxConnections,
            MaxPendingHandshakes = options.MaxPendingHandshakes,
            MaxPendingHandshakesPerAddress = options.MaxPendingHandshakesPerAddress,
            HandshakeTimeout = options.HandshakeTimeout,
            DialTimeout = options.DialTimeout,
            StreamNegotiationTimeout = options.StreamNegotiationTimeout,
            IdleTimeout = options.IdleTimeout,
            IdentifyTimeout = options.IdentifyTimeout,
            Yamux = options.Yamux,
            Noise = options.Noise,
        });
        host.SetStreamHandler(EchoProtocol, EchoAsync);
        _hosts.Add(host);
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    public static Multiaddr AddressOf(Libp2pHost host) => host.ListenAddresses[0].WithPeerId(host.LocalPeerId);

    /// <summary>Copies everything read back to the writer until the remote closes its side.</summary>
    public static async Task EchoAsync(PeerStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await stream.ReadAsync(buffer, cancellationToken)) > 0)
        {
            await stream.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }
        await stream.CloseWriteAsync(cancellationToken);
    }

    /// <summary>Writes <paramref name="payload"/> while reading the echo; returns what came back.</summary>
    public static async Task<byte[]> EchoRoundTripAsync(PeerStream stream, byte[] payload, CancellationToken cancellationToken)
    {
        var writer = Task.Run(async () =>
        {
            for (var offset = 0; offset < payload.Length; offset += 16 * 1024)
            {
                await stream.WriteAsync(payload.AsMemory(offset, Math.Min(16 * 1024, payload.Length - offset)), cancellationToken);
            }
            await stream.CloseWriteAsync(cancellationToken);
        }, cancellationToken);
        using var received = new MemoryStream();
        await stream.CopyToAsync(received, cancellationToken);
        await writer;
        return received.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }
    }
}
