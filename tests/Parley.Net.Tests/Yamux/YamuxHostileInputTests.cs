using System.Text;
using Parley.Net.Yamux;
using Parley.Testing;

namespace Parley.Net.Tests.Yamux;

public sealed class YamuxHostileInputTests
{
    private static readonly YamuxFrameHeader ProtocolErrorGoAway = new(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)YamuxGoAwayCode.ProtocolError);

    [Fact]
    public async Task GarbageBytes_CloseTheSessionWithProtocolError()
    {
        await using var fixture = RawPeerFixture.Start();

        await fixture.Peer.Transport.WriteAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n"));

        Assert.Equal(ProtocolErrorGoAway, await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway).Within());
        await fixture.Session.Completion.Within();
        Assert.IsType<YamuxProtocolException>(fixture.Session.CloseReason);
    }

    [Fact]
    public async Task DataForUnknownStream_IsDiscardedAndCounted()
    {
        await using var fixture = RawPeerFixture.Start();

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, 7, 10), new byte[10]);
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.None, 9, 100));
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 5));

        await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack)).Within();
        Assert.Equal(1, fixture.Session.DiscardedFrameCount);
        Assert.False(fixture.Session.IsClosed);
    }

    [Fact]
    public async Task InboundSyn_WithAnIdOfOurParity_IsProtocolError()
    {
        await using var fixture = RawPeerFixture.Start(sessionIsClient: false);

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 2, 0));

        Assert.Equal(ProtocolErrorGoAway, await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway).Within());
        Assert.IsType<YamuxProtocolException>(fixture.Session.CloseReason);
    }

    [Fact]
    public async Task DuplicateSyn_IsProtocolError()
    {
        await using var fixture = RawPeerFixture.Start();

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));

        Assert.Equal(ProtocolErrorGoAway, await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway).Within());
    }

    [Fact]
    public async Task WindowUpdateOverflowingThirtyTwoBits_IsProtocolError()
    {
        await using var fixture = RawPeerFixture.Start();

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, uint.MaxValue));

        Assert.Equal(ProtocolErrorGoAway, await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway).Within());
    }

    [Fact]
    public async Task PingWithoutSynOrAck_IsProtocolError()
    {
        await using var fixture = RawPeerFixture.Start();

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.None, 0, 1));

        Assert.Equal(ProtocolErrorGoAway, await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway).Within());
    }

    [Fact]
    public async Task TruncatedFrame_ClosesTheSession()
    {
        await using var fixture = RawPeerFixture.Start();
        // Answer the session's RTT probe first so no write of the session races the disconnect.
        var probe = await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Ping).Within();
        await fixture.Peer.AnswerPingAsync(probe!.Value);

        await fixture.Peer.Transport.WriteAsync(new byte[] { 0, 0, 0 });
        await fixture.Peer.DisposeAsync();

        await fixture.Session.Completion.Within();
        Assert.IsType<EndOfStreamException>(fixture.Session.CloseReason);
    }

    [Fact]
    public async Task RemoteGoAwayWithError_ClosesTheSession()
    {
        await using var fixture = RawPeerFixture.Start();
        var accept = fixture.Session.AcceptStreamAsync(default);

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFrameFlags.None, 0, (uint)YamuxGoAwayCode.InternalError));

        await fixture.Session.Completion.Within();
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => accept).Within();
        Assert.Contains("InternalError", fixture.Session.CloseReason?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AfterLocalGoAway_NewInboundStreamsAreReset()
    {
        await using var fixture = RawPeerFixture.Start();
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await using var existing = await fixture.Session.AcceptStreamAsync(default).Within();

        await fixture.Session.GoAwayAsync(YamuxGoAwayCode.Normal, default).Within();
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 3, 0));

        var reset = await fixture.Peer.ReadUntilAsync(h => h.HasFlag(YamuxFrameFlags.Rst)).Within();
        Assert.Equal(3u, reset!.Value.StreamId);
        Assert.Equal(1, fixture.Session.ActiveStreamCount);
        Assert.False(fixture.Session.IsClosed);
    }

    [Fact]
    public async Task AcceptedStream_IsAcknowledged()
    {
        await using var fixture = RawPeerFixture.Start();
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));

        await using var stream = await fixture.Session.AcceptStreamAsync(default).Within();

        var ack = await fixture.Peer.ReadUntilAsync(h => h.StreamId == 1).Within();
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Ack, 1, 0), ack);
    }

    [Fact]
    public async Task RemoteFinThenConnectionLoss_LeavesBufferedDataReadable()
    {
        await using var fixture = RawPeerFixture.Start();
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await using var stream = await fixture.Session.AcceptStreamAsync(default).Within();
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.Fin, 1, 3), "abc"u8.ToArray());
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFrameFlags.Syn, 0, 77));
        await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Ping && h.HasFlag(YamuxFrameFlags.Ack) && h.Length == 77).Within();

        await fixture.Peer.DisposeAsync();
        await fixture.Session.Completion.Within();

        Assert.Equal("abc"u8.ToArray(), await stream.ReadToEndAsync());
        await Assert.ThrowsAsync<YamuxSessionClosedException>(() => stream.WriteAsync(new byte[1]).AsTask()).Within();
    }

    [Fact]
    public async Task UnansweredKeepAlive_ClosesTheSession()
    {
        // The raw peer never reads, so no ping is ever answered.
        await using var fixture = RawPeerFixture.Start(options: new YamuxOptions { KeepAliveInterval = TimeSpan.FromMilliseconds(50) });

        await fixture.Session.Completion.Within();

        Assert.IsType<TimeoutException>(fixture.Session.CloseReason);
    }

    [Fact]
    public async Task KeepAlive_RunsOnTheSessionClock()
    {
        // An hour-long interval on a manual clock: the session closes only as that clock passes ping and deadline.
        var clock = new ManualTimeProvider();
        var start = clock.GetUtcNow();
        await using var fixture = RawPeerFixture.Start(options: new YamuxOptions { KeepAliveInterval = TimeSpan.FromHours(1), Time = clock });

        for (var step = 0; step < 1_000 && !fixture.Session.IsClosed; step++)
        {
            clock.Advance(TimeSpan.FromMinutes(10));
            await Task.Delay(5);
        }

        await fixture.Session.Completion.Within();
        Assert.IsType<TimeoutException>(fixture.Session.CloseReason);
        Assert.True(clock.GetUtcNow() - start >= TimeSpan.FromHours(2), $"closed after {clock.GetUtcNow() - start} of session time");
    }

    [Fact]
    public void InvalidOptions_AreRejected()
    {
        var (a, _) = InMemoryDuplexStream.CreatePair();

        Assert.Throws<ArgumentOutOfRangeException>(() => new YamuxSession(a, true, new YamuxOptions { InitialStreamWindowSize = 1024 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new YamuxSession(a, true, new YamuxOptions { MaxStreamWindowSize = 1024 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new YamuxSession(a, true, new YamuxOptions { MaxFrameDataLength = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new YamuxSession(a, true, new YamuxOptions { KeepAliveInterval = TimeSpan.Zero }));
    }
}


/// <summary>Runs alone: allocation measurements and reply deadlines must not compete with busy parallel tests.</summary>
[Collection(nameof(MeasuresMemoryOrTiming))]
public sealed class YamuxIsolatedTests
{
    [Fact]
    public async Task AnsweredKeepAlive_KeepsTheSessionOpen()
    {
        // Generous interval: it is also the reply deadline, and the test host may be busy.
        await using var fixture = RawPeerFixture.Start(options: new YamuxOptions { KeepAliveInterval = TimeSpan.FromMilliseconds(250) });

        // The RTT probe plus two keepalive pings, each answered at once.
        for (var answered = 0; answered < 3; answered++)
        {
            var ping = await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.Ping).Within();
            await fixture.Peer.AnswerPingAsync(ping!.Value);
        }

        Assert.False(fixture.Session.IsClosed);
    }

    [Theory]
    [InlineData(1u)]
    [InlineData(99u)]
    public async Task GibibyteDataFrame_KillsTheSessionWithoutAllocatingIt(uint streamId)
    {
        await using var fixture = RawPeerFixture.Start();
        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFrameFlags.Syn, 1, 0));
        await fixture.Session.AcceptStreamAsync(default).Within();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        await fixture.Peer.SendAsync(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFrameFlags.None, streamId, 1u << 30));

        var goAway = await fixture.Peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway).Within();
        await fixture.Session.Completion.Within();
        Assert.Equal((uint)YamuxGoAwayCode.ProtocolError, goAway!.Value.Length);
        Assert.IsType<YamuxProtocolException>(fixture.Session.CloseReason);
        Assert.InRange(GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore, 0, 16 * 1024 * 1024);
    }
}
