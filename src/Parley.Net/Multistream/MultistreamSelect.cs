using System.Text;
using Parley.Core.Multiformats;

namespace Parley.Net.Multistream;

/// <summary>
/// <c>/multistream/1.0.0</c> protocol negotiation: varint-length-prefixed, newline-terminated protocol ids.
/// Reads exactly one message at a time and never past it, so whatever follows the negotiation
/// (a Noise handshake, application data) stays in the stream for the next layer.
/// </summary>
public static class MultistreamSelect
{
    public const string ProtocolId = "/multistream/1.0.0";
    public const string NotAvailable = "na";
    public const string List = "ls";

    /// <summary>Longest single message we accept; protocol ids are short, this leaves room for <c>ls</c> replies.</summary>
    public const int MaxMessageLength = 64 * 1024;

    /// <summary>How many proposals a responder answers before it gives up on a peer that keeps guessing.</summary>
    public const int MaxProposals = 64;

    private const int MaxProtocolIdLength = 1024;

    /// <summary>
    /// Proposes <paramref name="protocols"/> in order and returns the first the responder accepts.
    /// The header and first proposal go out in one write, as go and js libp2p do.
    /// </summary>
    /// <exception cref="MultistreamException">None accepted, or the responder broke the protocol.</exception>
    public static async Task<string> SelectAsync(Stream stream, IReadOnlyList<string> protocols, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(protocols);
        if (protocols.Count == 0)
        {
            throw new ArgumentException("at least one protocol is needed", nameof(protocols));
        }
        using (var first = new MemoryStream())
        {
            WriteMessage(first, ProtocolId);
            WriteMessage(first, protocols[0]);
            await stream.WriteAsync(first.GetBuffer().AsMemory(0, (int)first.Length), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        var header = await ReadMessageAsync(stream, MaxProtocolIdLength, cancellationToken).ConfigureAwait(false);
        if (header != ProtocolId)
        {
            throw new MultistreamException($"expected {ProtocolId} header, got '{Printable(header)}'");
        }
        for (var i = 0; i < protocols.Count; i++)
        {
            if (i > 0)
            {
                await WriteMessageAsync(stream, protocols[i], cancellationToken).ConfigureAwait(false);
            }
            var answer = await ReadMessageAsync(stream, MaxProtocolIdLength, cancellationToken).ConfigureAwait(false);
            if (answer == protocols[i])
            {
                return protocols[i];
            }
            if (answer != NotAvailable)
            {
                throw new MultistreamException($"unexpected answer '{Printable(answer)}' to proposal {protocols[i]}");
            }
        }
        throw new MultistreamException($"peer supports none of: {string.Join(", ", protocols)}");
    }

    /// <summary>The header and a single proposal, for a dialer that sends them with its first data (<see cref="LazySelectStream"/>).</summary>
    internal static byte[] EncodeProposal(string protocol)
    {
        using var proposal = new MemoryStream();
        WriteMessage(proposal, ProtocolId);
        WriteMessage(proposal, protocol);
        return proposal.ToArray();
    }

    /// <summary>Reads the responder's header and its answer to a single proposal sent ahead (<see cref="EncodeProposal"/>).</summary>
    /// <exception cref="MultistreamException">The responder refused <paramref name="protocol"/> or broke the protocol.</exception>
    internal static async Task ReadAcceptanceAsync(Stream stream, string protocol, CancellationToken cancellationToken)
    {
        var header = await ReadMessageAsync(stream, MaxProtocolIdLength, cancellationToken).ConfigureAwait(false);
        if (header != ProtocolId)
        {
            throw new MultistreamException($"expected {ProtocolId} header, got '{Printable(header)}'");
        }
        var answer = await ReadMessageAsync(stream, MaxProtocolIdLength, cancellationToken).ConfigureAwait(false);
        if (answer != protocol)
        {
            throw new MultistreamException(answer == NotAvailable ? $"peer does not support {protocol}" : $"unexpected answer '{Printable(answer)}' to proposal {protocol}");
        }
    }

    /// <summary>
    /// Answers proposals until one is in <paramref name="supported"/> and returns it; answers <c>ls</c> with the list.
    /// </summary>
    /// <exception cref="MultistreamException">The initiator broke the protocol or proposed too many unsupported ids.</exception>
    public static async Task<string> HandleAsync(Stream stream, IReadOnlyCollection<string> supported, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(supported);
        var header = await ReadMessageAsync(stream, MaxProtocolIdLength, cancellationToken).ConfigureAwait(false);
        if (header != ProtocolId)
        {
            throw new MultistreamException($"expected {ProtocolId} header, got '{Printable(header)}'");
        }
        await WriteMessageAsync(stream, ProtocolId, cancellationToken).ConfigureAwait(false);
        for (var proposals = 0; proposals < MaxProposals; proposals++)
        {
            var proposal = await ReadMessageAsync(stream, MaxProtocolIdLength, cancellationToken).ConfigureAwait(false);
            if (proposal == List)
            {
                await WriteListAsync(stream, supported, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (supported.Contains(proposal))
            {
                await WriteMessageAsync(stream, proposal, cancellationToken).ConfigureAwait(false);
                return proposal;
            }
            await WriteMessageAsync(stream, NotAvailable, cancellationToken).ConfigureAwait(false);
        }
        throw new MultistreamException($"peer made more than {MaxProposals} proposals");
    }

    /// <summary>Asks the responder for its protocol list (<c>ls</c>).</summary>
    public static async Task<IReadOnlyList<string>> ListAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using (var request = new MemoryStream())
        {
            WriteMessage(request, ProtocolId);
            WriteMessage(request, List);
            await stream.WriteAsync(request.GetBuffer().AsMemory(0, (int)request.Length), cancellationToken).ConfigureAwait(false);
        }
        var header = await ReadMessageAsync(stream, MaxProtocolIdLength, cancellationToken).ConfigureAwait(false);
        if (header != ProtocolId)
        {
            throw new MultistreamException($"expected {ProtocolId} header, got '{Printable(header)}'");
        }
        var payload = await ReadFrameAsync(stream, MaxMessageLength, cancellationToken).ConfigureAwait(false);
        var protocols = new List<string>();
        var offset = 0;
        // The list ends with a bare newline after the last entry.
        while (offset < payload.Length && !(offset == payload.Length - 1 && payload[offset] == '\n'))
        {
            var length = (int)Varint.Read(payload.AsSpan(offset), out var lengthSize);
            offset += lengthSize;
            if (length < 1 || offset + length > payload.Length || payload[offset + length - 1] != '\n')
            {
                throw new MultistreamException("malformed ls reply");
            }
            protocols.Add(Encoding.UTF8.GetString(payload, offset, length - 1));
            offset += length;
        }
        return protocols;
    }

    internal static byte[] EncodeMessage(string message)
    {
        using var buffer = new MemoryStream();
        WriteMessage(buffer, message);
        return buffer.ToArray();
    }

    private static void WriteMessage(MemoryStream destination, string message)
    {
        var length = Encoding.UTF8.GetByteCount(message) + 1;
        Span<byte> prefix = stackalloc byte[Varint.MaxLength];
        destination.Write(prefix[..Varint.Write((ulong)length, prefix)]);
        destination.Write(Encoding.UTF8.GetBytes(message));
        destination.WriteByte((byte)'\n');
    }

    private static async Task WriteMessageAsync(Stream stream, string message, CancellationToken cancellationToken)
    {
        await stream.WriteAsync(EncodeMessage(message), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteListAsync(Stream stream, IReadOnlyCollection<string> supported, CancellationToken cancellationToken)
    {
        using var inner = new MemoryStream();
        foreach (var protocol in supported)
        {
            WriteMessage(inner, protocol);
        }
        inner.WriteByte((byte)'\n');
        using var outer = new MemoryStream();
        Span<byte> prefix = stackalloc byte[Varint.MaxLength];
        outer.Write(prefix[..Varint.Write((ulong)inner.Length, prefix)]);
        inner.WriteTo(outer);
        await stream.WriteAsync(outer.GetBuffer().AsMemory(0, (int)outer.Length), cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<string> ReadMessageAsync(Stream stream, int maxLength, CancellationToken cancellationToken)
    {
        var frame = await ReadFrameAsync(stream, maxLength, cancellationToken).ConfigureAwait(false);
        if (frame.Length == 0 || frame[^1] != '\n')
        {
            throw new MultistreamException("multistream message does not end in a newline");
        }
        return Encoding.UTF8.GetString(frame, 0, frame.Length - 1);
    }

    private static async Task<byte[]> ReadFrameAsync(Stream stream, int maxLength, CancellationToken cancellationToken)
    {
        var length = await LengthPrefixed.ReadVarintAsync(stream, cancellationToken).ConfigureAwait(false)
            ?? throw new MultistreamException("stream closed during protocol negotiation");
        if (length > (ulong)maxLength)
        {
            throw new MultistreamException($"multistream message of {length} bytes exceeds the {maxLength}-byte limit");
        }
        var frame = new byte[(int)length];
        await LengthPrefixed.ReadExactlyAsync(stream, frame, cancellationToken).ConfigureAwait(false);
        return frame;
    }

    private static string Printable(string text)
    {
        var shortened = text.Length > 64 ? text[..64] + "…" : text;
        return new string(shortened.Select(c => char.IsControl(c) ? '?' : c).ToArray());
    }
}

/// <summary>Protocol negotiation failed: the peer broke multistream-select or supports none of what was asked.</summary>
public sealed class MultistreamException : IOException
{
    public MultistreamException(string message)
        : base(message)
    {
    }

    public MultistreamException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public MultistreamException()
    {
    }
}
