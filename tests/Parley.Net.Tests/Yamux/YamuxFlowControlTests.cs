using Parley.Net.Yamux;

namespace Parley.Net.Tests.Yamux;

public sealed class YamuxFlowControlTests
{
    private const int Window = YamuxOptions.DefaultStreamWindowSize;

    [Fact]
    public async Task StreamThatNeverReads_BlocksTheWriter_AndBuffersAtMostItsWindow()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync(new byte[Window]).Within();
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();

        var blockedWrite = client.WriteAsync(new byte[64 * 1024]).AsTask();
        // Frames are processed in order, so once the ping is answered the server has seen all data sent before it.
        await pair.Client.PingAsync(default).Within();

        Assert.False(blockedWrite.IsCompleted);
        Assert.Equal(0, client.SendWindow);
        Assert.Equal(Window, server.BufferedByteCount);
        Assert.Equal(Window, server.ReceiveWindow);

        await server.ReadExactAsync(Window / 2);
        await blockedWrite.Within();
        await server.ReadExactAsync(Window / 2 + 64 * 1024);
    }

    [Fact]
    public async Task LargeWrite_IsSplitIntoFramesOfAtMostMaxFrameDataLength_AfterTheSyn()
    {
        await using var fixture = RawPeerFixture.Start(sessionIsClient: true);
        await using var stream = await fixture.Session.OpenStreamAsync(default).Within();
        await stream.WriteAsync(new byte[200_000]).Within();
        await stream.CloseWriteAsync(default).Within();

        var frames = new List<(YamuxFrameHeader Header, byte[] Payload)>();
        await fixture.Peer.ReadUntilAsync(h => h.HasFlag(YamuxFrameFlags.Fin), frames).Within();
        var streamFrames = frames.Where(f => f.Header.StreamId == stream.Id).Select(f => f.Header).ToList();

        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0), streamFrames[0]);
        var dataFrames = streamFrames.Where(h => h.Type == YamuxFrameType.Data).ToList();
        Assert.All(dataFrames, h => Assert.InRange(h.Length, 1u, 64u * 1024));
        Assert.Equal(200_000, dataFrames.Sum(h => h.Length));
        Assert.Equal(4, dataFrames.Count);
    }

    [Fact]
    public async Task LargerInitialWindow_IsAnnouncedWithTheSyn_AndHonoured()
    {
        const int initialWindow = 1024 * 1024;
        await using var fixture = RawPeerFixture.Start(sessionIsClient: true, new YamuxOptions { InitialStreamWindowSize = initialWindow });
        await using var stream = await fixture.Session.OpenStreamAsync(default).Within();

        var syn = await fixture.Peer.ReadUntilAsync(h => h.StreamId == stream.Id).Within();
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, initialWindow - Window), syn);

        for (var i = 0; i < initialWindow / (64 * 1024); i++)
        {
            await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Data, i == 0 ? YamuxFrameFlags.Ack : YamuxFrameFlags.None, 1, 64 * 1024), new byte[64 * 1024]);
        }

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 42));
        await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack) && h.Length == 42).Within();
        Assert.False(fixture.Session.IsClosed);
        Assert.Equal(initialWindow, stream.BufferedByteCount);
    }

    [Fact]
    public async Task Reader_SendsWindowUpdateAfterConsumingHalfTheWindow()
    {
        await using var fixture = RawPeerFixture.Start(sessionIsClient: false);
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.Syn, 1, Window), new byte[Window]);
        await using var stream = await fixture.Session.AcceptStreamAsync(default).Within();

        await stream.ReadExactAsync(Window / 2 - 1);
        // Any update due now would be queued ahead of the reply to this ping.
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 9));
        var early = new List<(YamuxFrameHeader Header, byte[] Payload)>();
        await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack) && h.Length == 9, early).Within();
        Assert.DoesNotContain(early, f => f.Header.Type == YamuxFrameType.WindowUpdate && f.Header.Length > 0);

        await stream.ReadExactAsync(1);

        var update = await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.WindowUpdate && h.Length > 0).Within();
        Assert.Equal(1u, update!.Value.StreamId);
        Assert.True(update.Value.Length >= Window / 2);
    }

    [Fact]
    public async Task CancelledBlockedWrite_KeepsTheStreamUsable()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync(new byte[Window]).Within();
        using var cancellation = new CancellationTokenSource();

        var blocked = client.WriteAsync(new byte[10], cancellation.Token).AsTask();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked).Within();
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();
        await server.ReadExactAsync(Window);
        await client.WriteAsync("ok"u8.ToArray()).Within();
        Assert.Equal("ok"u8.ToArray(), await server.ReadExactAsync(2));
    }
}
