using System.Text;
using Parley.Net.Yamux;

namespace Parley.Net.Tests.Yamux;

public sealed class YamuxSessionTests
{
    [Fact]
    public async Task StreamsOpenFromBothSides_WithOddClientAndEvenServerIds()
    {
        await using var pair = YamuxSessionPair.Start();

        await using var fromClient = await pair.Client.OpenStreamAsync(default).Within();
        await fromClient.WriteAsync("ping"u8.ToArray());
        await using var acceptedByServer = await pair.Server.AcceptStreamAsync(default).Within();
        await using var fromServer = await pair.Server.OpenStreamAsync(default).Within();
        await fromServer.WriteAsync("pong"u8.ToArray());
        await using var acceptedByClient = await pair.Client.AcceptStreamAsync(default).Within();

        Assert.Equal(1u, fromClient.Id);
        Assert.Equal(1u, acceptedByServer.Id);
        Assert.Equal(2u, fromServer.Id);
        Assert.Equal(2u, acceptedByClient.Id);
        Assert.Equal("ping"u8.ToArray(), await acceptedByServer.ReadExactAsync(4));
        Assert.Equal("pong"u8.ToArray(), await acceptedByClient.ReadExactAsync(4));
        Assert.Equal(2, pair.Client.ActiveStreamCount);
        Assert.Equal(2, pair.Server.ActiveStreamCount);
    }

    [Fact]
    public async Task HundredConcurrentStreams_EachEchoOneMebibyteIntact()
    {
        const int streamCount = 100;
        const int size = 1024 * 1024;
        await using var pair = YamuxSessionPair.Start(serverOptions: new YamuxOptions { MaxInboundStreams = streamCount });
        var echoServer = Task.Run(async () =>
        {
            var echoes = new List<Task>();
            for (var i = 0; i < streamCount; i++)
            {
                var stream = await pair.Server.AcceptStreamAsync(default);
                echoes.Add(Task.Run(async () =>
                {
                    await using (stream)
                    {
                        await stream.CopyToAsync(stream);
                    }
                }));
            }

            await Task.WhenAll(echoes);
        });

        var clients = Enumerable.Range(0, streamCount).Select(seed => Task.Run(async () =>
        {
            var payload = new byte[size];
            new Random(seed).NextBytes(payload);
            await using var stream = await pair.Client.OpenStreamAsync(default);
            var echoed = new byte[size];
            var reading = stream.ReadExactlyAsync(echoed).AsTask();
            for (var offset = 0; offset < size; offset += 100_000)
            {
                await stream.WriteAsync(payload.AsMemory(offset, Math.Min(100_000, size - offset)));
            }

            await stream.CloseWriteAsync(default);
            await reading;
            Assert.Equal(0, await stream.ReadAsync(new byte[1]));
            Assert.True(payload.AsSpan().SequenceEqual(echoed), "echoed bytes differ");
        })).ToList();

        await Task.WhenAll(clients).Within();
        await echoServer.Within();
        await pair.Client.PingAsync(default).Within();
        Assert.Equal(0, pair.Client.ActiveStreamCount);
        Assert.Equal(0, pair.Server.ActiveStreamCount);
    }

    [Fact]
    public async Task HalfClose_ReaderSeesEndOfStreamWhileTheOtherDirectionStaysOpen()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync("request"u8.ToArray());
        await client.CloseWriteAsync(default).Within();
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();

        Assert.Equal("request"u8.ToArray(), await server.ReadToEndAsync());
        Assert.Equal(0, await server.ReadAsync(new byte[1]).Within());
        await Assert.ThrowsAsync<IOException>(() => client.WriteAsync(new byte[1]).AsTask()).Within();

        await server.WriteAsync("response"u8.ToArray());
        await server.CloseWriteAsync(default).Within();
        Assert.Equal("response"u8.ToArray(), await client.ReadToEndAsync());

        Assert.Equal(0, pair.Client.ActiveStreamCount);
        Assert.Equal(0, pair.Server.ActiveStreamCount);
    }

    [Fact]
    public async Task CancelledRead_LeavesTheStreamReadable_AndBufferedDataWinsOverACancelledToken()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync("a"u8.ToArray());
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();
        Assert.Equal("a"u8.ToArray(), await server.ReadExactAsync(1));

        // A read waiting for data is cancelled; the wait it leaves behind must not satisfy the next read.
        using var cancel = new CancellationTokenSource();
        var waiting = server.ReadAsync(new byte[1], cancel.Token).AsTask();
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting).Within();
        var next = server.ReadAsync(new byte[1], CancellationToken.None).AsTask();
        Assert.False(next.IsCompleted);
        await client.WriteAsync("b"u8.ToArray());
        Assert.Equal(1, await next.Within());

        // Data already buffered is returned even to a read whose token is cancelled.
        await client.WriteAsync("c"u8.ToArray());
        while (server.BufferedByteCount == 0)
        {
            await Task.Yield();
        }
        var buffer = new byte[1];
        Assert.Equal(1, await server.ReadAsync(buffer, cancel.Token).Within());
        Assert.Equal((byte)'c', buffer[0]);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => server.ReadAsync(buffer, cancel.Token).AsTask()).Within();
    }

    [Fact]
    public async Task Reset_FailsBothEndsWithIOException()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync("data"u8.ToArray());
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();
        Assert.Equal("data"u8.ToArray(), await server.ReadExactAsync(4));

        client.Reset();

        await Assert.ThrowsAsync<IOException>(() => server.ReadAsync(new byte[1]).AsTask()).Within();
        await Assert.ThrowsAsync<IOException>(() => server.WriteAsync(new byte[1]).AsTask()).Within();
        await Assert.ThrowsAsync<IOException>(() => client.WriteAsync(new byte[1]).AsTask()).Within();
        await Assert.ThrowsAsync<IOException>(() => client.ReadAsync(new byte[1]).AsTask()).Within();
        Assert.Equal(0, pair.Client.ActiveStreamCount);
        Assert.Equal(0, pair.Server.ActiveStreamCount);
    }

    [Fact]
    public async Task Ping_MeasuresRoundTrip()
    {
        await using var pair = YamuxSessionPair.Start();

        var fromClient = await pair.Client.PingAsync(default).Within();
        var fromServer = await pair.Server.PingAsync(default).Within();

        Assert.InRange(fromClient, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(2));
        Assert.InRange(fromServer, TimeSpan.FromTicks(1), TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task GoAway_StopsNewStreams_LetsExistingOnesFinish_ThenEndsBothSessions()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync("before"u8.ToArray());
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();

        await pair.Server.GoAwayAsync(YamuxGoAwayCode.Normal, default).Within();
        // The client answers this ping only after it has processed the GoAway sent before it.
        await pair.Server.PingAsync(default).Within();

        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => pair.Client.OpenStreamAsync(default)).Within();
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => pair.Server.OpenStreamAsync(default)).Within();
        await client.WriteAsync(" after"u8.ToArray());
        await client.CloseWriteAsync(default).Within();
        Assert.Equal("before after"u8.ToArray(), await server.ReadToEndAsync());
        await server.WriteAsync("bye"u8.ToArray());
        await server.CloseWriteAsync(default).Within();
        Assert.Equal("bye"u8.ToArray(), await client.ReadToEndAsync());

        await pair.Server.Completion.Within();
        await pair.Client.Completion.Within();
        Assert.IsType<YamuxSessionClosedException>(pair.Server.CloseReason);
    }

    [Fact]
    public async Task MaxInboundStreams_ExcessStreamIsReset()
    {
        await using var pair = YamuxSessionPair.Start(serverOptions: new YamuxOptions { MaxInboundStreams = 2 });
        await using var first = await pair.Client.OpenStreamAsync(default).Within();
        await using var second = await pair.Client.OpenStreamAsync(default).Within();
        await using var third = await pair.Client.OpenStreamAsync(default).Within();
        await third.WriteAsync("refused"u8.ToArray());

        await Assert.ThrowsAsync<IOException>(() => third.ReadAsync(new byte[1]).AsTask()).Within();
        Assert.Equal(2, pair.Server.ActiveStreamCount);
        Assert.Equal(2, pair.Client.ActiveStreamCount);

        first.Reset();
        await pair.Client.PingAsync(default).Within();
        await using var fourth = await pair.Client.OpenStreamAsync(default).Within();
        await fourth.WriteAsync("accepted"u8.ToArray());
        // Stream 1 was reset before being accepted, so it is skipped.
        await using var accepted = await pair.Server.AcceptStreamAsync(default).Within();
        Assert.Equal(second.Id, accepted.Id);
        await using var acceptedSecond = await pair.Server.AcceptStreamAsync(default).Within();
        Assert.Equal(fourth.Id, acceptedSecond.Id);
        Assert.Equal("accepted"u8.ToArray(), await acceptedSecond.ReadExactAsync(8));
    }

    [Fact]
    public async Task MaxOutboundStreams_OpenBeyondLimitThrows()
    {
        await using var pair = YamuxSessionPair.Start(clientOptions: new YamuxOptions { MaxOutboundStreams = 1 });
        await using var only = await pair.Client.OpenStreamAsync(default).Within();

        await Assert.ThrowsAsync<InvalidOperationException>(() => pair.Client.OpenStreamAsync(default)).Within();
    }

    [Fact]
    public async Task Dispose_FailsPendingReadsAndAccepts_OnBothSides()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync("x"u8.ToArray());
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();
        Assert.Equal("x"u8.ToArray(), await server.ReadExactAsync(1));
        var clientRead = client.ReadAsync(new byte[1]).AsTask();
        var clientAccept = pair.Client.AcceptStreamAsync(default);
        var serverRead = server.ReadAsync(new byte[1]).AsTask();
        var serverAccept = pair.Server.AcceptStreamAsync(default);

        await pair.Client.DisposeAsync().Within();

        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => clientRead).Within();
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => clientAccept).Within();
        await pair.Server.Completion.Within();
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => serverRead).Within();
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => serverAccept).Within();
        Assert.True(pair.Client.IsClosed);
        Assert.True(pair.Client.Completion.IsCompletedSuccessfully);
        Assert.NotNull(pair.Client.CloseReason);
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => pair.Client.OpenStreamAsync(default)).Within();
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => pair.Client.PingAsync(default)).Within();
    }

    [Fact]
    public async Task DisposedStream_SendsFin_AndDiscardsLateDataWithoutBlockingTheRemote()
    {
        await using var pair = YamuxSessionPair.Start();
        var client = await pair.Client.OpenStreamAsync(default).Within();
        await client.WriteAsync("hi"u8.ToArray());
        await using var server = await pair.Server.AcceptStreamAsync(default).Within();

        await client.DisposeAsync();

        Assert.Equal("hi"u8.ToArray(), await server.ReadToEndAsync());
        // Far more than one window: the disposed end must keep returning window for data it drops.
        await server.WriteAsync(new byte[2 * 1024 * 1024]).Within();
        await server.CloseWriteAsync(default).Within();
        await pair.Server.PingAsync(default).Within();
        Assert.Equal(0, pair.Client.ActiveStreamCount);
        Assert.Equal(0, pair.Server.ActiveStreamCount);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.ReadAsync(new byte[1]).AsTask()).Within();
    }

    [Fact]
    public async Task LastActivity_FollowsStreamTraffic_ButNotPings()
    {
        await using var pair = YamuxSessionPair.Start();
        var atStart = pair.Server.LastActivity;
        await using var stream = await pair.Client.OpenStreamAsync(default).Within();
        await stream.WriteAsync("x"u8.ToArray());
        await using var accepted = await pair.Server.AcceptStreamAsync(default).Within();
        await accepted.ReadExactAsync(1);
        // A ping goes out behind any queued control frame (the accept's ACK), so nothing is left pending.
        await pair.Server.PingAsync(default).Within();
        var afterData = pair.Server.LastActivity;

        await pair.Server.PingAsync(default).Within();
        await pair.Client.PingAsync(default).Within();

        Assert.True(afterData > atStart);
        Assert.Equal(afterData, pair.Server.LastActivity);
    }

    [Fact]
    public async Task SynchronousReadAndWrite_AreRefused()
    {
        await using var pair = YamuxSessionPair.Start();
        await using var client = await pair.Client.OpenStreamAsync(default).Within();
        Assert.Throws<NotSupportedException>(() => client.Write(new byte[1], 0, 1));
        Assert.Throws<NotSupportedException>(() => client.Read(new byte[1], 0, 1));
    }
}
