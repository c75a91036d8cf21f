using Parley.Net.Yamux;

namespace Parley.Net.Tests.Yamux;

/// <summary>A hand-driven remote end speaking raw frames, for tests that need exact or hostile frames.</summary>
internal sealed class RawYamuxPeer(Stream transport) : IAsyncDisposable
{
    private readonly byte[] _header = new byte[YamuxFrameHeader.Size];

    public Stream Transport => transport;

    public async Task SendAsync(YamuxFrameHeader header, byte[]? payload = null)
    {
        var bytes = new byte[YamuxFrameHeader.Size + (payload?.Length ?? 0)];
        header.Encode(bytes);
        payload?.CopyTo(bytes, YamuxFrameHeader.Size);
        await transport.WriteAsync(bytes);
    }

    /// <summary>Returns null at EOF.</summary>
    public async Task<(YamuxFrameHeader Header, byte[] Payload)?> ReadFrameAsync()
    {
        try
        {
            await transport.ReadExactlyAsync(_header);
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException)
        {
            return null;
        }

        var header = YamuxFrameHeader.Decode(_header);
        var payload = new byte[header.Type == YamuxFrameType.Data ? header.Length : 0];
        await transport.ReadExactlyAsync(payload);
        return (header, payload);
    }

    /// <summary>Reads frames until one matches (answering pings on the way); null if the connection ends first.</summary>
    public async Task<YamuxFrameHeader?> ReadUntilAsync(Func<YamuxFrameHeader, bool> match, List<(YamuxFrameHeader Header, byte[] Payload)>? seen = null)
    {
        while (await ReadFrameAsync() is { } frame)
        {
            seen?.Add(frame);
            if (match(frame.Header))
            {
                return frame.Header;
            }

            if (frame.Header.Type == YamuxFrameType.Ping && frame.Header.HasFlag(YamuxFrameFlags.Syn))
            {
                await AnswerPingAsync(frame.Header);
            }
        }

        return null;
    }

    /// <summary>Best effort: the session may already have closed the connection.</summary>
    public async Task AnswerPingAsync(YamuxFrameHeader ping)
    {
        try
        {
            await SendAsync(ping with { Flags = YamuxFrameFlags.Ack });
        }
        catch (IOException)
        {
        }
    }

    public ValueTask DisposeAsync() => transport.DisposeAsync();
}
