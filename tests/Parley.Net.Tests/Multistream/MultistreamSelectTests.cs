using System.Text;
using Parley.Net.Multistream;
using Parley.Testing;

namespace Parley.Net.Tests.Multistream;

public sealed class MultistreamSelectTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    [Fact]
    public void Messages_are_varint_length_prefixed_and_newline_terminated()
    {
        // From the multistream-select spec: 0x13 = 19 = "/multistream/1.0.0\n".
        Assert.Equal(Convert.FromHexString("132f6d756c746973747265616d2f312e302e300a"), MultistreamSelect.EncodeMessage("/multistream/1.0.0"));
        Assert.Equal(Convert.FromHexString("036e610a"), MultistreamSelect.EncodeMessage("na"));
        Assert.Equal([0x07, .. "/noise\n"u8.ToArray()], MultistreamSelect.EncodeMessage("/noise"));
    }

    [Fact]
    public async Task Initiator_sends_header_and_proposal_then_accepts_the_echo()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var select = MultistreamSelect.SelectAsync(client, ["/yamux/1.0.0"], CancellationToken.None);
        var expected = Concat(MultistreamSelect.EncodeMessage("/multistream/1.0.0"), MultistreamSelect.EncodeMessage("/yamux/1.0.0"));
        var sent = new byte[expected.Length];
        await server.ReadExactlyAsync(sent).AsTask().WaitAsync(Timeout);
        Assert.Equal(expected, sent);
        await server.WriteAsync(expected);
        Assert.Equal("/yamux/1.0.0", await select.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Responder_answers_na_then_accepts_a_supported_protocol()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var handle = MultistreamSelect.HandleAsync(server, ["/b"], CancellationToken.None);
        var chosen = await MultistreamSelect.SelectAsync(client, ["/a", "/b"], CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal("/b", chosen);
        Assert.Equal("/b", await handle.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Responder_byte_exchange_matches_the_spec()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var handle = MultistreamSelect.HandleAsync(server, ["/b"], CancellationToken.None);
        await client.WriteAsync(Concat(MultistreamSelect.EncodeMessage("/multistream/1.0.0"), MultistreamSelect.EncodeMessage("/a")));
        var expected = Concat(MultistreamSelect.EncodeMessage("/multistream/1.0.0"), MultistreamSelect.EncodeMessage("na"));
        var answer = new byte[expected.Length];
        await client.ReadExactlyAsync(answer).AsTask().WaitAsync(Timeout);
        Assert.Equal(expected, answer);
        await client.WriteAsync(MultistreamSelect.EncodeMessage("/b"));
        var accept = new byte[MultistreamSelect.EncodeMessage("/b").Length];
        await client.ReadExactlyAsync(accept).AsTask().WaitAsync(Timeout);
        Assert.Equal(MultistreamSelect.EncodeMessage("/b"), accept);
        Assert.Equal("/b", await handle.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Ls_lists_supported_protocols()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var handle = MultistreamSelect.HandleAsync(server, ["/a", "/b"], CancellationToken.None);
        var listed = await MultistreamSelect.ListAsync(client, CancellationToken.None).WaitAsync(Timeout);
        Assert.Equal(["/a", "/b"], listed);
        await client.WriteAsync(MultistreamSelect.EncodeMessage("/a"));
        Assert.Equal("/a", await handle.WaitAsync(Timeout));
    }

    [Fact]
    public async Task No_common_protocol_fails_with_a_clear_error()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        _ = MultistreamSelect.HandleAsync(server, ["/b"], CancellationToken.None);
        var error = await Assert.ThrowsAsync<MultistreamException>(() => MultistreamSelect.SelectAsync(client, ["/a", "/c"], CancellationToken.None).WaitAsync(Timeout));
        Assert.Contains("none of", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Random_bytes_instead_of_a_header_are_refused()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var handle = MultistreamSelect.HandleAsync(server, ["/b"], CancellationToken.None);
        await client.WriteAsync(Encoding.ASCII.GetBytes("\x05hello GET / HTTP/1.1\r\n"));
        await Assert.ThrowsAsync<MultistreamException>(() => handle.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_length_prefix_over_the_limit_is_refused_without_reading_it()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var handle = MultistreamSelect.HandleAsync(server, ["/b"], CancellationToken.None);
        await client.WriteAsync(new byte[] { 0xff, 0xff, 0xff, 0x7f });
        var error = await Assert.ThrowsAsync<MultistreamException>(() => handle.WaitAsync(Timeout));
        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_peer_that_keeps_guessing_is_cut_off()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var handle = MultistreamSelect.HandleAsync(server, ["/b"], CancellationToken.None);
        var proposals = Enumerable.Range(0, MultistreamSelect.MaxProposals + 1).Select(i => $"/x/{i}").ToList();
        _ = MultistreamSelect.SelectAsync(client, proposals, CancellationToken.None);
        await Assert.ThrowsAsync<MultistreamException>(() => handle.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Stream_closed_mid_negotiation_is_an_error()
    {
        var (client, server) = InMemoryDuplexStream.CreatePair();
        var handle = MultistreamSelect.HandleAsync(server, ["/b"], CancellationToken.None);
        await client.WriteAsync(new byte[] { 0x13, (byte)'/' });
        await client.DisposeAsync();
        await Assert.ThrowsAnyAsync<IOException>(() => handle.WaitAsync(Timeout));
    }

    private static byte[] Concat(byte[] a, byte[] b) => [.. a, .. b];
}
