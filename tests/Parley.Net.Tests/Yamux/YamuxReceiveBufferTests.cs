using Parley.Net.Yamux;

namespace Parley.Net.Tests.Yamux;

public sealed class YamuxReceiveBufferTests
{
    [Fact]
    public void SmallAppends_AreReadBackInOrderAcrossSegments()
    {
        var buffer = new YamuxReceiveBuffer();
        var expected = Enumerable.Range(0, 10_000).Select(i => (byte)i).ToArray();
        for (var offset = 0; offset < expected.Length; offset += 7)
        {
            buffer.Append(expected.AsSpan(offset, Math.Min(7, expected.Length - offset)));
        }

        Assert.Equal(expected.Length, buffer.Length);
        var actual = new byte[expected.Length];
        var read = 0;
        while (buffer.Length > 0)
        {
            read += buffer.Read(actual.AsSpan(read, Math.Min(1000, actual.Length - read)));
        }

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void ReservedPayloads_AndCopiedData_Interleave()
    {
        var buffer = new YamuxReceiveBuffer();
        buffer.Reserve(5000).Span.Fill(1);
        buffer.Commit(5000);
        buffer.Append([2, 2, 2]);
        buffer.Reserve(6000).Span.Fill(3);
        buffer.Commit(6000);

        var actual = new byte[11_003];
        Assert.Equal(11_003, buffer.Read(actual));

        Assert.Equal([.. Enumerable.Repeat((byte)1, 5000), 2, 2, 2, .. Enumerable.Repeat((byte)3, 6000)], actual);
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void ReservedTail_SurvivesReadsAndClearUntilCommitted()
    {
        var buffer = new YamuxReceiveBuffer();
        buffer.Append([9, 9]);
        var reserved = buffer.Reserve(10_000);

        Assert.Equal(2, buffer.Read(new byte[100]));
        buffer.Clear();
        reserved.Span.Fill(7);
        buffer.Commit(10_000);

        var actual = new byte[10_000];
        Assert.Equal(10_000, buffer.Read(actual));
        Assert.All(actual, b => Assert.Equal(7, b));
    }

    [Fact]
    public void Clear_DropsEverything()
    {
        var buffer = new YamuxReceiveBuffer();
        buffer.Append(new byte[100]);
        buffer.Reserve(9000);
        buffer.Commit(9000);

        buffer.Clear();

        Assert.Equal(0, buffer.Length);
        Assert.Equal(0, buffer.Read(new byte[10]));
    }
}
