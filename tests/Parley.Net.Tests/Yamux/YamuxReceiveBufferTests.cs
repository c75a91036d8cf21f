using System.Buffers;
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
    public void OwnedArrays_AndCopiedData_Interleave()
    {
        var buffer = new YamuxReceiveBuffer();
        var owned = ArrayPool<byte>.Shared.Rent(5000);
        owned.AsSpan(0, 5000).Fill(1);
        buffer.AppendOwned(owned, 5000);
        buffer.Append([2, 2, 2]);
        var second = ArrayPool<byte>.Shared.Rent(6000);
        second.AsSpan(0, 6000).Fill(3);
        buffer.AppendOwned(second, 6000);

        var actual = new byte[11_003];
        Assert.Equal(11_003, buffer.Read(actual));

        Assert.Equal([.. Enumerable.Repeat((byte)1, 5000), 2, 2, 2, .. Enumerable.Repeat((byte)3, 6000)], actual);
        Assert.Equal(0, buffer.Length);
    }

    [Fact]
    public void Clear_DropsEverything()
    {
        var buffer = new YamuxReceiveBuffer();
        buffer.Append(new byte[100]);
        buffer.AppendOwned(ArrayPool<byte>.Shared.Rent(9000), 9000);

        buffer.Clear();

        Assert.Equal(0, buffer.Length);
        Assert.Equal(0, buffer.Read(new byte[10]));
    }
}
