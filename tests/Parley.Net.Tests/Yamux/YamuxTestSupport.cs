using Parley.Net.Yamux;
using Parley.Testing;

namespace Parley.Net.Tests.Yamux;

/// <summary>A started client/server session pair over an in-memory connection.</summary>
internal sealed class YamuxSessionPair : IAsyncDisposable
{
    private YamuxSessionPair(YamuxSession client, YamuxSession server)
    {
        Client = client;
        Server = server;
    }

    public YamuxSession Client { get; }

    public YamuxSession Server { get; }

    public static YamuxSessionPair Start(YamuxOptions? clientOptions = null, YamuxOptions? serverOptions = null)
    {
        var (clientEnd, serverEnd) = InMemoryDuplexStream.CreatePair();
        var pair = new YamuxSessionPair(new YamuxSession(clientEnd, isClient: true, clientOptions), new YamuxSession(serverEnd, isClient: false, serverOptions));
        pair.Client.Start();
        pair.Server.Start();
        return pair;
    }

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>A started session whose remote end is a <see cref="RawYamuxPeer"/>.</summary>
internal sealed class RawPeerFixture : IAsyncDisposable
{
    private RawPeerFixture(YamuxSession session, RawYamuxPeer peer)
    {
        Session = session;
        Peer = peer;
    }

    public YamuxSession Session { get; }

    public RawYamuxPeer Peer { get; }

    public static RawPeerFixture Start(bool sessionIsClient = false, YamuxOptions? options = null)
    {
        var (sessionEnd, peerEnd) = InMemoryDuplexStream.CreatePair();
        var session = new YamuxSession(sessionEnd, sessionIsClient, options);
        session.Start();
        return new RawPeerFixture(session, new RawYamuxPeer(peerEnd));
    }

    public async ValueTask DisposeAsync()
    {
        await Session.DisposeAsync();
        await Peer.DisposeAsync();
    }
}

internal static class YamuxTestExtensions
{
    /// <summary>Guards against hangs only; tests finish far sooner.</summary>
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(10);

    public static Task<T> Within<T>(this Task<T> task) => task.WaitAsync(HangGuard);

    public static Task Within(this Task task) => task.WaitAsync(HangGuard);

    public static Task<T> Within<T>(this ValueTask<T> task) => task.AsTask().WaitAsync(HangGuard);

    public static Task Within(this ValueTask task) => task.AsTask().WaitAsync(HangGuard);

    public static async Task<byte[]> ReadToEndAsync(this Stream stream)
    {
        using var collected = new MemoryStream();
        await stream.CopyToAsync(collected).Within();
        return collected.ToArray();
    }

    public static async Task<byte[]> ReadExactAsync(this Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer).Within();
        return buffer;
    }
}
