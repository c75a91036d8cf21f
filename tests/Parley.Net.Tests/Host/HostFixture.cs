using Parley.Core.Identity;
using Parley.Core.Multiformats;
using Parley.Net.Host;
using Parley.Testing;

namespace Parley.Net.Tests.Host;

/// <summary>Starts hosts on 127.0.0.1 port 0 and disposes them all at the end of a test.</summary>
public sealed class HostFixture : IAsyncDisposable
{
    private readonly List<Libp2pHost> _hosts = [];

    public static TimeSpan Timeout => TimeSpan.FromSeconds(20);

    public async Task<Libp2pHost> StartAsync(HostOptions? options = null, IdentityKey? identity = null)
    {
        options ??= new HostOptions();
        var host = new Libp2pHost(identity ?? IdentityKey.Generate(), new HostOptions
        {
            ListenAddresses = [Multiaddr.Parse("/ip4/127.0.0.1/tcp/0")],
            AgentVersion = options.AgentVersion,
            Limits = options.Limits,
            HandshakeTimeout = options.HandshakeTimeout,
            DialTimeout = options.DialTimeout,
            StreamNegotiationTimeout = options.StreamNegotiationTimeout,
            IdleTimeout = options.IdleTimeout,
            IdentifyTimeout = options.IdentifyTimeout,
            Yamux = options.Yamux,
            Noise = options.Noise,
        });
        host.SetStreamHandler(EchoProtocol.Id, EchoProtocol.HandleAsync);
        _hosts.Add(host);
        await host.StartAsync(CancellationToken.None);
        return host;
    }

    public static Multiaddr AddressOf(Libp2pHost host) => host.ListenAddresses[0].WithPeerId(host.LocalPeerId);

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }
    }
}
